package outbox

import (
	"testing"
	"time"

	"github.com/schulmon/schulmon/metric"
)

func TestAppendLinesChecksStampsAndKeepsGoodLines(t *testing.T) {
	clk := &clock{t: t0}
	rec := &recorder{}
	o := open(t, t.TempDir(), Options{Now: clk.Now, OnDrop: rec.on, MaxRecordPoints: 2})
	defer o.Close()
	in := "cpu,host=a usage=1 1000\n" +
		"# a comment\n" +
		"snmp_trap,device=sw1 msg=\"two\nlines\" 2000\n" +
		"broken line without fields\n" +
		"mem,host=a used=5i\n" + // no timestamp: gets the append time
		"disk,host=a used=7u 3000" // no final newline
	if err := o.AppendLines([]byte(in)); err != nil {
		t.Fatal(err)
	}
	pts := rows(t, peekAll(t, o))
	if len(pts) != 4 {
		t.Fatalf("kept %d points, want 4: %v", len(pts), pts)
	}
	want := []struct {
		m string
		t time.Time
	}{{"cpu", time.Unix(0, 1000)}, {"snmp_trap", time.Unix(0, 2000)}, {"mem", t0}, {"disk", time.Unix(0, 3000)}}
	for i, w := range want {
		if pts[i].Measurement != w.m || !pts[i].Time.Equal(w.t) {
			t.Errorf("point %d = %s at %v, want %s at %v", i, pts[i].Measurement, pts[i].Time, w.m, w.t)
		}
	}
	if v, _ := pts[1].Field("msg"); v.StringValue() != "two\nlines" {
		t.Errorf("string with newline mangled: %q", v.StringValue())
	}
	if o.DroppedPoints(ReasonInvalid) != 1 || rec.points(ReasonInvalid) != 1 {
		t.Fatalf("invalid lines counted %d, want 1", o.DroppedPoints(ReasonInvalid))
	}
}

func TestQueueNextAckPending(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	defer o.Close()
	q := NewQueue(o)
	var enc []byte
	for b := 0; b < 3; b++ {
		enc = enc[:0]
		for _, p := range batch(b, 4, t0) {
			enc = metric.AppendLine(enc, &p)
		}
		if err := q.Append(enc, 4); err != nil {
			t.Fatal(err)
		}
	}
	if q.Pending() != 12 {
		t.Fatalf("pending %d, want 12", q.Pending())
	}
	lines, n, err := q.Next(8)
	if err != nil || n != 8 {
		t.Fatalf("next(8) = %d points, %v", n, err)
	}
	again, n2, _ := q.Next(8)
	if n2 != 8 || string(again) != string(lines) {
		t.Fatal("Next without Ack did not return the same batch")
	}
	if err := q.Ack(); err != nil {
		t.Fatal(err)
	}
	if q.Pending() != 4 {
		t.Fatalf("pending after ack %d, want 4", q.Pending())
	}
	// A second Ack without Next removes nothing more.
	q.Ack()
	if q.Pending() != 4 {
		t.Fatalf("double ack removed data: pending %d", q.Pending())
	}
	lines, n, _ = q.Next(100)
	var p metric.Parser
	p.Parse(lines, metric.PrecisionNS, 0)
	if n != 4 || len(p.Rows) != 4 || string(p.Rows[0].Tags[0].Value) != "2" {
		t.Fatalf("last batch: %d points, first tag %s", n, p.Rows[0].Tags[0].Value)
	}
}

func TestDropPointsAreQueuedForTheCollector(t *testing.T) {
	o := open(t, t.TempDir(), Options{MaxBytes: 32 << 10, SegmentBytes: 4 << 10, DropPoints: true, DropTags: map[string]string{"host": "srv1"}})
	defer o.Close()
	for b := 0; b < 60; b++ {
		o.Append(batch(b, 10, t0))
	}
	var reported int64
	for _, p := range rows(t, peekAll(t, o)) {
		if p.Measurement == DropMeasurement {
			if tag(p, "host") != "srv1" {
				t.Fatalf("drop point without host tag: %v", p)
			}
			v, _ := p.Field("dropped_points")
			reported += v.IntValue()
		}
	}
	// Drop points themselves can be dropped by later size drops; what is
	// still queued must not claim more than was dropped, and some must be there.
	if reported == 0 || uint64(reported) > o.DroppedPoints(ReasonSize) {
		t.Fatalf("drop points report %d dropped, counter says %d", reported, o.DroppedPoints(ReasonSize))
	}
}
