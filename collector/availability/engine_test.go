package availability

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

type harness struct {
	t   *testing.T
	db  *sql.DB
	clk *clock
	rec *recorder
	e   *Engine
	cfg Config
}

func newHarness(t *testing.T, start time.Time, cfg Config) *harness {
	h := &harness{t: t, db: openDB(t), clk: &clock{t: start}, rec: &recorder{}}
	cfg.Now, cfg.Events = h.clk.Now, h.rec
	h.cfg = cfg
	h.open()
	return h
}

func (h *harness) open() {
	e, err := Open(context.Background(), h.db, h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.e = e
}

func info(device, class string) ObjectInfo {
	return ObjectInfo{MunicipalityID: 1, SiteID: 1, Municipality: "Moers", Site: "GS Am Park", Device: device, Class: class}
}

func (h *harness) observe(sigs ...Signal) {
	h.t.Helper()
	if err := h.e.ObserveSignals(context.Background(), sigs); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) tick() {
	h.t.Helper()
	if err := h.e.Tick(context.Background(), h.clk.Now()); err != nil {
		h.t.Fatal(err)
	}
}

// heartbeats sends heartbeats every 10 s in [from, to], advancing the
// clock with them and ticking, as a live agent would.
func (h *harness) live(o ObjectInfo, kind SignalKind, ok bool, from, to time.Time, every time.Duration) {
	h.t.Helper()
	for t := from; !t.After(to); t = t.Add(every) {
		h.clk.Set(t)
		h.observe(Signal{Object: o, Time: t, Kind: kind, OK: ok})
		h.tick()
	}
}

// quiet advances the clock without signals, ticking every 10 s.
func (h *harness) quiet(d time.Duration) {
	h.t.Helper()
	end := h.clk.Now().Add(d)
	for h.clk.Now().Before(end) {
		h.clk.Add(10 * time.Second)
		h.tick()
	}
}

func (h *harness) spans(device string) []Span {
	h.t.Helper()
	rows, err := h.db.Query(`SELECT s.state, s.cause, s.start_ms, COALESCE(s.end_ms, 0), s.children FROM av_spans s JOIN av_objects o ON o.id=s.object_id WHERE o.device=? ORDER BY s.start_ms`, device)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []Span
	for rows.Next() {
		var s Span
		var ch string
		if err := rows.Scan(&s.State, &s.Cause, &s.Start, &s.End, &ch); err != nil {
			h.t.Fatal(err)
		}
		s.Children = splitChildren(ch)
		out = append(out, s)
	}
	return out
}

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

func TestHeartbeatLossDetectedAfterMissedIntervals(t *testing.T) {
	h := newHarness(t, t0, Config{})
	srv := info("srv1", "server")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	// Silent: missed at +70, +80, +90 s; down once 3 intervals (30 s) are
	// missed, dated from the first missed heartbeat.
	h.clk.Set(t0.Add(99 * time.Second))
	h.tick()
	if s := h.spans("srv1"); len(s) != 0 {
		t.Fatalf("down too early: %+v", s)
	}
	h.clk.Set(t0.Add(100 * time.Second))
	h.tick()
	s := h.spans("srv1")
	if len(s) != 1 || s[0].State != StateDown || s[0].Cause != CauseHeartbeatLost || s[0].Start != ms(t0.Add(70*time.Second)) || s[0].End != 0 {
		t.Fatalf("spans %+v, want one open heartbeat_lost outage from +70 s", s)
	}
	if k := h.rec.kinds("srv1"); !slices.Equal(k, []EventKind{EventDown}) {
		t.Fatalf("events %v", k)
	}
	// Back at +5 min: the outage is closed; recovery is announced after the
	// hold time (flap damping).
	h.live(srv, SignalHeartbeat, true, t0.Add(5*time.Minute), t0.Add(6*time.Minute), 10*time.Second)
	s = h.spans("srv1")
	if len(s) != 1 || s[0].End != ms(t0.Add(5*time.Minute)) {
		t.Fatalf("spans %+v, want outage closed at +5 min", s)
	}
	if k := h.rec.kinds("srv1"); !slices.Equal(k, []EventKind{EventDown, EventRecovered}) {
		t.Fatalf("events %v, want down, recovered", k)
	}
}

func TestNeverDownSoonerThan30Seconds(t *testing.T) {
	h := newHarness(t, t0, Config{Heartbeat: Detection{Interval: 2 * time.Second, Missed: 1}})
	srv := info("srv1", "server")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(10*time.Second), 2*time.Second)
	// Silent from +12 s; 29 s later still not down.
	h.clk.Set(t0.Add(12*time.Second + 29*time.Second))
	h.tick()
	if s := h.spans("srv1"); len(s) != 0 {
		t.Fatalf("down before 30 s: %+v", s)
	}
	h.clk.Set(t0.Add(12*time.Second + 30*time.Second))
	h.tick()
	if s := h.spans("srv1"); len(s) != 1 {
		t.Fatalf("not down after 30 s: %+v", s)
	}
}

