package availability_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/store/sqlite"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// writeEnv is the collector's write path with real parts: the tenancy
// directory, the ingest handler (which stamps the trusted tags and builds
// the batch), the embedded point store and the availability engine as the
// handler's observer, on a clock the test moves.
type writeEnv struct {
	t    *testing.T
	db   *sql.DB
	dir  *tenancy.Directory
	site tenancy.Site
	tok  string
	h    *ingest.Handler
	eng  *availability.Engine
	// round is what the host srv1 sends per gathering (agentRound).
	round func(host string, ts time.Time) string

	mu     sync.Mutex
	now    time.Time
	events []availability.Event
}

func (w *writeEnv) Now() time.Time  { w.mu.Lock(); defer w.mu.Unlock(); return w.now }
func (w *writeEnv) set(t time.Time) { w.mu.Lock(); w.now = t; w.mu.Unlock() }
func (w *writeEnv) HandleEvents(_ context.Context, ev []availability.Event) {
	w.mu.Lock()
	w.events = append(w.events, ev...)
	w.mu.Unlock()
}

func newWriteEnv(t *testing.T, start time.Time) *writeEnv {
	t.Helper()
	ctx := context.Background()
	w := &writeEnv{t: t, now: start, round: agentRound}
	data := t.TempDir()
	db, err := sqlitedb.Open(ctx, filepath.Join(data, "schulmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
	if w.dir, err = tenancy.New(ctx, db); err != nil {
		t.Fatal(err)
	}
	if w.site, err = w.dir.EnsureSite(ctx, "Moers", "GS Am Park", "grundschule"); err != nil {
		t.Fatal(err)
	}
	if w.tok, _, err = w.dir.CreateToken(ctx, tenancy.RoleAgent, &w.site, "agent"); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(data, "points.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if w.eng, err = availability.Open(ctx, db, availability.Config{Now: w.Now, Events: w}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.h = ingest.New(w.dir, st, ingest.Limits{TokenRequestsPerSecond: -1, TokenPointsPerSecond: -1}, log, nil)
	w.h.AddObserver(w.eng)
	t.Cleanup(w.h.Close)
	return w
}

// write posts line protocol (second precision) as the agent does.
func (w *writeEnv) write(lines string) {
	w.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v2/write?precision=s", strings.NewReader(lines))
	req.Header.Set("Authorization", "Token "+w.tok)
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		w.t.Fatalf("write: %d %s", rec.Code, rec.Body)
	}
}

func (w *writeEnv) tick() {
	w.t.Helper()
	if err := w.eng.Tick(context.Background(), w.Now()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writeEnv) state(device string) availability.ObjectState {
	w.t.Helper()
	s := w.eng.States(func(o *availability.Object) bool { return o.Device == device && o.Check == "" })
	if len(s) != 1 {
		w.t.Fatalf("%d objects named %s, want 1", len(s), device)
	}
	return s[0]
}

// spans lists a device's stored outages and unknown spans as
// "state/cause".
func (w *writeEnv) spans(device string) []string {
	w.t.Helper()
	rows, err := w.db.Query(`SELECT s.state, s.cause FROM av_spans s JOIN av_objects o ON o.id=s.object_id WHERE o.device=? AND o.check_name='' ORDER BY s.start_ms`, device)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var st, c string
		if err := rows.Scan(&st, &c); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, st+"/"+c)
	}
	return out
}

// agentRound is what a schulmon agent on host sends for one gathering:
// its heartbeat and host metrics, all tagged with its host name.
func agentRound(host string, ts time.Time) string {
	s := ts.Unix()
	return fmt.Sprintf(`schulmon_agent,class=server,host=%[1]s version="1.0.0",uptime_s=%[2]d,points_queued=0i,interval_s=10 %[2]d
cpu,class=server,cpu=cpu-total,host=%[1]s usage_idle=93.5,usage_user=4.1 %[2]d
mem,class=server,host=%[1]s used_percent=41.2,available=3221225472i %[2]d
disk,class=server,client_device=sda1,fstype=ext4,host=%[1]s,path=/ used_percent=63 %[2]d
`, host, s)
}

// telegrafRound is what Telegraf sends for one gathering: host metrics
// tagged with its host name, and no heartbeat measurement of its own.
func telegrafRound(host string, ts time.Time) string {
	return fmt.Sprintf(`cpu,cpu=cpu-total,host=%[1]s usage_idle=91.5,usage_user=6.1 %[2]d
mem,host=%[1]s used_percent=38.9 %[2]d
system,host=%[1]s load1=0.31,n_cpus=4i %[2]d
`, host, ts.Unix())
}

// switchPoll is what the agent's SNMP poller writes about a switch in one
// poll: the poll result, the system group, the interface table, LLDP
// neighbours and the endpoints learnt on its access ports, all named by
// the device tag.
func switchPoll(agent, sw string, ts time.Time, uptime int64) string {
	s := ts.Unix()
	var b strings.Builder
	fmt.Fprintf(&b, "snmp_poll,agent_host=%s,class=switch,device=%s,target=10.0.0.2:161 reachable=true,duration_s=0.41,error=\"\",sys_uptime_s=%d,rebooted=false,requests=6i,varbinds=412i %d\n", agent, sw, uptime, s)
	fmt.Fprintf(&b, "snmp_system,class=switch,device=%s sysName=\"%s\",sysDescr=\"Cisco IOS Software, C2960X\",sysUpTime=%di %d\n", sw, sw, uptime*100, s)
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "snmp_if,class=switch,device=%s,ifIndex=%d,ifName=Gi1/0/%d ifOperStatus=1i,ifHCInOctets=%di,ifHCOutOctets=%di %d\n", sw, i, i, uptime*1000+int64(i), uptime*900, s)
	}
	fmt.Fprintf(&b, "snmp_lldp,class=switch,device=%s,local_port=Gi1/0/24,remote_sysname=%s local_port_num=24i,remote_chassis_id=\"52:54:00:12:34:56\",remote_port_id=\"eth0\",remote_sysname=\"%s\" %d\n", sw, agent, agent, s)
	fmt.Fprintf(&b, "discovered_endpoint,class=switch,device=%s,endpoint=52:54:00:aa:bb:01 ip=\"10.0.0.50\",mac=\"52:54:00:aa:bb:01\",port=\"Gi1/0/3\" %d\n", sw, s)
	return b.String()
}

