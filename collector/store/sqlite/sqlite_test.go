package sqlite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "points.db")
	s, err := Open(context.Background(), path, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func rows(t *testing.T, body string) []store.Point {
	t.Helper()
	var p metric.Parser
	if err := p.Parse([]byte(body), metric.PrecisionS, 0); err != nil {
		t.Fatal(err)
	}
	out := make([]store.Point, len(p.Rows))
	for i := range p.Rows {
		r := p.Rows[i]
		out[i] = store.Point{SiteID: 1, DeviceID: 7, Site: "s", Device: "d", Row: &r}
	}
	return out
}

func q(field string, from, to int64, step time.Duration) store.Query {
	return store.Query{SiteID: 1, DeviceID: 7, Site: "s", Device: "d", Measurement: "cpu", Field: field, From: time.Unix(from, 0), To: time.Unix(to, 0), Step: step}
}

func TestSameSeriesAndTimeOverwrites(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ { // a replay writes the same points again
		if err := s.Write(ctx, rows(t, "cpu,cpu=0 v=1 100\ncpu,cpu=0 v=2 110\ncpu,cpu=1 v=5 100")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(ctx, rows(t, "cpu,cpu=0 v=9 110")); err != nil {
		t.Fatal(err)
	}
	var n int
	s.DB().QueryRow(`SELECT count(*) FROM points`).Scan(&n)
	if n != 3 {
		t.Errorf("%d rows after replays, want 3", n)
	}
	got, err := s.Query(ctx, q("v", 0, 200, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("series: %+v", got)
	}
	for _, sr := range got {
		if sr.Tags["cpu"] == "0" && (len(sr.Samples) != 2 || sr.Samples[1].Value != 9) {
			t.Errorf("cpu 0 samples %+v, want the later write to win", sr.Samples)
		}
	}
}

func TestConcurrentWritersShareCommits(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	var wg sync.WaitGroup
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var p metric.Parser
			body := []byte("cpu,w=" + string(rune('a'+w)) + " v=1 1\ncpu,w=" + string(rune('a'+w)) + " v=2 2")
			if err := p.Parse(body, metric.PrecisionS, 0); err != nil {
				t.Error(err)
				return
			}
			pts := make([]store.Point, len(p.Rows))
			for i := range p.Rows {
				pts[i] = store.Point{SiteID: 1, DeviceID: 7, Row: &p.Rows[i]}
			}
			if err := s.Write(context.Background(), pts); err != nil {
				t.Error(err)
			}
		}(w)
	}
	wg.Wait()
	st := s.Stats()
	if st.Points != 40 || st.Series != 20 {
		t.Errorf("stats %+v, want 40 points in 20 series", st)
	}
}

func TestRollupsAndLateData(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	// Two five-minute buckets: [0,300) and [300,600).
	if err := s.Write(ctx, rows(t, "cpu v=1 0\ncpu v=3 100\ncpu v=10 300")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(600, 0)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, q("v", 0, 600, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Samples) != 2 || got[0].Samples[0].Value != 2 || got[0].Samples[1].Value != 10 {
		t.Fatalf("rollups: %+v", got)
	}
	// A replayed point lands in an already rolled-up bucket: the bucket
	// is computed again on the next run.
	if err := s.Write(ctx, rows(t, "cpu v=5 200")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(600, 0)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Query(ctx, q("v", 0, 600, 5*time.Minute))
	if got[0].Samples[0].Value != 3 {
		t.Errorf("bucket after late data: %v, want mean 3", got[0].Samples[0].Value)
	}
	// Rollups and the watermark survive a restart.
	s.Close()
	s2, err := Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.wm.Load() != int64(600*time.Second) {
		t.Errorf("watermark after reopen %d", s2.wm.Load())
	}
	got, _ = s2.Query(ctx, q("v", 0, 600, 10*time.Minute))
	if len(got) != 1 || len(got[0].Samples) != 1 || got[0].Samples[0].Value != 19.0/4 {
		t.Errorf("10-minute step from rollups: %+v", got)
	}
}

func TestRetention(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	now := time.Unix(100*24*3600, 0)
	old := now.Add(-31 * 24 * time.Hour).Unix()
	recent := now.Add(-time.Hour).Unix()
	body := "cpu v=1 " + itoa(old) + "\ncpu v=2 " + itoa(recent)
	if err := s.Write(ctx, rows(t, body)); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRetention(ctx, now); err != nil {
		t.Fatal(err)
	}
	raw, _ := s.Query(ctx, q("v", 0, now.Unix(), 0))
	if len(raw) != 1 || len(raw[0].Samples) != 1 || raw[0].Samples[0].Value != 2 {
		t.Errorf("raw after retention: %+v", raw)
	}
	// The old point is still in the rollups (kept two years).
	ro, _ := s.Query(ctx, q("v", 0, now.Unix(), time.Hour))
	if len(ro) != 1 || len(ro[0].Samples) != 2 {
		t.Errorf("rollups after raw retention: %+v", ro)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestFieldCodecRoundTrip(t *testing.T) {
	var p metric.Parser
	if err := p.Parse([]byte(`m f=1.5,i=-3i,u=4u,s="x\"y",b=t`), metric.PrecisionNS, 0); err != nil {
		t.Fatal(err)
	}
	blob := appendFields(nil, p.Rows[0].Fields)
	var got []string
	err := eachField(blob, func(key []byte, kind metric.Kind, num uint64, str []byte) bool {
		f := metric.RawField{Key: key, Kind: kind, Num: num, Str: str}
		got = append(got, string(key)+"="+string(metric.AppendValue(nil, f.Value())))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"f=1.5", "i=-3i", "u=4u", `s="x\"y"`, "b=t"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d: %s, want %s", i, got[i], want[i])
		}
	}
	for cut := 0; cut < len(blob); cut++ {
		if err := eachField(blob[:cut], func([]byte, metric.Kind, uint64, []byte) bool { return true }); err == nil && cut < len(blob) {
			t.Errorf("truncated blob (%d of %d bytes) not detected", cut, len(blob))
		}
	}
}

// TestMaintenanceInShortTransactions: retention and rollups work in
// chunks (so that the point writer is never kept out for long); with tiny
// chunks the result must be the same as in one go.
func TestMaintenanceInShortTransactions(t *testing.T) {
	oldChunk, oldRows := retentionChunk, rollupTxRows
	retentionChunk, rollupTxRows = 7, 5
	defer func() { retentionChunk, rollupTxRows = oldChunk, oldRows }()
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	now := time.Unix(1000*24*3600, 0)
	var body strings.Builder
	// 100 old points a minute apart (past the 30-day raw retention), in
	// two series, and 30 recent ones five minutes apart.
	for i := int64(0); i < 100; i++ {
		ts := now.Add(-40*24*time.Hour).Unix() + i*60
		fmt.Fprintf(&body, "cpu,host=h%d v=%d %d\n", i%2, i, ts)
	}
	for i := int64(0); i < 30; i++ {
		ts := now.Add(-3*time.Hour).Unix() + i*300
		fmt.Fprintf(&body, "cpu,host=h%d v=%d %d\n", i%2, 1000+i, ts)
	}
	// And rollups older than the two-year rollup retention.
	for i := int64(0); i < 20; i++ {
		ts := now.Add(-800*24*time.Hour).Unix() + i*600
		fmt.Fprintf(&body, "cpu,host=h0 v=%d %d\n", i, ts)
	}
	if err := s.Write(ctx, rows(t, body.String())); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		var n int
		if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Rollups written in chunks of 5 rows: one per series and 5-minute
	// bucket, none missing.
	if n := count(`SELECT COUNT(*) FROM rollups`); n != 40+30+20 {
		t.Fatalf("%d rollup rows, want 90 (old: 2 series × 20 buckets; recent: 30; ancient: 20)", n)
	}
	if err := s.ApplyRetention(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT COUNT(*) FROM points`); n != 30 {
		t.Errorf("%d raw points after retention, want the 30 recent ones", n)
	}
	if n := count(`SELECT COUNT(*) FROM points WHERE time < ` + itoa(now.Add(-30*24*time.Hour).UnixNano())); n != 0 {
		t.Errorf("%d raw points past retention left", n)
	}
	if n := count(`SELECT COUNT(*) FROM rollups`); n != 70 {
		t.Errorf("%d rollup rows after retention, want 70 (the ancient 20 gone)", n)
	}
}

// TestNewSeriesInChunksAndAfterRestart: the writer assigns series ids
// itself and inserts new series a hundred per statement; after a restart
// new series continue after the highest id, and every point reads back
// under its own tags.
func TestNewSeriesInChunksAndAfterRestart(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	lines := func(from, to int, v int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "cpu,cpu=c%d v=%d 100\n", i, v*1000+i)
		}
		return b.String()
	}
	if err := s.Write(ctx, rows(t, lines(0, 250, 1))); err != nil { // 2½ chunks in one commit
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(ctx, rows(t, lines(100, 400, 2))); err != nil { // 150 known, 150 new
		t.Fatal(err)
	}
	var n, maxID int
	if err := s.DB().QueryRow(`SELECT count(*), max(id) FROM series`).Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n != 400 || maxID != 400 {
		t.Fatalf("%d series, highest id %d; want 400 and 400", n, maxID)
	}
	got, err := s.Query(ctx, q("v", 0, 200, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 400 {
		t.Fatalf("%d series read back, want 400", len(got))
	}
	for _, sr := range got {
		i, _ := strconv.Atoi(strings.TrimPrefix(sr.Tags["cpu"], "c"))
		want := 1000 + i
		if i >= 100 {
			want = 2000 + i
		}
		if len(sr.Samples) != 1 || sr.Samples[0].Value != float64(want) {
			t.Fatalf("series %s: %+v, want one point %d", sr.Tags["cpu"], sr.Samples, want)
		}
	}
}

// TestRollupsReadByKey: rollup retention and charts find their rows by
// the (bucket, series, field) key instead of reading the table, which
// at 10,000 schools grows by three million rows a bucket.
func TestRollupsReadByKey(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := s.DB().Query(`EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		return strings.Join(plan, "\n")
	}
	if p := plan(rollupRetentionSQL, 1, 1); !strings.Contains(p, "SEARCH rollups USING PRIMARY KEY (bucket<?)") {
		t.Errorf("rollup retention does not find old rows by the key:\n%s", p)
	}
	p := plan(rollupQuerySQL("1,2,3"), 0, 300, 3000, 600, "v")
	if !strings.Contains(p, "SEARCH r USING PRIMARY KEY (bucket=? AND series_id=? AND field=?)") || strings.Contains(p, "SCAN r") {
		t.Errorf("a chart does not seek its rollups by key:\n%s", p)
	}
}
