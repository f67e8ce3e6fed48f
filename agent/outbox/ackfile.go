package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The ack file holds the committed read position ("head": the sequence
// number of the oldest record not yet acknowledged or dropped). It has two
// slots in different 512-byte sectors, written alternately, each with a
// generation counter and a CRC. A torn write can damage only the slot being
// written; the other still holds the previous head, which at worst replays
// one batch that the collector then overwrites (same series and timestamp).
const (
	ackSlotLen    = 20 // generation u64 | head u64 | crc32c u32
	ackSlotStride = 512
	ackFileName   = "ack"
)

type ackFile struct {
	f   *os.File
	gen uint64
}

// openAckFile opens or creates the ack file and returns the stored head;
// ok is false if no valid slot exists (new or destroyed file).
func openAckFile(path string) (a *ackFile, head uint64, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, false, fmt.Errorf("open outbox ack file: %w", err)
	}
	a = &ackFile{f: f}
	var buf [ackSlotStride + ackSlotLen]byte
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, 0, false, fmt.Errorf("read outbox ack file %s: %w", path, err)
	}
	for slot := 0; slot < 2; slot++ {
		off := slot * ackSlotStride
		if n < off+ackSlotLen {
			continue
		}
		b := buf[off : off+ackSlotLen]
		if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
			continue
		}
		gen := binary.LittleEndian.Uint64(b)
		if gen == 0 {
			continue // generation 0 is never written
		}
		if !ok || gen > a.gen {
			a.gen = gen
			head = binary.LittleEndian.Uint64(b[8:])
			ok = true
		}
	}
	return a, head, ok, nil
}

// store persists head in the slot not holding the newest value.
func (a *ackFile) store(head uint64, sync bool) error {
	a.gen++
	var b [ackSlotLen]byte
	binary.LittleEndian.PutUint64(b[0:], a.gen)
	binary.LittleEndian.PutUint64(b[8:], head)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	if _, err := a.f.WriteAt(b[:], int64(a.gen%2)*ackSlotStride); err != nil {
		return fmt.Errorf("write outbox ack file: %w", err)
	}
	if sync {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("sync outbox ack file: %w", err)
		}
	}
	return nil
}

func (a *ackFile) close() error { return a.f.Close() }