func TestReplayedHeartbeatsMarkDeviceUp(t *testing.T) {
	h := newHarness(t, t0, Config{})
	srv := info("srv1", "server")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	// The school's uplink is cut for 20 minutes; the agent keeps its
	// heartbeats in the outbox. The collector sees silence: down.
	h.quiet(20 * time.Minute)
	if s := h.spans("srv1"); len(s) != 1 || s[0].End != 0 {
		t.Fatalf("during the cut: %+v, want one open outage", s)
	}
	// The uplink is back: the agent replays its outbox (in batches, oldest
	// first) and then sends live data.
	var batch []Signal
	for ts := t0.Add(70 * time.Second); !ts.After(h.clk.Now()); ts = ts.Add(10 * time.Second) {
		batch = append(batch, Signal{Object: srv, Time: ts, Kind: SignalHeartbeat, OK: true})
		if len(batch) == 30 {
			h.observe(batch...)
			batch = nil
		}
	}
	h.observe(batch...)
	h.tick()
	if s := h.spans("srv1"); len(s) != 0 {
		t.Fatalf("after the replay: %+v, want no outage (the device was up)", s)
	}
	if k := h.rec.kinds("srv1"); !slices.Equal(k, []EventKind{EventDown, EventRevoked}) {
		t.Fatalf("events %v, want down then revoked (no new down per replayed batch)", k)
	}
	r := report(t, h.db, Query{Device: "srv1", Window: Window{From: t0, To: h.clk.Now()}, Now: h.clk.Now()})
	if r.Total.DownMS != 0 || r.Total.UpMS != r.Total.ServiceMS {
		t.Fatalf("report down %d ms", r.Total.DownMS)
	}
}

func TestReplayOutOfOrderSplitsOutage(t *testing.T) {
	h := newHarness(t, t0, Config{})
	srv := info("srv1", "server")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	h.quiet(30 * time.Minute)
	// Live data first, then old data from the middle of the gap: the agent
	// really was down from +1 min to +10 min and from +20 to +30 min.
	h.live(srv, SignalHeartbeat, true, h.clk.Now(), h.clk.Now().Add(time.Minute), 10*time.Second)
	var old []Signal
	for ts := t0.Add(10 * time.Minute); ts.Before(t0.Add(20 * time.Minute)); ts = ts.Add(10 * time.Second) {
		old = append(old, Signal{Object: srv, Time: ts, Kind: SignalHeartbeat, OK: true})
	}
	h.observe(old...)
	s := h.spans("srv1")
	if len(s) != 2 || s[0].Start != ms(t0.Add(70*time.Second)) || s[0].End != ms(t0.Add(10*time.Minute)) ||
		s[1].Start != ms(t0.Add(20*time.Minute)) || s[1].End != ms(t0.Add(31*time.Minute)) {
		t.Fatalf("spans %+v", s)
	}
}

