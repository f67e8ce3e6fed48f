// Package outbox is the agent's on-disk queue of points waiting for the
// collector. Every point is appended (and, by default, fsynced) before it is
// sent, and removed only after the collector acknowledged it. The outbox
// survives kill -9 and power loss: a torn tail is detected by its checksum
// when the outbox is opened, truncated with a log line, and the rest kept.
// It is bounded by size and age; the oldest records are dropped first and
// every drop is counted and reported, never silent.
//
// Storage is a directory of segment files of CRC-32C framed records plus a
// small "ack" file holding the committed read position; see README.md for the
// format and why it is not a general-purpose WAL library.
package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// SyncPolicy says when appended data and the read position reach the disk.
type SyncPolicy int

const (
	// SyncEveryAppend fsyncs before Append and Ack return (the default):
	// nothing Append returned for is lost on power failure.
	SyncEveryAppend SyncPolicy = iota
	// SyncInterval fsyncs in the background every Options.SyncEvery: after
	// a power failure up to that much data may be lost (and is counted as a
	// torn tail when the outbox is opened again). kill -9 loses nothing.
	SyncInterval
	// SyncNever leaves flushing to the operating system (tests, benchmarks).
	SyncNever
)

// ParseSyncPolicy reads a policy name as used in the agent configuration.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch strings.ToLower(s) {
	case "", "append", "always", "batch":
		return SyncEveryAppend, nil
	case "interval":
		return SyncInterval, nil
	case "never", "none", "off":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("unknown outbox sync policy %q: use append (default), interval or never", s)
}

