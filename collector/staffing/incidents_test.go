package staffing

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/sqlitedb"
)

func openAvailabilityDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSpanIncidentsCountsDownSpansInWindow(t *testing.T) {
	ctx := context.Background()
	db := openAvailabilityDB(t)
	c := &SpanIncidents{DB: db}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	from := now.AddDate(0, 0, -365)
	if _, err := c.OnSiteIncidents(ctx, 1, from, now, 5*time.Minute); err == nil || !strings.Contains(err.Error(), "av_spans") {
		t.Fatalf("without the availability tables: %v", err)
	}
	if err := availability.Migrate(ctx, db); err != nil {
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
		n, err := c.OnSiteIncidents(ctx, site, from, now, 5*time.Minute)
		if err != nil || n != want {
			t.Errorf("site %d: %d incidents (%v), want %d", site, n, err, want)
		}
	}
	// The minimum is the caller's (the workload method's parameter), and
	// the cache must not answer for another minimum.
	if n, err := c.OnSiteIncidents(ctx, 1, from, now, 0); err != nil || n != 2 {
		t.Errorf("site 1 without a minimum: %d incidents (%v), want 2", n, err)
	}
}

// engineClock is the availability engine's clock in the test.
type engineClock struct{ t time.Time }

func (c *engineClock) Now() time.Time { return c.t }

