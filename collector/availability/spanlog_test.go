package availability

import (
	"context"
	"testing"
	"time"
)

// TestSpanLogMatchesSpans checks that the span log (read by large reports)
// gives exactly the figures of av_spans (read by small ones), across a New
// Year boundary, replays and flapping.
func TestSpanLogMatchesSpans(t *testing.T) {
	start := time.Date(2026, 12, 31, 22, 0, 0, 0, time.UTC)
	h := newHarness(t, start, Config{})
	srv, sw := info("srv1", "server"), info("sw1", "switch")
	h.live(srv, SignalHeartbeat, true, start, start.Add(30*time.Minute), 10*time.Second)
	h.quiet(2 * time.Hour) // across midnight UTC
	h.live(srv, SignalHeartbeat, true, h.clk.Now(), h.clk.Now().Add(20*time.Minute), 10*time.Second)
	for i := 0; i < 30; i++ {
		ts := start.Add(time.Duration(i) * time.Minute)
		h.observe(Signal{Object: sw, Time: ts, Kind: SignalPoll, OK: i < 5 || i > 20})
	}
	// The replayed part of srv1's outage.
	var old []Signal
	for ts := start.Add(time.Hour); ts.Before(start.Add(90 * time.Minute)); ts = ts.Add(10 * time.Second) {
		old = append(old, Signal{Object: srv, Time: ts, Kind: SignalHeartbeat, OK: true})
	}
	h.observe(old...)
	h.live(srv, SignalHeartbeat, true, h.clk.Now(), h.clk.Now().Add(10*time.Minute), 10*time.Second)

	var n int
	h.db.QueryRow(`SELECT COUNT(*) FROM av_span_log`).Scan(&n)
	if n < 2 {
		t.Fatalf("%d span-log rows", n)
	}
	for _, w := range []Window{
		{From: start, To: h.clk.Now()},
		{From: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), To: h.clk.Now()},
		{From: start.Add(-24 * time.Hour), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		q := Query{Window: w, GroupBy: "object", Now: h.clk.Now()}
		small := report(t, h.db, q)
		perObjectLimit = 0
		large := report(t, h.db, q)
		perObjectLimit = 200
		for i := range small.Rows {
			a, b := small.Rows[i].Figures, large.Rows[i].Figures
			if a != b {
				t.Fatalf("window %v %s: av_spans %+v, span log %+v", w, small.Rows[i].Name, a, b)
			}
		}
		if small.Total.DownMS == 0 && w.From == start {
			t.Fatal("scenario has no down time")
		}
	}
	// Rebuilding the log from scratch gives the same rows.
	var before string
	h.db.QueryRow(`SELECT group_concat(hex(data), ',') FROM (SELECT data FROM av_span_log ORDER BY object_id, year)`).Scan(&before)
	if err := RebuildSpanLog(context.Background(), h.db); err != nil {
		t.Fatal(err)
	}
	var after string
	h.db.QueryRow(`SELECT group_concat(hex(data), ',') FROM (SELECT data FROM av_span_log ORDER BY object_id, year)`).Scan(&after)
	if before != after {
		t.Fatalf("incremental log %s differs from rebuilt %s", before, after)
	}
}
