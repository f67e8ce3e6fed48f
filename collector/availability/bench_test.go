package availability

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// measure runs fn b.N times and reports wall and CPU milliseconds per op.
func measure(b *testing.B, fn func()) {
	b.Helper()
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
}

// benchEngine builds an engine with n heartbeat objects spread over n/50
// sites, each with an hour of heartbeats and every tenth with an outage.
func benchEngine(b *testing.B, n int) (*Engine, *clock) {
	b.Helper()
	// Shared across -count runs and benchmarks: building 100,000 objects
	// takes longer than what is measured.
	if v, ok := engines.Load(n); ok {
		be := v.(benchEng)
		return be.e, be.clk
	}
	e, clk := newBenchEngine(keepTB{b}, n)
	engines.Store(n, benchEng{e, clk})
	return e, clk
}

type benchEng struct {
	e   *Engine
	clk *clock
}

var engines sync.Map

func newBenchEngine(b testing.TB, n int) (*Engine, *clock) {
	db := openDB(b)
	clk := &clock{t: t0}
	e, err := Open(context.Background(), db, Config{Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	sigs := make([]Signal, 0, 3*n)
	for i := range n {
		o := ObjectInfo{MunicipalityID: int64(i/5000 + 1), SiteID: int64(i/50 + 1), Municipality: fmt.Sprintf("m%d", i/5000), Site: fmt.Sprintf("s%d", i/50), Device: fmt.Sprintf("d%d", i), Class: "server"}
		sigs = append(sigs, Signal{Object: o, Time: t0.Add(-time.Hour), Kind: SignalHeartbeat, OK: true})
		if i%10 == 0 {
			sigs = append(sigs, Signal{Object: o, Time: t0.Add(-40 * time.Minute), Kind: SignalHeartbeat, OK: true})
			sigs = append(sigs, Signal{Object: o, Time: t0.Add(-30 * time.Minute), Kind: SignalHeartbeat, OK: true})
		} else {
			sigs = append(sigs, Signal{Object: o, Time: t0.Add(-20 * time.Minute), Kind: SignalHeartbeat, OK: true})
		}
		sigs = append(sigs, Signal{Object: o, Time: t0, Kind: SignalHeartbeat, OK: true})
	}
	if err := e.ObserveSignals(context.Background(), sigs); err != nil {
		b.Fatal(err)
	}
	return e, clk
}

// BenchmarkTick100k is one detection tick over 100,000 objects when
// nothing is due: the per-tick cost of a running collector.
func BenchmarkTick100k(b *testing.B) {
	e, clk := benchEngine(b, 100_000)
	ctx := context.Background()
	now := clk.Now().Add(5 * time.Second) // fixed: nothing becomes due, every run measures the same work
	measure(b, func() {
		if err := e.Tick(ctx, now); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkEvaluateAll100k re-derives the state of all 100,000 objects
// (the worst case of a tick, and what a restart does).
func BenchmarkEvaluateAll100k(b *testing.B) {
	e, clk := benchEngine(b, 100_000)
	ctx := context.Background()
	now := clk.Now().Add(5 * time.Second) // fixed: nothing becomes due, every run measures the same work
	measure(b, func() {
		if err := e.evaluate(ctx, now, true); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkEvaluateAll10k shows linearity against the 100k figure.
func BenchmarkEvaluateAll10k(b *testing.B) {
	e, clk := benchEngine(b, 10_000)
	ctx := context.Background()
	now := clk.Now().Add(5 * time.Second) // fixed: nothing becomes due, every run measures the same work
	measure(b, func() {
		if err := e.evaluate(ctx, now, true); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkObserveHeartbeats100k feeds one heartbeat for each of 100,000
// objects (what ten seconds of a large district's agents send).
func BenchmarkObserveHeartbeats100k(b *testing.B) {
	e, _ := benchEngine(b, 100_000)
	ctx := context.Background()
	sigs := make([]Signal, 100_000)
	for i := range sigs {
		sigs[i] = Signal{Object: ObjectInfo{SiteID: int64(i/50 + 1), Device: fmt.Sprintf("d%d", i)}, Kind: SignalHeartbeat, OK: true}
	}
	ts := t0
	measure(b, func() {
		ts = ts.Add(10 * time.Second)
		for i := range sigs {
			sigs[i].Time = ts
		}
		if err := e.ObserveSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
	})
}

// seedReport stores n objects and m outages spread over 2026.
func seedReport(b testing.TB, n, m int) *Engine {
	b.Helper()
	db := openDB(b)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	year := ms(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st, _ := tx.Prepare(`INSERT INTO av_objects(id, municipality_id, site_id, municipality, site, device, class, critical, heartbeat, first_seen_ms) VALUES(?,?,?,?,?,?,?,?,1,?)`)
	for i := range n {
		if _, err := st.Exec(i+1, i/5000+1, i/50+1, fmt.Sprintf("m%d", i/5000), fmt.Sprintf("s%d", i/50), fmt.Sprintf("d%d", i), "server", i%3 == 0, year-1); err != nil {
			b.Fatal(err)
		}
	}
	sp, _ := tx.Prepare(`INSERT INTO av_spans(object_id, site_id, state, cause, start_ms, end_ms) VALUES(?,?,?,?,?,?)`)
	yearMS := int64(365 * 24 * 3600 * 1000)
	for j := range m {
		obj := j%n + 1
		start := year + int64(j/n)*(yearMS/int64(m/n+1)) + int64(j%997)*1000
		state := "down"
		if j%7 == 0 {
			state = "unknown"
		}
		if _, err := sp.Exec(obj, (obj-1)/50+1, state, "heartbeat_lost", start, start+int64(60_000+j%600_000)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := RebuildSpanLog(ctx, db); err != nil {
		b.Fatal(err)
	}
	// A weekly calendar for half the municipalities and a maintenance
	// window for one site, so the report does the real work.
	cal := weekly("school", "07:00", "17:00", schoolDays...)
	if err := SaveCalendar(ctx, db, cal); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n/5000; i += 2 {
		if err := SetRule(ctx, db, Rule{Kind: RuleCalendar, Scope: Scope{Municipality: fmt.Sprintf("m%d", i)}, Value: "school"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := AddMaintenance(ctx, db, Maintenance{Scope: Scope{Site: "s3"}, Start: time.Date(2026, 1, 7, 22, 0, 0, 0, berlin), Duration: 2 * time.Hour, RRule: "FREQ=WEEKLY;BYDAY=WE", TZ: "Europe/Berlin"}); err != nil {
		b.Fatal(err)
	}
	return &Engine{db: db}
}

// seeded keeps the seeded report databases across -count runs: seeding
// 1,000,000 outages takes longer than the report.
var seeded sync.Map

func benchReport(b *testing.B, n, m int) {
	key := fmt.Sprint(n, m)
	v, ok := seeded.Load(key)
	if !ok {
		// Not b.TempDir: the database must outlive this run.
		v = seedReport(keepTB{b}, n, m)
		seeded.Store(key, v)
	}
	e := v.(*Engine)
	ctx := context.Background()
	y, _ := ParsePeriod("2026", berlin, time.Time{})
	measure(b, func() {
		r, err := BuildReport(ctx, e.db, Query{Window: y, Now: y.To.Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		if r.Total.Members != n || r.Total.Outages == 0 {
			b.Fatalf("members %d outages %d", r.Total.Members, r.Total.Outages)
		}
	})
}

// keepTB hands out a temporary directory that lives until the process
// ends and ignores cleanups, for fixtures shared across benchmark runs.
type keepTB struct{ testing.TB }

func (k keepTB) TempDir() string {
	d, err := os.MkdirTemp("", "schulmon-av-bench-")
	if err != nil {
		k.Fatal(err)
	}
	keptMu.Lock()
	kept = append(kept, d)
	keptMu.Unlock()
	return d
}

var (
	keptMu sync.Mutex
	kept   []string
)

// TestMain removes the fixtures benchmarks kept across runs.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range kept {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func (keepTB) Cleanup(func()) {}

// BenchmarkYearlyReport100kObjects1MOutages is the yearly report over a
// whole district: 100,000 objects, 1,000,000 stored outages.
func BenchmarkYearlyReport100kObjects1MOutages(b *testing.B) { benchReport(b, 100_000, 1_000_000) }

// BenchmarkYearlyReport10kObjects100kOutages shows linearity.
func BenchmarkYearlyReport10kObjects100kOutages(b *testing.B) { benchReport(b, 10_000, 100_000) }

// BenchmarkMassOutage20k is the rare heavy tick: all 20,000 objects of a
// district fall silent at once and every one gets an outage (and a span-log
// rewrite, since each merges with its previous outage).
func BenchmarkMassOutage20k(b *testing.B) {
	ctx := context.Background()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, clk := newBenchEngine(b, 20_000)
		b.StartTimer()
		c0 := cpuTime()
		if err := e.Tick(ctx, clk.Now().Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
}
