package alerting

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/schulmon/schulmon/collector/availability"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// receiver is a real HTTP webhook endpoint that records alerts and can be
// told to fail.
type receiver struct {
	mu     sync.Mutex
	alerts []Alert
	fail   []int // statuses to answer before succeeding
	calls  int
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if req.Header.Get("Content-Type") != "application/json" || req.Header.Get("X-Token") != "s3cret" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if len(r.fail) > 0 {
			code := r.fail[0]
			r.fail = r.fail[1:]
			http.Error(w, "try later", code)
			return
		}
		var a Alert
		if err := json.NewDecoder(req.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.alerts = append(r.alerts, a)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.alerts {
		k := a.Kind
		if a.BurnRate != nil {
			k += ":" + a.BurnRate.Rule
		}
		out = append(out, a.Device+" "+k)
	}
	return out
}

type env struct {
	t   *testing.T
	db  *sql.DB
	clk *clock
	eng *availability.Engine
	mgr *Manager
	rcv *receiver
}

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	x := &env{t: t, db: db, clk: &clock{t: t0}, rcv: newReceiver(t)}
	ctx := context.Background()
	hook, err := NewWebhook(WebhookConfig{Name: "ops", URL: x.rcv.srv.URL + "/hook", Headers: map[string]string{"X-Token": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	// The manager is the engine's event handler; the engine is the
	// manager's burn-rate source.
	var h handlerRef
	x.eng, err = availability.Open(ctx, db, availability.Config{Now: x.clk.Now, Events: &h})
	if err != nil {
		t.Fatal(err)
	}
	x.mgr, err = New(ctx, db, Config{Now: x.clk.Now, Backoff: time.Second}, x.eng, hook)
	if err != nil {
		t.Fatal(err)
	}
	h.m = x.mgr
	return x
}

type handlerRef struct{ m *Manager }

func (h *handlerRef) HandleEvents(ctx context.Context, ev []availability.Event) {
	if h.m != nil {
		h.m.HandleEvents(ctx, ev)
	}
}

var srv = availability.ObjectInfo{MunicipalityID: 1, SiteID: 1, Municipality: "Moers", Site: "GS Am Park", Device: "srv1", Class: "server"}

// step advances to ts, optionally with a heartbeat, and runs what the
// collector runs every tick.
func (x *env) step(ts time.Time, sigs ...availability.Signal) {
	x.t.Helper()
	ctx := context.Background()
	x.clk.Set(ts)
	if len(sigs) > 0 {
		if err := x.eng.ObserveSignals(ctx, sigs); err != nil {
			x.t.Fatal(err)
		}
	}
	if err := x.eng.Tick(ctx, ts); err != nil {
		x.t.Fatal(err)
	}
	if err := x.mgr.Evaluate(ctx, ts); err != nil {
		x.t.Fatal(err)
	}
	if _, err := x.mgr.Deliver(ctx); err != nil {
		x.t.Fatal(err)
	}
}

// run simulates from..to every 10 s; up says whether the agent sends.
func (x *env) run(o availability.ObjectInfo, from, to time.Time, up bool) {
	for ts := from; ts.Before(to); ts = ts.Add(10 * time.Second) {
		if up {
			x.step(ts, availability.Signal{Object: o, Time: ts, Kind: availability.SignalHeartbeat, OK: true})
		} else {
			x.step(ts)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDownRecoveredAndBurnRateAlerts(t *testing.T) {
	x := newEnv(t)
	x.run(srv, t0, t0.Add(2*time.Hour), true)
	if k := x.rcv.kinds(); len(k) != 0 {
		t.Fatalf("alerts while up: %v", k)
	}
	// The server stops for 10 minutes.
	x.run(srv, t0.Add(2*time.Hour), t0.Add(2*time.Hour+10*time.Minute), false)
	want := []string{"srv1 device_down", "srv1 burn_rate:fast", "srv1 burn_rate:slow"}
	if k := x.rcv.kinds(); !equal(k, want) {
		t.Fatalf("after 10 min down: %v, want %v", k, want)
	}
	a := x.rcv.alerts[1]
	// It fires at detection, 30 s after the first missed heartbeat: 30 s of
	// 5 min down is 10 %, 500× the 0.02 % allowed; over 1 h 41.667×.
	if a.BurnRate.ShortRate != 500 || a.BurnRate.LongRate != 41.667 || a.BurnRate.Factor != 14.4 || a.Severity != "critical" || a.BurnRate.TargetPercent != "99.98" {
		t.Fatalf("burn alert %+v %+v", a, a.BurnRate)
	}
	// Back up: recovered after the hold; the fast rule resolves once the
	// 5-minute window is clean, the slow one after 30 minutes.
	x.run(srv, t0.Add(2*time.Hour+10*time.Minute), t0.Add(3*time.Hour), true)
	want = append(want, "srv1 device_recovered", "srv1 burn_rate_resolved:fast", "srv1 burn_rate_resolved:slow")
	if k := x.rcv.kinds(); !equal(k, want) {
		t.Fatalf("after recovery: %v, want %v", k, want)
	}
	if a := x.rcv.alerts[3]; a.DurationSeconds != 600 || a.Status != StatusResolved { // from the first missed heartbeat to the first new one
		t.Fatalf("recovered alert %+v", a)
	}
}

func TestNoDuplicates(t *testing.T) {
	x := newEnv(t)
	x.run(srv, t0, t0.Add(10*time.Minute), true)
	x.run(srv, t0.Add(10*time.Minute), t0.Add(15*time.Minute), false)
	n := len(x.rcv.kinds())
	// The same events again (e.g. after a restart re-derives them) and
	// many more evaluations give no new alerts.
	ev := availability.Event{Kind: availability.EventDown, Object: availability.Object{ID: 1, Device: "srv1"}, Span: availability.Span{ID: 1, Start: 1}}
	for i := 0; i < 3; i++ {
		x.mgr.HandleEvents(context.Background(), []availability.Event{ev})
		x.step(x.clk.Now().Add(time.Second))
	}
	if got := len(x.rcv.kinds()); got != n || n != 3 {
		t.Fatalf("%d alerts then %d: %v", n, got, x.rcv.kinds())
	}
	var rows int
	x.db.QueryRow(`SELECT COUNT(*) FROM al_deliveries`).Scan(&rows)
	if rows != 3 {
		t.Fatalf("%d deliveries stored, want 3", rows)
	}
}

func TestNoAlertsDuringMaintenance(t *testing.T) {
	x := newEnv(t)
	ctx := context.Background()
	if _, err := availability.AddMaintenance(ctx, x.db, availability.Maintenance{Scope: availability.Scope{Site: "GS Am Park"}, Start: t0.Add(time.Hour), Duration: time.Hour, Reason: "server update"}); err != nil {
		t.Fatal(err)
	}
	x.run(srv, t0, t0.Add(time.Hour+5*time.Minute), true)
	// The engine re-reads maintenance windows every 30 s; the server is
	// rebooted for 20 minutes inside the window.
	x.run(srv, t0.Add(time.Hour+5*time.Minute), t0.Add(time.Hour+25*time.Minute), false)
	x.run(srv, t0.Add(time.Hour+25*time.Minute), t0.Add(3*time.Hour), true)
	if k := x.rcv.kinds(); len(k) != 0 {
		t.Fatalf("alerts during maintenance: %v", k)
	}
	// And the report does not count it.
	r, err := availability.BuildReport(ctx, x.db, availability.Query{Device: "srv1", Window: availability.Window{From: t0, To: t0.Add(3 * time.Hour)}, Now: x.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total.DownMS != 0 || r.Total.MaintenanceMin != "60" {
		t.Fatalf("report: down %d ms, maintenance %s min", r.Total.DownMS, r.Total.MaintenanceMin)
	}
}

func TestParentAlertNamesChildrenOnly(t *testing.T) {
	x := newEnv(t)
	ctx := context.Background()
	router := srv
	router.Device, router.Class = "router", "router"
	sw := srv
	sw.Device, sw.Class = "sw1", "switch"
	if err := x.eng.SetParent(ctx, sw, router); err != nil {
		t.Fatal(err)
	}
	poll := func(ts time.Time, ok bool) {
		x.step(ts, availability.Signal{Object: router, Time: ts, Kind: availability.SignalPoll, OK: ok},
			availability.Signal{Object: sw, Time: ts, Kind: availability.SignalPoll, OK: ok})
	}
	for i := 0; i < 30; i++ {
		poll(t0.Add(time.Duration(i)*time.Minute), i < 10 || i >= 20)
	}
	k := x.rcv.kinds()
	for _, s := range k {
		if s[:3] == "sw1" {
			t.Fatalf("child alerted: %v", k)
		}
	}
	if len(k) == 0 || k[0] != "router device_down" || !equal(x.rcv.alerts[0].AffectedChildren, []string{"GS Am Park/sw1"}) {
		t.Fatalf("alerts %v, first %+v", k, x.rcv.alerts)
	}
}

func TestWebhookRetry(t *testing.T) {
	x := newEnv(t)
	ctx := context.Background()
	x.rcv.fail = []int{503, 502, 429}
	a := Alert{Key: "test:1", Kind: KindDeviceDown, Status: StatusFiring, Device: "srv1", Start: t0}
	if ok, err := x.mgr.enqueue(ctx, a); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// Back-off 1 s, 2 s, 4 s: delivered at the fourth attempt.
	for i, wait := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second} {
		x.clk.Set(x.clk.Now().Add(wait - time.Millisecond))
		if n, _ := x.mgr.Deliver(ctx); n != 0 {
			t.Fatalf("attempt %d delivered before its back-off", i+1)
		}
		x.clk.Set(x.clk.Now().Add(time.Millisecond))
		n, err := x.mgr.Deliver(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if (n == 1) != (i == 3) {
			t.Fatalf("attempt %d: delivered %d", i+1, n)
		}
	}
	if x.rcv.calls != 4 || len(x.rcv.alerts) != 1 || x.rcv.alerts[0].Key != "test:1" {
		t.Fatalf("%d calls, alerts %v", x.rcv.calls, x.rcv.kinds())
	}
	// A 4xx answer is permanent: no retry.
	x.rcv.fail = []int{400}
	if _, err := x.mgr.enqueue(ctx, Alert{Key: "test:2", Device: "srv1"}); err != nil {
		t.Fatal(err)
	}
	x.mgr.Deliver(ctx)
	x.clk.Set(x.clk.Now().Add(time.Hour))
	x.mgr.Deliver(ctx)
	d, err := x.mgr.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if x.rcv.calls != 5 || d[0].Key != "test:2" || d[0].State != "failed" || d[0].Attempts != 1 {
		t.Fatalf("%d calls, deliveries %+v", x.rcv.calls, d)
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "::"} {
		if _, err := NewWebhook(WebhookConfig{URL: u}); err == nil {
			t.Errorf("url %q accepted", u)
		}
	}
}

// TestEventsOfOneCallStoredTogether: the events of one engine call (one
// merged write) are stored in one go; a recovery in the same call as its
// outage's start still resolves it.
func TestEventsOfOneCallStoredTogether(t *testing.T) {
	x := newEnv(t)
	a := availability.Object{ID: 1, Device: "srv1"}
	b := availability.Object{ID: 2, Device: "srv2"}
	start := t0.Add(time.Minute).UnixMilli()
	x.mgr.HandleEvents(context.Background(), []availability.Event{
		{Kind: availability.EventDown, Object: a, Span: availability.Span{ID: 7, Start: start}},
		{Kind: availability.EventDown, Object: b, Span: availability.Span{ID: 8, Start: start}},
		{Kind: availability.EventRecovered, Object: a, Span: availability.Span{ID: 7, Start: start, End: start + 60000}},
		// Resolving what was never alerted stores nothing.
		{Kind: availability.EventRecovered, Object: b, Span: availability.Span{ID: 9, Start: start, End: start + 60000}},
	})
	rows, err := x.db.Query(`SELECT key FROM al_alerts ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	if !equal(keys, []string{"down:7", "down:8", "recovered:7"}) {
		t.Fatalf("stored alerts %v", keys)
	}
	var n int
	x.db.QueryRow(`SELECT COUNT(*) FROM al_deliveries`).Scan(&n)
	if n != 3 {
		t.Fatalf("%d deliveries queued, want 3", n)
	}
}