func (p SyncPolicy) String() string {
	switch p {
	case SyncEveryAppend:
		return "append"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return "syncpolicy(" + strconv.Itoa(int(p)) + ")"
}

// Defaults of Options.
const (
	DefaultMaxBytes        = 512 << 20
	DefaultMaxAge          = 7 * 24 * time.Hour
	DefaultSegmentBytes    = 16 << 20
	DefaultMaxRecordPoints = 1000
	DefaultSyncEvery       = time.Second
)

// Drop reasons, as reported in DropEvent.Reason and Stats.Dropped.
const (
	ReasonSize    = "size"    // the outbox reached MaxBytes
	ReasonAge     = "age"     // older than MaxAge
	ReasonCorrupt = "corrupt" // checksum failure or torn tail (points estimated from the lines found)
	ReasonInvalid = "invalid" // a point line protocol cannot carry (no measurement or no field)
)

var reasons = [...]string{ReasonSize, ReasonAge, ReasonCorrupt, ReasonInvalid}

func reasonIndex(r string) int {
	for i, x := range reasons {
		if x == r {
			return i
		}
	}
	panic("outbox: unknown drop reason " + r)
}

// Options configure an Outbox. The zero value means the defaults.
type Options struct {
	MaxBytes        int64         // bound on the segment files' total size; default 512 MiB
	MaxAge          time.Duration // records older than this are dropped; default 7 days; <0 disables
	SegmentBytes    int64         // segment file size before a new one starts; default 16 MiB, at most MaxBytes/4
	MaxRecordPoints int           // Append splits larger batches into records of this many points; default 1000
	Sync            SyncPolicy    // default SyncEveryAppend
	SyncEvery       time.Duration // for SyncInterval; default 1 s

	Logger *slog.Logger // default slog.Default()
	// OnDrop is called, without locks held, for every drop. It may call
	// Append (for example to queue a schulmon_outbox_drop point).
	OnDrop func(DropEvent)
	// DropPoints makes the outbox append a schulmon_outbox_drop point
	// (DropEvent.Point, with DropTags) for every drop, so that drops reach
	// the collector even if they happen before the agent is running.
	DropPoints bool
	DropTags   map[string]string
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

func (o *Options) fill() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	// Size drops remove whole segments; keep them small against the bound
	// so that a drop loses a small share of the outbox.
	if o.SegmentBytes > o.MaxBytes/4 {
		o.SegmentBytes = o.MaxBytes / 4
	}
	if o.SegmentBytes < 4096 {
		o.SegmentBytes = 4096
	}
	if o.MaxRecordPoints <= 0 {
		o.MaxRecordPoints = DefaultMaxRecordPoints
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// DropEvent reports points the outbox removed without an acknowledgement.
type DropEvent struct {
	Reason  string    // ReasonSize, ReasonAge, ReasonCorrupt or ReasonInvalid
	Points  int       // points dropped (estimated for ReasonCorrupt)
	Records int       // records dropped (0 for ReasonInvalid: nothing was written)
	Oldest  time.Time // append time of the oldest dropped record, when known
}

// DropMeasurement is the measurement of the points DropEvent.Point builds.
const DropMeasurement = "schulmon_outbox_drop"

// Point turns the event into a point the agent sends like any other, so
// that drops show up at the collector: measurement schulmon_outbox_drop,
// fields dropped_points, dropped_records, reason and, when known, oldest_age_s.
func (e DropEvent) Point(tags map[string]string, now time.Time) metric.Point {
	fields := map[string]metric.Value{
		"dropped_points":  metric.Int(int64(e.Points)),
		"dropped_records": metric.Int(int64(e.Records)),
		"reason":          metric.String(e.Reason),
	}
	if !e.Oldest.IsZero() {
		fields["oldest_age_s"] = metric.Float(now.Sub(e.Oldest).Seconds())
	}
	return metric.NewPoint(DropMeasurement, tags, fields, now)
}

// Stats is a snapshot of the outbox's state and counters.
type Stats struct {
	PendingPoints  int64             // appended, not yet acknowledged or dropped
	PendingRecords int64             //
	Bytes          int64             // size of the segment files
	Segments       int               //
	AppendedPoints uint64            // since Open
	AckedPoints    uint64            // since Open
	DroppedPoints  uint64            // since Open, all reasons
	Dropped        map[string]uint64 // since Open, points by reason
}

type segment struct {
	path   string
	f      *os.File
	first  uint64 // seq of its first record (also its file name)
	next   uint64 // seq after its last record
	size   int64  // bytes, including the magic
	points int64  // points in all its records
}

// Outbox is an on-disk queue of encoded points. It is safe for concurrent
// use; one sender should Peek and Ack.
type Outbox struct {
	dir string
	opt Options
	log *slog.Logger

	mu   sync.Mutex
	segs []*segment
	ack  *ackFile
	// The head is the oldest record neither acknowledged nor dropped; it
	// lives in segs[headSeg] at headOff, after headBefore points of that
	// segment. head == nextSeq means the outbox is empty.
	head       uint64
	headSeg    int
	headOff    int64
	headBefore int64
	nextSeq    uint64
	pending    int64 // points
	total      int64 // bytes of all segments
	dirty      bool  // unsynced writes (SyncInterval)
	buf        []byte
	events     []DropEvent // collected under mu, fired after unlock
	parser     metric.Parser
	lineExt    [][2]int
	closed     bool

	appended, acked atomic.Uint64
	dropped         [len(reasons)]atomic.Uint64

	stop chan struct{}
	done chan struct{}
}

// segName is the file name of the segment whose first record is seq.
func segName(seq uint64) string { return fmt.Sprintf("%020d.seg", seq) }

// Open opens (creating if needed) the outbox in dir, repairing a torn tail.
func Open(dir string, opt Options) (*Outbox, error) {
	opt.fill()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create outbox directory: %w", err)
	}
	o := &Outbox{dir: dir, opt: opt, log: opt.Logger.With("outbox", dir)}
	if err := o.load(); err != nil {
		o.closeFiles()
		return nil, err
	}
	if opt.Sync == SyncInterval {
		o.stop, o.done = make(chan struct{}), make(chan struct{})
		go o.syncLoop()
	}
	o.fire()
	return o, nil
}

func (o *Outbox) load() error {
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("list outbox directory: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".seg") || len(name) != 24 {
			continue
		}
		first, err := strconv.ParseUint(name[:20], 10, 64)
		if err != nil {
			continue
		}
		o.segs = append(o.segs, &segment{path: filepath.Join(o.dir, name), first: first, next: first})
	}
	sort.Slice(o.segs, func(i, j int) bool { return o.segs[i].first < o.segs[j].first })

	// Scan every segment, verifying checksums, so that corruption anywhere is
	// found now (and counted) rather than when the sender reaches it.
	kept := o.segs[:0]
	for i, s := range o.segs {
		last := i == len(o.segs)-1
		nextFirst := uint64(math.MaxUint64)
		if !last {
			nextFirst = o.segs[i+1].first
		}
		if err := o.scanSegment(s, last, nextFirst); err != nil {
			return err
		}
		if s.next == s.first && !last {
			// Empty and not the newest: nothing to keep.
			s.f.Close()
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("remove empty outbox segment: %w", err)
			}
			continue
		}
		kept = append(kept, s)
		o.total += s.size
	}
	o.segs = kept

	ack, head, ok, err := openAckFile(filepath.Join(o.dir, ackFileName))
	if err != nil {
		return err
	}
	o.ack = ack
	if len(o.segs) > 0 {
		first, next := o.segs[0].first, o.segs[len(o.segs)-1].next
		switch {
		case !ok:
			if next > first {
				o.log.Warn("outbox ack file missing or damaged: replaying every record (the collector overwrites duplicates)",
					"records", next-first)
			}
			head = first
		case head < first:
			head = first
		case head > next:
			// Acknowledged records are gone (torn tail without fsync, or
			// files removed by hand). Continue numbering after them.
			o.log.Warn("outbox read position is past its last record; continuing after it", "head", head, "last", next)
		}
	} else if !ok || head == 0 {
		head = 1
	}
	o.head = head

	last := len(o.segs) - 1
	if last < 0 || o.segs[last].next < head {
		// No segment, or the newest ends before head: numbering continues
		// at head in a new segment.
		if err := o.newSegment(head); err != nil {
			return err
		}
		last = len(o.segs) - 1
	}
	o.nextSeq = o.segs[last].next

	// Position the head cursor and drop fully acknowledged segments.
	o.headSeg = last
	for i, s := range o.segs {
		if head < s.next {
			o.headSeg = i
			break
		}
	}
	s := o.segs[o.headSeg]
	if o.head < s.first {
		o.head = s.first
	}
	o.headOff = int64(len(segmentMagic))
	o.headBefore = 0
	for o.headOff < s.size {
		h, err := o.readHeader(s, o.headOff)
		if err != nil {
			return fmt.Errorf("position outbox read cursor in %s: %w", s.path, err)
		}
		if h.seq >= o.head {
			break
		}
		o.headOff += h.size()
		o.headBefore += int64(h.points)
	}
	for i := o.headSeg; i < len(o.segs); i++ {
		o.pending += o.segs[i].points
	}
	o.pending -= o.headBefore
	if err := o.removeAcked(); err != nil {
		return err
	}
	o.expire()
	return o.enforceSize()
}