func TestUnknownNeverCountedAsDown(t *testing.T) {
	h := newHarness(t, t0, Config{})
	srv := info("srv1", "server")
	sw := info("sw1", "switch")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	for ts := t0; !ts.After(t0.Add(time.Minute)); ts = ts.Add(time.Minute) {
		h.observe(Signal{Object: sw, Time: ts, Kind: SignalPoll, OK: true})
	}
	// The collector stops cleanly at +1 min and comes back at +31 min; no
	// data arrives for the gap (the agent's outbox was lost too).
	if err := h.e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.clk.Set(t0.Add(31 * time.Minute))
	h.open()
	h.live(srv, SignalHeartbeat, true, h.clk.Now(), h.clk.Now().Add(time.Minute), 10*time.Second)
	s := h.spans("srv1")
	if len(s) != 1 || s[0].State != StateUnknown || s[0].Cause != CauseCollectorDown {
		t.Fatalf("srv1 spans %+v, want the gap as unknown (collector_down)", s)
	}
	srvWin := Window{From: t0, To: h.clk.Now()}
	if k := h.rec.kinds("srv1"); len(k) != 0 {
		t.Fatalf("alerts for unknown time: %v", k)
	}
	// The switch is polled by the agent; with no polls for 30 min it is
	// unknown (no data), not down, even after the collector is back.
	h.quiet(10 * time.Minute)
	s = h.spans("sw1")
	for _, sp := range s {
		if sp.State == StateDown {
			t.Fatalf("switch without polls counted down: %+v", s)
		}
	}
	if len(s) == 0 {
		t.Fatal("switch without polls has no unknown time")
	}
	win := Window{From: t0, To: h.clk.Now()}
	for _, dev := range []string{"srv1", "sw1"} {
		w := win
		if dev == "srv1" {
			w = srvWin
		}
		r := report(t, h.db, Query{Device: dev, Window: w, Now: h.clk.Now()})
		if r.Total.DownMS != 0 || r.Total.UnknownMS < 29*60*1000 {
			t.Fatalf("%s: down %d ms unknown %d ms, want 0 and ≥ 29 min", dev, r.Total.DownMS, r.Total.UnknownMS)
		}
		if num(r.Total.AvailabilityPercent) != "100" {
			t.Fatalf("%s: availability %s, want 100 (unknown excluded)", dev, num(r.Total.AvailabilityPercent))
		}
	}
	if k := h.rec.kinds("sw1"); len(k) != 0 {
		t.Fatalf("alerts for unknown time: %v", k)
	}
}

func TestCrashAfterCheckpointIsGap(t *testing.T) {
	h := newHarness(t, t0, Config{})
	srv := info("srv1", "server")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	if err := h.e.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Crash (no Close); restart 10 minutes later. The evidence is rebuilt
	// from the snapshot and the time since the checkpoint is unknown.
	h.clk.Set(t0.Add(11 * time.Minute))
	h.open()
	h.live(srv, SignalHeartbeat, true, h.clk.Now(), h.clk.Now().Add(time.Minute), 10*time.Second)
	s := h.spans("srv1")
	if len(s) != 1 || s[0].State != StateUnknown || s[0].Start != ms(t0.Add(70*time.Second)) || s[0].End != ms(t0.Add(11*time.Minute)) {
		t.Fatalf("spans %+v, want unknown from the first missed heartbeat after the checkpoint to the restart", s)
	}
}

// TestCheckpointInChunks: a checkpoint written in several transactions
// (as at 10,000 schools) still saves every object's evidence.
func TestCheckpointInChunks(t *testing.T) {
	old := checkpointTxRows
	checkpointTxRows = 3
	defer func() { checkpointTxRows = old }()
	h := newHarness(t, t0, Config{})
	var names []string
	for i := 0; i < 10; i++ {
		srv := info(fmt.Sprintf("srv%d", i), "server")
		names = append(names, srv.Device)
		h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	}
	if err := h.e.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.clk.Set(t0.Add(11 * time.Minute))
	h.open() // a crash after the checkpoint
	var beats []Signal
	for _, n := range names {
		beats = append(beats, Signal{Object: info(n, "server"), Time: h.clk.Now(), Kind: SignalHeartbeat, OK: true})
	}
	h.observe(beats...)
	for _, n := range names {
		s := h.spans(n)
		if len(s) != 1 || s[0].State != StateUnknown || s[0].Start != ms(t0.Add(70*time.Second)) || s[0].End != ms(h.clk.Now()) {
			t.Fatalf("%s: spans %+v, want unknown from the first missed heartbeat after the checkpoint", n, s)
		}
	}
}

