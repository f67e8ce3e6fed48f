package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/api"
	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

// fleetFixture is a district of 140 schools in 14 municipalities with
// 30,000 devices, every device known to the availability engine with an
// hour of heartbeats (every tenth with a 10-minute outage), persisted so
// that the month's availability report has real spans to read.
func fleetFixture(b *testing.B) (*UI, *http.ServeMux, *http.Cookie) {
	b.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	dir, err := tenancy.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	const sites, devices = 140, 30_000
	var siteList []tenancy.Site
	for i := range sites {
		s, err := dir.EnsureSite(ctx, fmt.Sprintf("Kommune-%02d", i/10), fmt.Sprintf("schule-%03d", i), "grundschule")
		if err != nil {
			b.Fatal(err)
		}
		siteList = append(siteList, s)
	}
	now := time.Now().Truncate(time.Second)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO devices(site_id, name, class, first_seen, last_seen) VALUES(?,?,?,?,?)`)
	if err != nil {
		b.Fatal(err)
	}
	classes := []string{"endpoint", "endpoint", "endpoint", "endpoint", "endpoint", "access_point", "printer", "switch", "display", "server"}
	sigs := make([]availability.Signal, 0, 4*devices)
	for i := range devices {
		s := siteList[i%sites]
		name, class := fmt.Sprintf("dev-%05d", i), classes[i%len(classes)]
		if _, err := st.ExecContext(ctx, s.ID, name, class, now.Add(-time.Hour).UnixNano(), now.UnixNano()); err != nil {
			b.Fatal(err)
		}
		o := availability.ObjectInfo{MunicipalityID: s.MunicipalityID, SiteID: s.ID, Municipality: s.Municipality, Site: s.Name, Device: name, Class: class}
		sigs = append(sigs, availability.Signal{Object: o, Time: now.Add(-time.Hour), Kind: availability.SignalHeartbeat, OK: true})
		if i%10 == 0 {
			sigs = append(sigs, availability.Signal{Object: o, Time: now.Add(-40 * time.Minute), Kind: availability.SignalHeartbeat, OK: true})
			sigs = append(sigs, availability.Signal{Object: o, Time: now.Add(-30 * time.Minute), Kind: availability.SignalHeartbeat, OK: true})
		} else {
			sigs = append(sigs, availability.Signal{Object: o, Time: now.Add(-20 * time.Minute), Kind: availability.SignalHeartbeat, OK: true})
		}
		sigs = append(sigs, availability.Signal{Object: o, Time: now, Kind: availability.SignalHeartbeat, OK: true})
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	eng, err := availability.Open(ctx, db, availability.Config{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.ObserveSignals(ctx, sigs); err != nil {
		b.Fatal(err)
	}
	if err := eng.Tick(ctx, now); err != nil {
		b.Fatal(err)
	}
	if err := eng.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	us, err := users.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	u, err := us.Add(ctx, "olga", tenancy.RoleOperator, "operator-pw-1", nil)
	if err != nil {
		b.Fatal(err)
	}
	id, _, err := us.NewSession(ctx, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	ui := New(dir, &api.Handler{Dir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)), Deps{DB: db, Users: us, Now: func() time.Time { return now }})
	ui.SetAvailability(eng)
	mux := http.NewServeMux()
	ui.Routes(mux)
	return ui, mux, &http.Cookie{Name: sessionCookie, Value: id}
}

func fleetRequest(b *testing.B, mux *http.ServeMux, c *http.Cookie, query string) int {
	req := httptest.NewRequest(http.MethodGet, "/"+query, nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("fleet page: HTTP %d: %.300s", rec.Code, rec.Body.String())
	}
	return rec.Body.Len()
}

// BenchmarkFleet30k renders the fleet overview (all 140 schools) for an
// operator: session lookup, sites, 30,000 devices, the engine's states
// and the month's availability figures (refreshed every minute in the
// background) and device counts (reused for 10 seconds), as in production.
func BenchmarkFleet30k(b *testing.B) {
	_, mux, c := fleetFixture(b)
	n := fleetRequest(b, mux, c, "")
	c0 := cpuTime()
	for b.Loop() {
		fleetRequest(b, mux, c, "")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(n)/1024, "KiB/page")
}

// BenchmarkFleet30kCold is the same with the availability figures and the
// device counts recomputed on every request: what the first request after a start pays
// (later ones get figures refreshed in the background).
func BenchmarkFleet30kCold(b *testing.B) {
	ui, mux, c := fleetFixture(b)
	fleetRequest(b, mux, c, "")
	c0 := cpuTime()
	for b.Loop() {
		ui.mu.Lock()
		ui.avCache, ui.counts = map[string]avCacheEntry{}, nil
		ui.mu.Unlock()
		fleetRequest(b, mux, c, "")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkFleet30kSearch filters to one school by search text.
func BenchmarkFleet30kSearch(b *testing.B) {
	_, mux, c := fleetFixture(b)
	if n := fleetRequest(b, mux, c, "?q=schule-042"); n == 0 {
		b.Fatal("empty page")
	}
	c0 := cpuTime()
	for b.Loop() {
		fleetRequest(b, mux, c, "?q=schule-042")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
}

// cpuTime is the process's user and system CPU time: on a shared, busy
// machine it is a steadier measure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