// scanSegment opens s, validates its records and truncates it at the first
// invalid one.
func (o *Outbox) scanSegment(s *segment, last bool, nextFirst uint64) error {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open outbox segment: %w", err)
	}
	s.f = f
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read outbox segment %s: %w", s.path, err)
	}
	if len(data) < len(segmentMagic) || !bytes.Equal(data[:len(segmentMagic)], segmentMagic[:]) {
		if len(data) >= len(segmentMagic) && !bytes.HasPrefix(data, segmentMagic[:7]) {
			return fmt.Errorf("outbox segment %s is not a schulmon outbox segment (or a newer format): move it away", s.path)
		}
		// Created but its header never reached the disk: start it afresh.
		o.log.Warn("outbox segment without header: rewriting it empty", "file", s.path, "bytes", len(data))
		o.noteCorrupt(data, 0, time.Time{})
		if err := o.truncate(s, 0); err != nil {
			return err
		}
		if _, err := f.WriteAt(segmentMagic[:], 0); err != nil {
			return fmt.Errorf("write outbox segment header %s: %w", s.path, err)
		}
		s.size = int64(len(segmentMagic))
		return nil
	}
	off := len(segmentMagic)
	seq := s.first
	for off < len(data) {
		rec, n, err := decodeRecord(data[off:])
		if err == nil && rec.Seq != seq {
			err = fmt.Errorf("%w: sequence %d, want %d", errCorrupt, rec.Seq, seq)
		}
		if err == nil && seq >= nextFirst {
			err = fmt.Errorf("%w: sequence %d overlaps the next segment", errCorrupt, rec.Seq)
		}
		if err != nil {
			rest := data[off:]
			what := "outbox torn tail truncated (an interrupted write; the records before it are kept)"
			if !last || !errors.Is(err, errShort) {
				what = "outbox corrupt record: truncating the segment there (the records before it are kept)"
			}
			o.log.Warn(what, "file", s.path, "offset", off, "bytes_dropped", len(rest), "err", err)
			missing := 0
			if !last && nextFirst > seq && nextFirst != math.MaxUint64 {
				missing = int(nextFirst - seq)
			}
			o.noteCorrupt(rest, missing, time.Time{})
			if err := o.truncate(s, int64(off)); err != nil {
				return err
			}
			break
		}
		s.points += int64(rec.Points)
		seq++
		off += n
	}
	s.next = seq
	s.size = int64(off)
	return nil
}

