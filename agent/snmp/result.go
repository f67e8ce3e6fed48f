package snmp

import (
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/schulmon/schulmon/metric"
)

// pollResult holds everything one poll fetched.
type pollResult struct {
	scalars map[string]gosnmp.SnmpPDU   // by OID without leading dot
	cols    map[string][]gosnmp.SnmpPDU // by column OID without leading dot
}

func (r *pollResult) scalar(oid string) (gosnmp.SnmpPDU, bool) {
	v, ok := r.scalars[oid]
	return v, ok
}

// row is one table row: the values of the requested columns at one index
// (a zero SnmpPDU where the row has no value in that column).
type row struct {
	index string
	v     []gosnmp.SnmpPDU
}

func (rw row) has(i int) bool { return rw.v[i].Type != 0 && present(rw.v[i]) }

func (rw row) str(i int) string {
	if !rw.has(i) {
		return ""
	}
	return asString(rw.v[i])
}

func (rw row) int(i int) (int64, bool) {
	if !rw.has(i) {
		return 0, false
	}
	return asInt(rw.v[i])
}

func (rw row) uint(i int) (uint64, bool) {
	if !rw.has(i) {
		return 0, false
	}
	return asUint(rw.v[i])
}

// indexInts splits the row index into its numeric components.
func (rw row) indexInts() []int {
	parts := strings.Split(rw.index, ".")
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// rows joins columns on their index, in the order the agent returned them.
func (r *pollResult) rows(cols ...string) []row {
	pos := map[string]int{}
	var out []row
	for ci, c := range cols {
		for _, v := range r.cols[c] {
			idx := indexOf(v.Name, c)
			if idx == "" {
				continue
			}
			k, ok := pos[idx]
			if !ok {
				k = len(out)
				pos[idx] = k
				out = append(out, row{index: idx, v: make([]gosnmp.SnmpPDU, len(cols))})
			}
			out[k].v[ci] = v
		}
	}
	return out
}

// builder accumulates the points of one poll of one target.
type builder struct {
	st     *targetState
	r      *pollResult
	s      *session
	t      time.Time
	device string
	class  string
	points []metric.Point
	// macs are the device's interface MACs when fetched in this poll.
	macs string
	// closeConn closes the target's socket once all profiles are built.
	closeConn func() error
}

// point starts a point tagged with the device and class.
func (b *builder) point(measurement string, tags ...metric.Tag) metric.Point {
	t := make([]metric.Tag, 0, 2+len(tags))
	t = append(t, metric.Tag{Key: "class", Value: b.class}, metric.Tag{Key: "device", Value: b.device})
	for _, tg := range tags {
		if tg.Value != "" {
			t = append(t, tg)
		}
	}
	metric.SortTags(t)
	return metric.Point{Measurement: measurement, Tags: t, Time: b.t, Fields: make([]metric.Field, 0, 8)}
}

func (b *builder) add(p metric.Point) {
	if len(p.Fields) > 0 {
		b.points = append(b.points, p)
	}
}

func tag(k, v string) metric.Tag { return metric.Tag{Key: k, Value: v} }

// fieldSetter adds fields from row values only when present, so a device
// without a column produces no misleading zero.
type fields struct{ p *metric.Point }

func (f fields) str(k, v string) { f.p.AddField(k, metric.String(v)) }
func (f fields) strIf(k, v string) {
	if v != "" {
		f.p.AddField(k, metric.String(v))
	}
}
func (f fields) int(k string, v int64, ok bool) {
	if ok {
		f.p.AddField(k, metric.Int(v))
	}
}
func (f fields) uint(k string, v uint64, ok bool) {
	if ok {
		f.p.AddField(k, metric.Uint(v))
	}
}
func (f fields) float(k string, v float64, ok bool) {
	if ok {
		f.p.AddField(k, metric.Float(v))
	}
}
func (f fields) bool(k string, v bool) { f.p.AddField(k, metric.Bool(v)) }
