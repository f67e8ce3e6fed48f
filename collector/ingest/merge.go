package ingest

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

// In InfluxDB a point is identified by its series (measurement and tags)
// and its time, and every field is stored on its own: the lines
//
//	system,host=a load1=0.5,n_cpus=4i 1700000000000000000
//	system,host=a uptime=1234i 1700000000000000000
//
// are one point with three fields, not one point replacing the other.
// Telegraf's system input sends exactly that (load and users, uptime and
// uptime_format as three metrics with one timestamp), and a store that
// keeps one row per series and time would keep only the last of them.
// mergeSameSeries therefore folds the rows of one request that share
// device, measurement, tags and time into the first of them; where two
// rows set the same field, the later line wins, as a later write does in
// InfluxDB.

// mergeSameSeries returns points with the rows of one series and time
// merged, in their original order (compacted in place). Requests without
// such rows, nearly all, cost one hash per row and allocate nothing.
func mergeSameSeries(points []store.Point) []store.Point {
	if len(points) < 2 {
		return points
	}
	m := seriesMergers.Get().(*seriesMerger)
	defer seriesMergers.Put(m)
	return m.merge(points)
}

var seriesMergers = sync.Pool{New: func() any { return newSeriesMerger() }}

// seriesMerger is pooled so that its map keeps its buckets between
// requests.
type seriesMerger struct {
	seen map[uint64]int32 // hash → index in the kept points
	seed maphash.Seed
	buf  []byte // the key being hashed
}

func newSeriesMerger() *seriesMerger {
	return &seriesMerger{seen: make(map[uint64]int32), seed: maphash.MakeSeed(), buf: make([]byte, 0, 256)}
}

func (m *seriesMerger) hash(p *store.Point) uint64 {
	b := binary.LittleEndian.AppendUint64(m.buf[:0], uint64(p.Row.Time))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.DeviceID))
	b = append(b, p.Row.Measurement...)
	for _, t := range p.Row.Tags {
		b = append(b, 0)
		b = append(b, t.Key...)
		b = append(b, '=')
		b = append(b, t.Value...)
	}
	m.buf = b
	return maphash.Bytes(m.seed, b)
}

// maxKeptSeen bounds the map a pooled merger keeps: clearing costs its
// capacity, which one huge request should not leave to every later one.
const maxKeptSeen = 1 << 16

func (m *seriesMerger) merge(points []store.Point) []store.Point {
	defer func() {
		if len(m.seen) > maxKeptSeen {
			m.seen = make(map[uint64]int32)
		} else {
			clear(m.seen)
		}
	}()
	kept := points[:0]
	for i := range points {
		p := points[i]
		h := m.hash(&p)
		if j, ok := m.seen[h]; ok {
			if samePoint(&kept[j], &p) {
				kept[j].Row.Fields = mergeFields(kept[j].Row.Fields, p.Row.Fields)
				continue
			}
			// A hash collision (practically never): look the slow way.
			if j := findPoint(kept, &p); j >= 0 {
				kept[j].Row.Fields = mergeFields(kept[j].Row.Fields, p.Row.Fields)
				continue
			}
		} else {
			m.seen[h] = int32(len(kept))
		}
		kept = append(kept, p)
	}
	return kept
}

func findPoint(kept []store.Point, p *store.Point) int {
	for j := range kept {
		if samePoint(&kept[j], p) {
			return j
		}
	}
	return -1
}

// samePoint reports whether a and b are the same series at the same time.
// Tags are sorted by key (the parser sorts them; stamp re-sorts).
func samePoint(a, b *store.Point) bool {
	ra, rb := a.Row, b.Row
	if ra.Time != rb.Time || a.DeviceID != b.DeviceID || len(ra.Tags) != len(rb.Tags) || !bytes.Equal(ra.Measurement, rb.Measurement) {
		return false
	}
	for i := range ra.Tags {
		if !bytes.Equal(ra.Tags[i].Key, rb.Tags[i].Key) || !bytes.Equal(ra.Tags[i].Value, rb.Tags[i].Value) {
			return false
		}
	}
	return true
}

// mergeFields returns a new slice with a's fields, then b's, a field of
// b replacing one of a with the same key in place. It never appends to
// a: a row's fields share the parser's backing array with the next row.
func mergeFields(a, b []metric.RawField) []metric.RawField {
	out := make([]metric.RawField, len(a), len(a)+len(b))
	copy(out, a)
next:
	for _, f := range b {
		for k := range out {
			if bytes.Equal(out[k].Key, f.Key) {
				out[k] = f
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}