// noteCorrupt counts an unreadable region; its points are estimated (see
// estimatePoints).
func (o *Outbox) noteCorrupt(rest []byte, records int, oldest time.Time) {
	pts := estimatePoints(rest)
	if pts == 0 && records == 0 {
		return
	}
	o.drop(DropEvent{Reason: ReasonCorrupt, Points: pts, Records: records, Oldest: oldest})
}

// estimatePoints estimates the points in a damaged region: record headers
// are followed while they look sane (a flipped payload bit leaves them
// intact), the rest is counted by line breaks.
func estimatePoints(b []byte) int {
	n := 0
	for len(b) >= recordOverhead {
		h, err := parseHeader(b)
		if err != nil || h.size() > int64(len(b)) || int64(h.points) > h.size() {
			break
		}
		n += int(h.points)
		b = b[h.size():]
	}
	return n + bytes.Count(b, []byte{'\n'})
}

func (o *Outbox) truncate(s *segment, size int64) error {
	if err := s.f.Truncate(size); err != nil {
		return fmt.Errorf("truncate outbox segment %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync outbox segment %s: %w", s.path, err)
	}
	return nil
}

// newSegment starts a segment whose first record will be first.
func (o *Outbox) newSegment(first uint64) error {
	if n := len(o.segs); n > 0 && o.opt.Sync != SyncNever {
		// The old active segment must be complete on disk before records
		// after it exist: open() trusts all but the last segment's tail.
		if err := o.segs[n-1].f.Sync(); err != nil {
			return fmt.Errorf("sync outbox segment %s: %w", o.segs[n-1].path, err)
		}
	}
	path := filepath.Join(o.dir, segName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create outbox segment: %w", err)
	}
	if _, err := f.Write(segmentMagic[:]); err != nil {
		f.Close()
		return fmt.Errorf("write outbox segment header %s: %w", path, err)
	}
	if o.opt.Sync != SyncNever {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("sync outbox segment %s: %w", path, err)
		}
		if err := syncDir(o.dir); err != nil {
			f.Close()
			return err
		}
	}
	o.segs = append(o.segs, &segment{path: path, f: f, first: first, next: first, size: int64(len(segmentMagic))})
	o.total += int64(len(segmentMagic))
	return nil
}

