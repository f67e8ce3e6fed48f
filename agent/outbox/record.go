package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// On-disk layout of one record (all integers little endian):
//
//	offset size
//	0      4    body length n (bytes after this 8-byte frame header)
//	4      4    CRC-32C over the 4 length bytes and the n body bytes
//	8      8    sequence number
//	16     8    append time, Unix nanoseconds
//	24     4    number of points in the payload
//	28     n-20 payload: InfluxDB line protocol, one '\n'-terminated line per point
//
// The length is covered by the checksum so that a torn or zeroed length field
// cannot make the reader skip a valid-looking amount of garbage.
const (
	frameHeaderLen = 8
	bodyHeaderLen  = 20
	recordOverhead = frameHeaderLen + bodyHeaderLen
	// maxBodyLen bounds what a length field may claim; anything larger is
	// corruption, not data (records are split at MaxRecordPoints long before).
	maxBodyLen = 64 << 20
)

// segmentMagic starts every segment file; the last byte is the format version.
var segmentMagic = [8]byte{'S', 'M', 'O', 'U', 'T', 'B', 'X', 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errShort means the buffer ends inside a record: at the tail of the last
// segment this is a torn write.
var errShort = errors.New("record truncated")

// errCorrupt means the bytes are not a valid record.
var errCorrupt = errors.New("record corrupt")

// Record is one appended batch of points as stored in the outbox.
type Record struct {
	Seq      uint64    // position in the outbox; Ack takes it
	Appended time.Time // when Append wrote it (drives the age limit)
	Points   int       // number of lines in Data
	Data     []byte    // line protocol, one '\n'-terminated line per point
}

// recordHeader is the fixed part of a record, enough to walk a segment
// without reading payloads.
type recordHeader struct {
	bodyLen  uint32
	crc      uint32
	seq      uint64
	appended int64
	points   uint32
}

func (h recordHeader) size() int64 { return frameHeaderLen + int64(h.bodyLen) }

// beginRecord reserves the record header at the end of dst; the caller
// appends the payload and then calls finishRecord with the returned start.
func beginRecord(dst []byte) (out []byte, start int) {
	start = len(dst)
	var zero [recordOverhead]byte
	return append(dst, zero[:]...), start
}

// finishRecord fills in the header of the record that begins at start and
// runs to the end of b.
func finishRecord(b []byte, start int, seq uint64, appended int64, points uint32) {
	r := b[start:]
	binary.LittleEndian.PutUint32(r[0:], uint32(len(r)-frameHeaderLen))
	binary.LittleEndian.PutUint64(r[8:], seq)
	binary.LittleEndian.PutUint64(r[16:], uint64(appended))
	binary.LittleEndian.PutUint32(r[24:], points)
	crc := crc32.Update(0, castagnoli, r[0:4])
	crc = crc32.Update(crc, castagnoli, r[frameHeaderLen:])
	binary.LittleEndian.PutUint32(r[4:], crc)
}

// appendRecord appends a complete framed record to dst.
func appendRecord(dst []byte, seq uint64, appended int64, points uint32, payload []byte) []byte {
	dst, start := beginRecord(dst)
	dst = append(dst, payload...)
	finishRecord(dst, start, seq, appended, points)
	return dst
}

// parseHeader reads the fixed part of a record from b (at least
// recordOverhead bytes) without checking the CRC.
func parseHeader(b []byte) (recordHeader, error) {
	if len(b) < recordOverhead {
		return recordHeader{}, errShort
	}
	h := recordHeader{
		bodyLen:  binary.LittleEndian.Uint32(b[0:]),
		crc:      binary.LittleEndian.Uint32(b[4:]),
		seq:      binary.LittleEndian.Uint64(b[8:]),
		appended: int64(binary.LittleEndian.Uint64(b[16:])),
		points:   binary.LittleEndian.Uint32(b[24:]),
	}
	if h.bodyLen < bodyHeaderLen || h.bodyLen > maxBodyLen {
		return h, fmt.Errorf("%w: body length %d out of range", errCorrupt, h.bodyLen)
	}
	return h, nil
}

// decodeRecord decodes the record at the start of b and returns it with the
// number of bytes it occupies. Data aliases b. It returns errShort if b ends
// inside the record and an error wrapping errCorrupt if the bytes are not a
// valid record.
func decodeRecord(b []byte) (Record, int, error) {
	if len(b) < frameHeaderLen {
		return Record{}, 0, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n < bodyHeaderLen || n > maxBodyLen {
		return Record{}, 0, fmt.Errorf("%w: body length %d out of range", errCorrupt, n)
	}
	total := frameHeaderLen + int(n)
	if len(b) < total {
		return Record{}, 0, errShort
	}
	crc := crc32.Update(0, castagnoli, b[0:4])
	crc = crc32.Update(crc, castagnoli, b[frameHeaderLen:total])
	if want := binary.LittleEndian.Uint32(b[4:]); crc != want {
		return Record{}, 0, fmt.Errorf("%w: checksum %08x, want %08x", errCorrupt, crc, want)
	}
	h, _ := parseHeader(b)
	data := b[recordOverhead:total]
	// The point count must match the payload, or a bug wrote it.
	// Quoted string fields may contain newlines, so lines >= points.
	lines := bytes.Count(data, []byte{'\n'})
	if uint32(lines) < h.points || (h.points == 0 && len(data) > 0) {
		return Record{}, 0, fmt.Errorf("%w: header says %d points, payload has %d lines", errCorrupt, h.points, lines)
	}
	return Record{
		Seq:      h.seq,
		Appended: time.Unix(0, h.appended),
		Points:   int(h.points),
		Data:     data,
	}, total, nil
}