// Outages produced by the real availability engine from heartbeats, with
// maintenance windows stored through the availability package: the engine
// records every outage as "down", and only the time outside maintenance
// makes an incident.
func TestSpanIncidentsSubtractMaintenanceFromEngineOutages(t *testing.T) {
	ctx := context.Background()
	db := openAvailabilityDB(t)
	t0 := time.Date(2026, 10, 5, 8, 0, 0, 0, time.UTC)
	clk := &engineClock{t: t0}
	eng, err := availability.Open(ctx, db, availability.Config{Now: clk.Now, ReloadEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	srv := availability.ObjectInfo{MunicipalityID: 1, SiteID: 1, Municipality: "Moers", Site: "GS Nord", Device: "srv-gsnord", Class: "server"}
	live := func(from, to time.Duration) {
		for d := from; d <= to; d += 10 * time.Second {
			clk.t = t0.Add(d)
			if err := eng.ObserveSignals(ctx, []availability.Signal{{Object: srv, Time: clk.t, Kind: availability.SignalHeartbeat, OK: true}}); err != nil {
				t.Fatal(err)
			}
			if err := eng.Tick(ctx, clk.t); err != nil {
				t.Fatal(err)
			}
		}
	}
	quiet := func(to time.Duration) {
		for clk.t.Before(t0.Add(to)) {
			clk.t = clk.t.Add(time.Minute)
			if err := eng.Tick(ctx, clk.t); err != nil {
				t.Fatal(err)
			}
		}
	}
	window := func(scope availability.Scope, from, to time.Duration) {
		t.Helper()
		if _, err := availability.AddMaintenance(ctx, db, availability.Maintenance{Scope: scope, Start: t0.Add(from), Duration: to - from, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	m := time.Minute
	site := availability.Scope{Site: "GS Nord"}
	// A: silent 5–25 min, entirely inside maintenance 4–26 min.
	window(site, 4*m, 26*m)
	// B: silent 30–45 min, maintenance 29–38 min: 7 min outside.
	window(site, 29*m, 38*m)
	// C: silent 50–60 min; the window is another device's.
	window(availability.Scope{Device: "other-srv"}, 49*m, 61*m)
	// D: silent 65–75 min, maintenance 64–73 min: 2 min outside.
	window(site, 64*m, 73*m)
	live(0, 5*m)
	quiet(25 * m)
	live(25*m, 30*m)
	quiet(45 * m)
	live(45*m, 50*m)
	quiet(60 * m)
	live(60*m, 65*m)
	quiet(75 * m)
	live(75*m, 80*m)
	if err := eng.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}

	var down int
	if err := db.QueryRow(`SELECT count(*) FROM av_spans WHERE state='down' AND end_ms IS NOT NULL`).Scan(&down); err != nil {
		t.Fatal(err)
	}
	if down != 4 {
		t.Fatalf("the engine stored %d closed outages, want 4 (A, B, C, D; maintenance does not change what it stores)", down)
	}
	from, to := t0.Add(-24*time.Hour), clk.t
	count := func(min time.Duration) int {
		t.Helper()
		n, err := (&SpanIncidents{DB: db}).OnSiteIncidents(ctx, 1, from, to, min)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(DefaultMinOutageMinutes * time.Minute); n != 2 {
		t.Errorf("%d incidents with a 5 min minimum, want 2 (B and C; A was in maintenance, D only 2 min outside)", n)
	}
	if n := count(0); n != 3 {
		t.Errorf("%d incidents without a minimum, want 3 (B, C, D; A was in maintenance)", n)
	}
	// Without the windows every outage counts: the difference above is
	// the maintenance, not the engine.
	list, err := availability.ListMaintenance(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range list {
		if err := availability.DeleteMaintenance(ctx, db, w.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(DefaultMinOutageMinutes * time.Minute); n != 4 {
		t.Errorf("%d incidents without maintenance windows, want 4", n)
	}
}

// minRecorder remembers the minimum the workload method asked for.
type minRecorder struct{ min []time.Duration }

func (r *minRecorder) OnSiteIncidents(_ context.Context, _ int64, _, _ time.Time, min time.Duration) (int, error) {
	r.min = append(r.min, min)
	return 10, nil
}

func TestWorkloadMinOutageIsAMethodParameter(t *testing.T) {
	b := NewInventoryBuilder()
	b.AddSite(Site{ID: 1, Municipality: "M", Name: "GS"})
	inv := b.Build()
	run := func(doc string) []time.Duration {
		t.Helper()
		p := DefaultParams()
		if err := p.Decode([]byte(doc), false); err != nil {
			t.Fatal(err)
		}
		r := &minRecorder{}
		compute(t, inv, p, Options{Incidents: r, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
		return r.min
	}
	if got := run(""); len(got) != 1 || got[0] != 5*time.Minute {
		t.Errorf("default: asked for minimum %v, want [5m]", got)
	}
	if got := run("methods: {workload: {min_outage_minutes: 0}}"); len(got) != 1 || got[0] != 0 {
		t.Errorf("min_outage_minutes 0: asked for %v, want [0s]", got)
	}
	// A custom workload method gets the same default as the preset.
	got := run("methods: {workload: {disabled: true}, onsite: {kind: workload, handling_minutes: 45, productive_hours_per_fte: 1280, window_days: 365}}")
	if len(got) != 1 || got[0] != 5*time.Minute {
		t.Errorf("custom workload method: asked for %v, want [5m]", got)
	}
	// Changing a scenario's copy leaves the base parameters alone.
	base := DefaultParams()
	scen := base.Clone()
	if err := scen.Decode([]byte("methods: {workload: {min_outage_minutes: 15}}"), false); err != nil {
		t.Fatal(err)
	}
	if base.Methods[MethodWorkload].MinOutage() != 5*time.Minute || scen.Methods[MethodWorkload].MinOutage() != 15*time.Minute {
		t.Errorf("base %v, scenario %v; want 5m and 15m", base.Methods[MethodWorkload].MinOutage(), scen.Methods[MethodWorkload].MinOutage())
	}
	err := DefaultParams().Decode([]byte("methods: {workload: {min_outage_minutes: -1}}"), false)
	if err == nil || !strings.Contains(err.Error(), "methods.workload.min_outage_minutes") {
		t.Errorf("negative minimum: %v, want an error naming methods.workload.min_outage_minutes", err)
	}
	err = DefaultParams().Decode([]byte("methods: {device_ratio: {min_outage_minutes: 3}}"), false)
	if err == nil || !strings.Contains(err.Error(), "not a parameter of a device_ratio method") {
		t.Errorf("minimum on a device_ratio method: %v", err)
	}
}