func (o *Outbox) readHeader(s *segment, off int64) (recordHeader, error) {
	var b [recordOverhead]byte
	if _, err := s.f.ReadAt(b[:], off); err != nil {
		return recordHeader{}, fmt.Errorf("read outbox record header at %s:%d: %w", s.path, off, err)
	}
	return parseHeader(b[:])
}

// Append writes points to the outbox; with SyncEveryAppend they are on disk
// when it returns. Points without a timestamp get the current time, so that
// a replay later carries the time they were measured. Points line protocol
// cannot carry (no measurement, no finite field) are dropped and counted.
func (o *Outbox) Append(points []metric.Point) error {
	if len(points) == 0 {
		return nil
	}
	o.mu.Lock()
	err := o.append(points)
	o.mu.Unlock()
	o.fire()
	return err
}

func (o *Outbox) append(points []metric.Point) error {
	if o.closed {
		return errors.New("append to outbox: outbox is closed")
	}
	now := o.opt.Now()
	nowNs := now.UnixNano()
	b := o.buf[:0]
	seq := o.nextSeq
	var npts, invalid int
	var start int
	inRec := 0
	for i := range points {
		p := &points[i]
		if !encodable(p) {
			invalid++
			continue
		}
		if inRec == 0 {
			b, start = beginRecord(b)
		}
		if p.Time.IsZero() {
			q := *p
			q.Time = now
			b = metric.AppendLine(b, &q)
		} else {
			b = metric.AppendLine(b, p)
		}
		inRec++
		if inRec == o.opt.MaxRecordPoints {
			finishRecord(b, start, seq, nowNs, uint32(inRec))
			seq++
			npts += inRec
			inRec = 0
		}
	}
	if inRec > 0 {
		finishRecord(b, start, seq, nowNs, uint32(inRec))
		seq++
		npts += inRec
	}
	o.buf = b
	if invalid > 0 {
		o.drop(DropEvent{Reason: ReasonInvalid, Points: invalid})
	}
	return o.write(b, seq, npts)
}

// write appends the framed records in b (sequence numbers o.nextSeq up to
// next-1, npts points in all) to the active segment.
func (o *Outbox) write(b []byte, next uint64, npts int) error {
	if npts == 0 {
		return nil
	}
	s := o.segs[len(o.segs)-1]
	if s.size > int64(len(segmentMagic)) && s.size+int64(len(b)) > o.opt.SegmentBytes {
		if err := o.newSegment(o.nextSeq); err != nil {
			return fmt.Errorf("append to outbox: %w", err)
		}
		s = o.segs[len(o.segs)-1]
	}
	if _, err := s.f.WriteAt(b, s.size); err != nil {
		// Leave no partial record behind (e.g. disk full).
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("append to outbox segment %s: %w", s.path, err)
	}
	switch o.opt.Sync {
	case SyncEveryAppend:
		if err := s.f.Sync(); err != nil {
			// Whether the data reached the disk is unknown: remove it, so
			// that the caller's error means "not stored".
			_ = s.f.Truncate(s.size)
			return fmt.Errorf("sync outbox segment %s: %w", s.path, err)
		}
	case SyncInterval:
		o.dirty = true
	}
	s.size += int64(len(b))
	s.next = next
	s.points += int64(npts)
	o.total += int64(len(b))
	o.nextSeq = next
	o.pending += int64(npts)
	o.appended.Add(uint64(npts))
	if len(b) > 4<<20 && cap(o.buf) > 4<<20 {
		o.buf = nil // do not pin a huge buffer after a huge batch
	}
	o.expire()
	return o.enforceSize()
}

