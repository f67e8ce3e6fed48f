package sqlite

import (
	"context"
	"testing"
	"time"
)

// TestQueryAppendsRawAfterWatermark: a chart reading rollups also gets
// the points not rolled up yet (after the watermark), at the same step,
// and a step straddling the watermark is not counted twice.
func TestQueryAppendsRawAfterWatermark(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	if err := s.Write(ctx, rows(t, "cpu v=1 0\ncpu v=3 100\ncpu v=10 300")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(600, 0)); err != nil { // watermark 600 s
		t.Fatal(err)
	}
	// Newer points, not rolled up: 20 at 650, 30 at 950.
	if err := s.Write(ctx, rows(t, "cpu v=20 650\ncpu v=30 950")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, q("v", 0, 1200, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		t int64
		v float64
	}{{0, 2}, {300, 10}, {600, 20}, {900, 30}}
	if len(got) != 1 || len(got[0].Samples) != len(want) {
		t.Fatalf("5-minute step: %+v, want %v", got, want)
	}
	for i, w := range want {
		if sm := got[0].Samples[i]; sm.Time.Unix() != w.t || sm.Value != w.v {
			t.Errorf("sample %d: %v %v, want %d %v", i, sm.Time.Unix(), sm.Value, w.t, w.v)
		}
	}
	// A 20-minute step holds the watermark: its one bucket [0, 1200) comes
	// from raw points only, every point once.
	got, err = s.Query(ctx, q("v", 0, 1200, 20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Samples) != 1 || got[0].Samples[0].Value != 64.0/5 {
		t.Errorf("20-minute step: %+v, want one sample of 64/5", got)
	}
	// A range wholly after the watermark reads raw points.
	got, _ = s.Query(ctx, q("v", 900, 1200, 5*time.Minute))
	if len(got) != 1 || len(got[0].Samples) != 1 || got[0].Samples[0].Value != 30 {
		t.Errorf("after the watermark: %+v", got)
	}
}