func TestParentOutageCountedOnce(t *testing.T) {
	h := newHarness(t, t0, Config{})
	ctx := context.Background()
	router, sw, ap := info("router", "router"), info("sw1", "switch"), info("ap1", "access_point")
	if err := h.e.SetParent(ctx, sw, router); err != nil {
		t.Fatal(err)
	}
	if err := h.e.SetParent(ctx, ap, sw); err != nil {
		t.Fatal(err)
	}
	if err := h.e.SetParent(ctx, router, ap); err == nil {
		t.Fatal("dependency cycle accepted")
	}
	poll := func(ts time.Time, ok bool) {
		h.clk.Set(ts)
		h.observe(Signal{Object: router, Time: ts, Kind: SignalPoll, OK: ok},
			Signal{Object: sw, Time: ts, Kind: SignalPoll, OK: ok},
			Signal{Object: ap, Time: ts, Kind: SignalPoll, OK: ok})
		h.tick()
	}
	for i := 0; i < 5; i++ {
		poll(t0.Add(time.Duration(i)*time.Minute), true)
	}
	for i := 5; i < 15; i++ { // 10 minutes: everything behind the router fails
		poll(t0.Add(time.Duration(i)*time.Minute), false)
	}
	for i := 15; i < 25; i++ {
		poll(t0.Add(time.Duration(i)*time.Minute), true)
	}
	rs := h.spans("router")
	if len(rs) != 1 || !slices.Equal(rs[0].Children, []string{"GS Am Park/ap1", "GS Am Park/sw1"}) {
		t.Fatalf("router spans %+v, want one outage listing both children", rs)
	}
	for _, d := range []string{"sw1", "ap1"} {
		s := h.spans(d)
		if len(s) != 1 || s[0].State != StateUnreachable || s[0].Cause != CauseParentDown {
			t.Fatalf("%s spans %+v, want one unreachable span", d, s)
		}
	}
	var downRows int
	h.db.QueryRow(`SELECT COUNT(*) FROM av_spans WHERE state='down'`).Scan(&downRows)
	if downRows != 1 {
		t.Fatalf("%d down rows stored, want 1 (at the router)", downRows)
	}
	if k := h.rec.kinds("sw1"); len(k) != 0 {
		t.Fatalf("child events %v", k)
	}
	r := report(t, h.db, Query{Site: "GS Am Park", Window: Window{From: t0, To: h.clk.Now()}, Now: h.clk.Now()})
	got := map[string]Row{}
	for _, row := range r.Rows {
		got[row.Device] = row
	}
	if got["router"].DownMin != "10" || got["router"].Outages != 1 {
		t.Fatalf("router: down %s outages %d", got["router"].DownMin, got["router"].Outages)
	}
	for _, d := range []string{"sw1", "ap1"} {
		if got[d].DownMS != 0 || got[d].UnreachableMin != "10" || got[d].Outages != 0 {
			t.Fatalf("%s: down %d unreachable %s outages %d, want 0, 10, 0", d, got[d].DownMS, got[d].UnreachableMin, got[d].Outages)
		}
	}
	if r.Total.Outages != 1 || r.Total.DownMin != "10" {
		t.Fatalf("site: %d outages, %s min down; want the outage once", r.Total.Outages, r.Total.DownMin)
	}
	// Only the router's down event is not marked unreachable.
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	for _, ev := range h.rec.events {
		if ev.Kind == EventDown && ev.Object.Device != "router" && !ev.Unreachable {
			t.Fatalf("child down event not marked unreachable: %+v", ev)
		}
	}
}