// encodable reports whether AppendLine writes a valid line for p.
func encodable(p *metric.Point) bool {
	if p.Measurement == "" {
		return false
	}
	for _, f := range p.Fields {
		if f.Key == "" {
			continue
		}
		if f.Value.Kind() == metric.KindFloat {
			x := f.Value.FloatValue()
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
		}
		if f.Value.Kind() != 0 {
			return true
		}
	}
	return false
}

// Peek returns the oldest records not yet acknowledged, in order, up to
// maxPoints points in total but at least one record if any is pending. It
// does not remove them: call Ack after the collector accepted them.
func (o *Outbox) Peek(maxPoints int) ([]Record, error) {
	o.mu.Lock()
	recs, err := o.peek(maxPoints)
	o.mu.Unlock()
	o.fire()
	return recs, err
}

func (o *Outbox) peek(maxPoints int) ([]Record, error) {
	if o.closed {
		return nil, errors.New("read outbox: outbox is closed")
	}
	o.expire()
	var recs []Record
	pts := 0
	si, off := o.headSeg, o.headOff
	for {
		s := o.segs[si]
		if off >= s.size {
			if si == len(o.segs)-1 {
				return recs, nil
			}
			si++
			off = int64(len(segmentMagic))
			continue
		}
		h, err := o.readHeader(s, off)
		var rec Record
		if err == nil {
			if len(recs) > 0 && pts+int(h.points) > maxPoints {
				return recs, nil
			}
			buf := make([]byte, h.size())
			if _, err = s.f.ReadAt(buf, off); err == nil {
				rec, _, err = decodeRecord(buf)
			} else {
				err = fmt.Errorf("read outbox record at %s:%d: %w", s.path, off, err)
			}
		}
		if err != nil {
			if len(recs) > 0 {
				return recs, nil // deliver what is good; the next Peek meets the damage at the head
			}
			if si != o.headSeg || off != o.headOff {
				return nil, fmt.Errorf("outbox cursor out of step at %s:%d: %w", s.path, off, err)
			}
			if err := o.dropCorruptHead(err); err != nil {
				return nil, err
			}
			si, off = o.headSeg, o.headOff
			continue
		}
		recs = append(recs, rec)
		pts += rec.Points
		off += h.size()
	}
}

// dropCorruptHead skips the rest of the head segment after a read error
// there (damage after Open, e.g. a failing disk) and counts what is lost.
func (o *Outbox) dropCorruptHead(cause error) error {
	s := o.segs[o.headSeg]
	o.log.Error("outbox record unreadable: dropping the rest of its segment", "file", s.path, "offset", o.headOff, "err", cause)
	lost := s.points - o.headBefore
	o.drop(DropEvent{Reason: ReasonCorrupt, Points: int(lost), Records: int(s.next - o.head)})
	o.pending -= lost
	o.head = s.next
	o.headOff = s.size
	o.headBefore = s.points
	if o.headSeg == len(o.segs)-1 {
		// Never append after damage: start a fresh segment.
		if err := o.newSegment(o.nextSeq); err != nil {
			return err
		}
	}
	o.normalizeHead()
	if err := o.storeHead(); err != nil {
		return err
	}
	return o.removeAcked()
}

// Ack removes every record up to and including seq: the collector has
// accepted them. Acknowledging records already gone is a no-op.
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("acknowledge outbox records: outbox is closed")
	}
	if seq < o.head {
		return nil
	}
	limit := seq + 1
	if limit > o.nextSeq {
		limit = o.nextSeq
	}
	pts, _, _, err := o.advance(limit, nil)
	if err != nil {
		return fmt.Errorf("acknowledge outbox records: %w", err)
	}
	o.acked.Add(uint64(pts))
	if err := o.storeHead(); err != nil {
		return err
	}
	// Everything sent and the active segment sizeable: start a new one so
	// that the old one can go.
	if o.head == o.nextSeq {
		s := o.segs[len(o.segs)-1]
		if s.size >= o.opt.SegmentBytes/4 {
			if err := o.newSegment(o.nextSeq); err != nil {
				return err
			}
			o.normalizeHead()
		}
	}
	return o.removeAcked()
}