var agentStart = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// live runs the agent on srv1 for d: a round every 10 s, and every 60 s
// (3 s into the minute) a poll of sw1, sent together as the agent's
// sender does; the engine ticks every 10 s.
func (w *writeEnv) live(from time.Time, d time.Duration, pollSwitch bool) time.Time {
	w.t.Helper()
	end := from.Add(d)
	for ts := from; ts.Before(end); ts = ts.Add(10 * time.Second) {
		lines := w.round("srv1", ts)
		if pollSwitch && ts.Sub(from)%time.Minute == 0 {
			lines += switchPoll("srv1", "sw1", ts.Add(3*time.Second), int64(ts.Sub(agentStart)/time.Second)+86400)
		}
		w.set(ts.Add(5 * time.Second))
		w.write(lines)
		w.tick()
	}
	return end
}

// quiet moves the clock by d without writes, ticking every 10 s.
func (w *writeEnv) quiet(d time.Duration) {
	end := w.Now().Add(d)
	for w.Now().Before(end) {
		w.set(w.Now().Add(10 * time.Second))
		w.tick()
	}
}

// A switch polled every 60 s by an agent is judged by its polls (60 s
// interval, unknown when silent), not as a heartbeat of its own: the
// interface, LLDP and endpoint rows the poller writes about it are no
// heartbeat. When the polling agent stops, the agent's host is down and
// the switch is unknown, not down.
func TestPolledSwitchIsNoHeartbeatObject(t *testing.T) {
	w := newWriteEnv(t, agentStart)
	end := w.live(agentStart, 15*time.Minute, true)

	if st := w.state("sw1"); st.Object.Heartbeat || st.State != availability.StateUp {
		t.Fatalf("sw1 after 15 minutes of polls every 60 s: %+v, want up and no heartbeat object", st)
	}
	if s := w.spans("sw1"); len(s) != 0 {
		t.Fatalf("sw1 spans %v, want none: it answered every poll", s)
	}
	if st := w.state("srv1"); !st.Object.Heartbeat || st.State != availability.StateUp {
		t.Fatalf("srv1: %+v, want an up heartbeat object", st)
	}
	// Endpoints learnt on the switch's ports are not monitored objects.
	if n := len(w.eng.States(func(o *availability.Object) bool { return strings.HasPrefix(o.Device, "52:54") })); n != 0 {
		t.Fatalf("%d endpoint objects created from discovered_endpoint rows", n)
	}

	// The agent stops: nothing arrives any more.
	w.set(end)
	w.quiet(10 * time.Minute)
	if st := w.state("srv1"); st.State != availability.StateDown || st.Cause != availability.CauseHeartbeatLost {
		t.Fatalf("srv1 after its agent stopped: %+v, want down (heartbeat lost)", st)
	}
	if st := w.state("sw1"); st.State != availability.StateUnknown {
		t.Fatalf("sw1 after its poller stopped: %+v, want unknown", st)
	}
	for _, s := range w.spans("sw1") {
		if !strings.HasPrefix(s, "unknown/") {
			t.Fatalf("sw1 spans %v: silence of its poller counted as %s", w.spans("sw1"), s)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.Object.Device == "sw1" {
			t.Fatalf("event for sw1: %+v", e)
		}
	}
}

// An agent that was cut off for 10 minutes replays its buffer in one
// request: every one of its 60 gatherings is a heartbeat (every write
// counts, not only the first and last of a batch, and not only a
// schulmon_agent point: Telegraf sends none), so the suspected outage is
// revoked and none is stored.
func TestReplayBatchRevisesOutageAway(t *testing.T) {
	for name, round := range map[string]func(string, time.Time) string{"schulmon": agentRound, "telegraf": telegrafRound} {
		t.Run(name, func(t *testing.T) { testReplay(t, round) })
	}
}

func testReplay(t *testing.T, round func(string, time.Time) string) {
	w := newWriteEnv(t, agentStart)
	w.round = round
	cut := w.live(agentStart, 3*time.Minute, false)
	w.set(cut)
	w.quiet(10 * time.Minute)
	if st := w.state("srv1"); st.State != availability.StateDown {
		t.Fatalf("srv1 during the cut: %+v, want down (nothing arrives)", st)
	}
	back := cut.Add(10 * time.Minute)
	var replay strings.Builder
	for ts := cut; ts.Before(back); ts = ts.Add(10 * time.Second) {
		replay.WriteString(round("srv1", ts))
	}
	w.write(replay.String())
	w.live(back, 2*time.Minute, false)

	if s := w.spans("srv1"); len(s) != 0 {
		t.Fatalf("srv1 spans %v after the replay, want none: the replayed heartbeats prove it up", s)
	}
	if st := w.state("srv1"); st.State != availability.StateUp {
		t.Fatalf("srv1: %+v, want up", st)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var kinds []availability.EventKind
	for _, e := range w.events {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 2 || kinds[0] != availability.EventDown || kinds[1] != availability.EventRevoked {
		t.Fatalf("events %v, want the suspected outage and its revocation", kinds)
	}
}

// pollLines is one SNMP poll of dev by the agent on agent: the result
// and, if it answered, its LLDP neighbours (local port → remote system
// name).
func pollLines(agent, dev, class string, ts time.Time, ok bool, lldp map[string]string) string {
	s := ts.Unix()
	if !ok {
		return fmt.Sprintf("snmp_poll,agent_host=%s,class=%s,device=%s reachable=false,duration_s=3.0,error=\"request timeout\",rebooted=false %d\n", agent, class, dev, s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "snmp_poll,agent_host=%s,class=%s,device=%s reachable=true,duration_s=0.2,error=\"\",sys_uptime_s=%d,rebooted=false %d\n", agent, class, dev, s-agentStart.Unix()+86400, s)
	for port, remote := range lldp {
		fmt.Fprintf(&b, "snmp_lldp,class=%s,device=%s,local_port=%s,remote_sysname=%s local_port_num=1i,remote_chassis_id=\"52:54:00:00:00:01\",remote_port_id=\"x\",remote_sysname=\"%s\" %d\n", class, dev, port, remote, remote, s)
	}
	return b.String()
}

func (w *writeEnv) syncParents() {
	w.t.Helper()
	devs, err := w.dir.AllDevices(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.eng.SyncDevices(context.Background(), devs); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writeEnv) parents() map[string]string {
	out := map[string]string{}
	for _, s := range w.eng.States(nil) {
		if s.Object.Check == "" && s.Parent != "" {
			out[s.Object.Device] = s.Parent + " (" + s.Object.ParentSource + ")"
		}
	}
	return out
}

// LLDP neighbours that the agent's SNMP poller writes set the parents
// (oriented from the site's router), an operator's parent wins over them,
// and a down parent makes its child unreachable: the outage is counted
// once, at the parent.
func TestLLDPParentsThroughIngest(t *testing.T) {
	w := newWriteEnv(t, agentStart)
	ctx := context.Background()
	lldp := map[string]map[string]string{
		"gw":      {"ge-0/0/1": "sw-core"},
		"sw-core": {"Gi1/0/1": "gw", "Gi1/0/24": "sw2", "Gi1/0/2": "srv1.schule.local"},
		"sw2":     {"Gi1/0/48": "sw-core.schule.local", "Gi1/0/5": "pc1"},
	}
	class := map[string]string{"gw": "router", "sw-core": "switch", "sw2": "switch"}
	sw2Down := func(ts time.Time) bool { return false }
	round := func(ts time.Time) {
		lines := agentRound("srv1", ts)
		if !sw2Down(ts) {
			lines += strings.ReplaceAll(agentRound("pc1", ts), "class=server", "class=endpoint")
		}
		if ts.Sub(agentStart)%time.Minute == 0 {
			for _, dev := range []string{"gw", "sw-core", "sw2"} {
				lines += pollLines("srv1", dev, class[dev], ts.Add(2*time.Second), !(dev == "sw2" && sw2Down(ts)), lldp[dev])
			}
		}
		w.set(ts.Add(5 * time.Second))
		w.write(lines)
		w.tick()
	}
	ts := agentStart
	for ; ts.Before(agentStart.Add(5 * time.Minute)); ts = ts.Add(10 * time.Second) {
		round(ts)
	}
	w.syncParents()
	want := map[string]string{"sw-core": "gw (lldp)", "sw2": "sw-core (lldp)", "srv1": "sw-core (lldp)", "pc1": "sw2 (lldp)"}
	if got := w.parents(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parents from LLDP %v, want %v", got, want)
	}

	// An operator's parent wins, and LLDP decides again once it is removed.
	if err := w.dir.SetParent(ctx, w.site.ID, "pc1", "sw-core"); err != nil {
		t.Fatal(err)
	}
	w.syncParents()
	if got := w.parents()["pc1"]; got != "sw-core (manual)" {
		t.Fatalf("pc1's parent after the operator set one: %q", got)
	}
	if err := w.dir.SetParent(ctx, w.site.ID, "pc1", ""); err != nil {
		t.Fatal(err)
	}
	w.syncParents()
	if got := w.parents()["pc1"]; got != "sw2 (lldp)" {
		t.Fatalf("pc1's parent after the operator's was removed: %q", got)
	}

	// sw2 fails for 10 minutes; pc1 behind it falls silent with it.
	from, to := ts, ts.Add(10*time.Minute)
	sw2Down = func(ts time.Time) bool { return !ts.Before(from) && ts.Before(to) }
	for ; ts.Before(to.Add(10 * time.Minute)); ts = ts.Add(10 * time.Second) {
		round(ts)
	}
	sw2 := w.spans("sw2")
	if len(sw2) != 1 || sw2[0] != "down/snmp_timeout" {
		t.Fatalf("sw2 spans %v, want one outage", sw2)
	}
	var children string
	w.db.QueryRow(`SELECT s.children FROM av_spans s JOIN av_objects o ON o.id=s.object_id WHERE o.device='sw2'`).Scan(&children)
	if !strings.Contains(children, "pc1") {
		t.Fatalf("sw2's outage lists children %q, want pc1", children)
	}
	for _, s := range w.spans("pc1") {
		if s != "unreachable/parent_down" {
			t.Fatalf("pc1 spans %v: its time behind the down switch must be unreachable, not %s", w.spans("pc1"), s)
		}
	}
	if len(w.spans("pc1")) != 1 {
		t.Fatalf("pc1 spans %v, want one unreachable span", w.spans("pc1"))
	}
	rep, err := availability.BuildReport(ctx, w.db, availability.Query{Site: "GS Am Park", Window: availability.Window{From: agentStart, To: w.Now()}, Now: w.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var outages int
	for _, r := range rep.Rows {
		outages += r.Outages
		if r.Device == "pc1" && (r.DownMS != 0 || r.Outages != 0) {
			t.Fatalf("pc1 in the report: %+v, want no down time of its own", r)
		}
	}
	if outages != 1 {
		t.Fatalf("%d outages in the site's report, want 1 (at sw2)", outages)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// pc1's heartbeat is missed after 30 s, sw2's polls only after three
	// minutes: pc1 may be suspected down first, but that is revoked once
	// sw2's outage is known. No outage of pc1's own remains.
	open := map[int64]bool{}
	var sw2Events int
	for _, e := range w.events {
		switch {
		case e.Object.Device == "pc1" && e.Kind == availability.EventDown:
			open[e.Span.Start] = true
		case e.Object.Device == "pc1" && e.Kind == availability.EventRevoked:
			delete(open, e.Span.Start)
		case e.Object.Device == "pc1":
			t.Errorf("event for pc1 %+v: the outage is alerted at sw2", e)
		case e.Object.Device == "sw2" && e.Kind == availability.EventDown:
			sw2Events++
		}
	}
	if len(open) != 0 || sw2Events != 1 {
		t.Fatalf("pc1 down alerts not revoked: %v; sw2 down alerts: %d, want 1", open, sw2Events)
	}
}