func TestFlappingDamped(t *testing.T) {
	h := newHarness(t, t0, Config{Poll: Detection{Interval: 10 * time.Second, Missed: 3, RecoverHold: 2 * time.Minute}})
	ap := info("ap1", "access_point")
	ts := t0
	step := func(ok bool, d time.Duration) {
		h.live(ap, SignalPoll, ok, ts, ts.Add(d-10*time.Second), 10*time.Second)
		ts = ts.Add(d)
	}
	step(true, time.Minute)
	// Down 1 min, up 30 s, down 1 min, up 40 s, down 1 min, then stable.
	step(false, time.Minute)
	step(true, 30*time.Second)
	step(false, time.Minute)
	step(true, 40*time.Second)
	step(false, time.Minute)
	step(true, 5*time.Minute)
	// Short failures below the detection time are noise, not outages.
	step(false, 20*time.Second)
	step(true, 5*time.Minute)
	s := h.spans("ap1")
	if len(s) != 1 || s[0].Start != ms(t0.Add(time.Minute)) || s[0].End != ms(t0.Add(5*time.Minute+10*time.Second)) {
		t.Fatalf("spans %+v, want one outage 1:00–5:10", s)
	}
	if k := h.rec.kinds("ap1"); !slices.Equal(k, []EventKind{EventDown, EventRecovered}) {
		t.Fatalf("events %v, want one down and one recovered", k)
	}
}

func TestRebootFromUptimeReset(t *testing.T) {
	h := newHarness(t, t0, Config{})
	sw := info("sw1", "switch")
	up := 1000.0
	for i := 0; i < 5; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute)
		h.clk.Set(ts)
		h.observe(Signal{Object: sw, Time: ts, Kind: SignalPoll, OK: true, Uptime: up + float64(60*i), HasUptime: true})
	}
	// At +5 min the uptime is 20 s: it booted at +4:40, after the last poll
	// at +4:00.
	ts := t0.Add(5 * time.Minute)
	h.clk.Set(ts)
	h.observe(Signal{Object: sw, Time: ts, Kind: SignalPoll, OK: true, Uptime: 20, HasUptime: true})
	s := h.spans("sw1")
	if len(s) != 1 || s[0].Cause != CauseReboot || s[0].Start != ms(t0.Add(4*time.Minute)) || s[0].End != ms(t0.Add(4*time.Minute+40*time.Second)) {
		t.Fatalf("spans %+v, want a reboot outage 4:00–4:40", s)
	}
}

func TestCheckServiceObjects(t *testing.T) {
	h := newHarness(t, t0, Config{})
	web := info("srv1", "server")
	web.Check = "http_moodle"
	h.live(web, SignalCheck, true, t0, t0.Add(2*time.Minute), time.Minute)
	h.live(web, SignalCheck, false, t0.Add(3*time.Minute), t0.Add(6*time.Minute), time.Minute)
	h.live(web, SignalCheck, true, t0.Add(7*time.Minute), t0.Add(8*time.Minute), time.Minute)
	states := h.e.States(func(o *Object) bool { return o.Check == "http_moodle" })
	if len(states) != 1 || states[0].State != StateUp {
		t.Fatalf("states %+v", states)
	}
	s := h.spans("srv1")
	if len(s) != 1 || s[0].Cause != CauseCheckFailed || s[0].Start != ms(t0.Add(3*time.Minute)) || s[0].End != ms(t0.Add(7*time.Minute)) {
		t.Fatalf("spans %+v", s)
	}
}

func TestPartitionBySite(t *testing.T) {
	h := newHarness(t, t0, Config{Partition: func(site int64) bool { return site == 2 }})
	other := info("srv1", "server")
	h.observe(Signal{Object: other, Time: t0, Kind: SignalHeartbeat, OK: true})
	if n := len(h.e.States(nil)); n != 0 {
		t.Fatalf("engine for site 2 took %d objects of site 1", n)
	}
}