// advance moves the head over records with seq < limit for which ok
// returns true (all if ok is nil) and returns what it passed.
func (o *Outbox) advance(limit uint64, ok func(recordHeader) bool) (points, records int, oldest time.Time, err error) {
	for o.head < limit {
		o.normalizeHead()
		s := o.segs[o.headSeg]
		if o.headOff >= s.size {
			break
		}
		h, err := o.readHeader(s, o.headOff)
		if err != nil {
			return points, records, oldest, err
		}
		if h.seq >= limit || (ok != nil && !ok(h)) {
			break
		}
		if records == 0 {
			oldest = time.Unix(0, h.appended)
		}
		o.head = h.seq + 1
		o.headOff += h.size()
		o.headBefore += int64(h.points)
		o.pending -= int64(h.points)
		points += int(h.points)
		records++
	}
	o.normalizeHead()
	return points, records, oldest, nil
}

// normalizeHead moves the head cursor off the end of a segment that is not
// the newest.
func (o *Outbox) normalizeHead() {
	for o.headSeg < len(o.segs)-1 && o.headOff >= o.segs[o.headSeg].size {
		o.headSeg++
		s := o.segs[o.headSeg]
		o.headOff = int64(len(segmentMagic))
		o.headBefore = 0
		if o.head < s.first {
			o.head = s.first
		}
	}
}

func (o *Outbox) storeHead() error {
	return o.ack.store(o.head, o.opt.Sync == SyncEveryAppend)
}

// removeAcked deletes the segments before the head's segment. The head was
// stored first, so a crash in between only leaves files Open removes.
func (o *Outbox) removeAcked() error {
	n := o.headSeg
	for i := 0; i < n; i++ {
		s := o.segs[i]
		s.f.Close()
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			o.segs = o.segs[i:]
			o.headSeg -= i
			return fmt.Errorf("remove acknowledged outbox segment: %w", err)
		}
		o.total -= s.size
	}
	o.segs = o.segs[n:]
	o.headSeg = 0
	return nil
}

// expire drops records older than MaxAge from the head.
func (o *Outbox) expire() {
	if o.opt.MaxAge < 0 || o.head == o.nextSeq {
		return
	}
	cutoff := o.opt.Now().Add(-o.opt.MaxAge).UnixNano()
	pts, recs, oldest, err := o.advance(o.nextSeq, func(h recordHeader) bool { return h.appended < cutoff })
	if recs > 0 {
		o.drop(DropEvent{Reason: ReasonAge, Points: pts, Records: recs, Oldest: oldest})
		o.log.Warn("outbox records older than the age limit dropped", "points", pts, "records", recs, "max_age", o.opt.MaxAge)
		if err := o.storeHead(); err != nil {
			o.log.Error("store outbox read position", "err", err)
		}
		if err := o.removeAcked(); err != nil {
			o.log.Error("remove expired outbox segments", "err", err)
		}
	}
	if err != nil {
		// The head record is unreadable; Peek will drop it as corrupt.
		o.log.Debug("outbox age check stopped at an unreadable record", "err", err)
	}
}

