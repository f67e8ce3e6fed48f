package staffing

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
)

func TestSpanIncidentsCountsDownSpansInWindow(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := &SpanIncidents{DB: db, MinDuration: 5 * time.Minute}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	from := now.AddDate(0, 0, -365)
	if _, err := c.OnSiteIncidents(ctx, 1, from, now); err == nil || !strings.Contains(err.Error(), "av_spans") {
		t.Fatalf("without the availability tables: %v", err)
	}
	// The columns of collector/availability's av_spans that the counter reads.
	if _, err := db.Exec(`CREATE TABLE av_spans(id INTEGER PRIMARY KEY, object_id INTEGER, site_id INTEGER, state TEXT, cause TEXT, start_ms INTEGER, end_ms INTEGER)`); err != nil {
		t.Fatal(err)
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	day := 24 * time.Hour
	spans := []struct {
		site       int64
		state      string
		start, dur time.Duration // start before now
	}{
		{1, "down", 10 * day, time.Hour},        // counts
		{1, "down", 20 * day, 2 * time.Minute},  // too short: resolved itself
		{1, "unreachable", 20 * day, time.Hour}, // counted at the parent
		{1, "maintenance", 30 * day, time.Hour}, // planned
		{1, "down", 400 * day, time.Hour},       // before the window
		{2, "down", 5 * day, 0},                 // still open: counts
		{2, "down", 6 * day, 30 * time.Minute},  // counts
	}
	for _, s := range spans {
		start := now.Add(-s.start)
		var end any = ms(start.Add(s.dur))
		if s.dur == 0 {
			end = nil
		}
		if _, err := db.Exec(`INSERT INTO av_spans(object_id, site_id, state, cause, start_ms, end_ms) VALUES(1, ?, ?, '', ?, ?)`, s.site, s.state, ms(start), end); err != nil {
			t.Fatal(err)
		}
	}
	for site, want := range map[int64]int{1: 1, 2: 2, 3: 0} {
		n, err := c.OnSiteIncidents(ctx, site, from, now)
		if err != nil || n != want {
			t.Errorf("site %d: %d incidents (%v), want %d", site, n, err, want)
		}
	}
}