func TestSegsRoundTrip(t *testing.T) {
	in := []seg{{S: 5, E: 100}, {S: 200, E: 250, Fail: true, Cause: CauseSNMPTimeout}, {S: 300, E: 300, Fail: true, Certain: true, Cause: CauseReboot}}
	out, err := decodeSegs(encodeSegs(in))
	if err != nil || !slices.Equal(in, out) {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := decodeSegs([]byte{0xff}); err == nil {
		t.Fatal("corrupt snapshot accepted")
	}
}

func TestServiceDependsOnItsDevice(t *testing.T) {
	h := newHarness(t, t0, Config{})
	router := info("router", "router")
	web := router
	web.Check = "ping"
	h.observe(Signal{Object: router, Time: t0, Kind: SignalPoll, OK: true}, Signal{Object: web, Time: t0, Kind: SignalCheck, OK: true})
	if err := h.e.SyncParents(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute)
		h.clk.Set(ts)
		h.observe(Signal{Object: router, Time: ts, Kind: SignalPoll, OK: i > 6}, Signal{Object: web, Time: ts, Kind: SignalCheck, OK: i > 6})
		h.tick()
	}
	var states []string
	rows, _ := h.db.Query(`SELECT o.device || '/' || o.check_name || ':' || s.state FROM av_spans s JOIN av_objects o ON o.id=s.object_id ORDER BY o.id`)
	for rows.Next() {
		var x string
		rows.Scan(&x)
		states = append(states, x)
	}
	rows.Close()
	if strings.Join(states, " ") != "router/:down router/ping:unreachable" {
		t.Fatalf("spans %v, want the outage at the router and the check unreachable", states)
	}
}

func TestRetireEndsMonitoring(t *testing.T) {
	h := newHarness(t, t0, Config{ReloadEvery: time.Second})
	pc := info("pc17", "endpoint")
	h.live(pc, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	h.quiet(10 * time.Minute) // the PC was taken away
	if s := h.spans("pc17"); len(s) != 1 || s[0].End != 0 {
		t.Fatalf("spans %+v", s)
	}
	at := t0.Add(5 * time.Minute)
	if err := Retire(context.Background(), h.db, pc.Key(), at); err != nil {
		t.Fatal(err)
	}
	h.quiet(time.Minute)
	if n := len(h.e.States(nil)); n != 0 {
		t.Fatalf("retired object still evaluated (%d objects)", n)
	}
	r := report(t, h.db, Query{Device: "pc17", Window: Window{From: t0, To: h.clk.Now()}, Now: h.clk.Now()})
	// Up 70 s, down from the first missed heartbeat to the retirement.
	if r.Total.ServiceMS != 5*60*1000 || r.Total.DownMS != 230*1000 {
		t.Fatalf("service %d ms down %d ms, want 300 s and 230 s", r.Total.ServiceMS, r.Total.DownMS)
	}
	if err := Retire(context.Background(), h.db, ObjectKey{1, "nope", ""}, at); err == nil || !strings.Contains(err.Error(), "no monitored object") {
		t.Fatalf("retiring an unknown object: %v", err)
	}
}

func TestLateDataRevisesOutageWithoutRevoking(t *testing.T) {
	h := newHarness(t, t0, Config{Heartbeat: Detection{Interval: 10 * time.Second, RecoverHold: 20 * time.Second}})
	srv := info("srv1", "server")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	// The last 20 s before the agent stopped never arrived; the outage is
	// raised from +70 s.
	h.quiet(5 * time.Minute)
	// On restart the agent sends its undelivered points (+70 s, +80 s)
	// with the new ones: the same outage, starting later and now closed.
	back := h.clk.Now()
	h.observe(Signal{Object: srv, Time: t0.Add(70 * time.Second), Kind: SignalHeartbeat, OK: true},
		Signal{Object: srv, Time: t0.Add(80 * time.Second), Kind: SignalHeartbeat, OK: true},
		Signal{Object: srv, Time: back, Kind: SignalHeartbeat, OK: true})
	h.live(srv, SignalHeartbeat, true, back.Add(10*time.Second), back.Add(time.Minute), 10*time.Second)
	s := h.spans("srv1")
	if len(s) != 1 || s[0].Start != ms(t0.Add(90*time.Second)) || s[0].End != ms(back) {
		t.Fatalf("spans %+v, want one outage from +90 s to the restart", s)
	}
	if k := h.rec.kinds("srv1"); !slices.Equal(k, []EventKind{EventDown, EventRecovered}) {
		t.Fatalf("events %v, want down and recovered only", k)
	}
}