// enforceSize removes the oldest segments while the outbox is over MaxBytes.
func (o *Outbox) enforceSize() error {
	changed := false
	for o.total > o.opt.MaxBytes && len(o.segs) > 1 {
		s := o.segs[0]
		if o.headSeg == 0 {
			lost := s.points - o.headBefore
			var oldest time.Time
			if o.headOff < s.size {
				if h, err := o.readHeader(s, o.headOff); err == nil {
					oldest = time.Unix(0, h.appended)
				}
			}
			if lost > 0 {
				o.drop(DropEvent{Reason: ReasonSize, Points: int(lost), Records: int(s.next - o.head), Oldest: oldest})
				o.log.Warn("outbox full: oldest records dropped", "points", lost, "records", s.next-o.head, "max_bytes", o.opt.MaxBytes)
			}
			o.pending -= lost
			o.head = s.next
			o.headOff = s.size
			o.headBefore = s.points
			o.normalizeHead()
			changed = true
		}
		if changed {
			// The new head must be durable before the file disappears.
			if err := o.storeHead(); err != nil {
				return err
			}
			changed = false
		}
		if err := o.removeAcked(); err != nil {
			return err
		}
	}
	return nil
}

// drop counts an event and queues it for OnDrop.
func (o *Outbox) drop(e DropEvent) {
	o.dropped[reasonIndex(e.Reason)].Add(uint64(e.Points))
	o.events = append(o.events, e)
}

// fire delivers queued drop events outside the lock.
func (o *Outbox) fire() {
	o.mu.Lock()
	ev := o.events
	o.events = nil
	o.mu.Unlock()
	if len(ev) == 0 {
		return
	}
	if o.opt.OnDrop != nil {
		for _, e := range ev {
			o.opt.OnDrop(e)
		}
	}
	if o.opt.DropPoints {
		now := o.opt.Now()
		pts := make([]metric.Point, len(ev))
		for i, e := range ev {
			pts[i] = e.Point(o.opt.DropTags, now)
		}
		// Recursion ends: a size drop frees a whole segment, far more than
		// these few points take.
		if err := o.Append(pts); err != nil {
			o.log.Error("record outbox drop events", "err", err)
		}
	}
}

// Stats returns the current state and counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	st := Stats{
		PendingPoints:  o.pending,
		PendingRecords: int64(o.nextSeq - o.head),
		Bytes:          o.total,
		Segments:       len(o.segs),
	}
	o.mu.Unlock()
	st.AppendedPoints = o.appended.Load()
	st.AckedPoints = o.acked.Load()
	st.Dropped = make(map[string]uint64, len(reasons))
	for i, r := range reasons {
		n := o.dropped[i].Load()
		st.Dropped[r] = n
		st.DroppedPoints += n
	}
	return st
}

// DroppedPoints returns the points dropped for reason since Open (all
// reasons if reason is "").
func (o *Outbox) DroppedPoints(reason string) uint64 {
	if reason != "" {
		return o.dropped[reasonIndex(reason)].Load()
	}
	var n uint64
	for i := range reasons {
		n += o.dropped[i].Load()
	}
	return n
}

func (o *Outbox) syncLoop() {
	defer close(o.done)
	t := time.NewTicker(o.opt.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.mu.Lock()
			if err := o.syncLocked(); err != nil {
				o.log.Error("sync outbox", "err", err)
			}
			o.mu.Unlock()
		}
	}
}

func (o *Outbox) syncLocked() error {
	if !o.dirty || o.closed {
		return nil
	}
	s := o.segs[len(o.segs)-1]
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync outbox segment %s: %w", s.path, err)
	}
	if err := o.ack.f.Sync(); err != nil {
		return fmt.Errorf("sync outbox ack file: %w", err)
	}
	o.dirty = false
	return nil
}

// Close flushes and closes the outbox.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	var err error
	if o.opt.Sync != SyncNever {
		o.dirty = true
		err = o.syncLocked()
	}
	o.closed = true
	o.mu.Unlock()
	if o.stop != nil {
		close(o.stop)
		<-o.done
	}
	if cerr := o.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (o *Outbox) closeFiles() error {
	var err error
	for _, s := range o.segs {
		if s.f != nil {
			if cerr := s.f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close outbox segment: %w", cerr)
			}
		}
	}
	if o.ack != nil {
		if cerr := o.ack.close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be fsynced there; file data is
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open outbox directory for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync outbox directory: %w", err)
	}
	return nil
}
