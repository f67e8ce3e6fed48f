package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

// env is a running collector with two schools in two municipalities,
// devices that reported through the real write API, and three web users.
type env struct {
	URL    string
	Srv    *server.Server
	Users  *users.Store
	Engine *availability.Engine
	// Tokens are the agent tokens of gs-nord and gs-sued.
	Tokens map[string]string
}

const (
	pwOperator = "operator-passwort-1"
	pwAnna     = "anna-passwort-12"
	pwPlanner  = "planer-passwort-1"
)

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith lets the test change the configuration; base is the URL the
// collector will serve on.
func newEnvWith(t testing.TB, configure func(cfg *config.Config, base string)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	// The seeded agents report every 5 minutes; with the default 10 s
	// heartbeat every gap between two samples would be an outage, and the
	// states would change while a test runs.
	for _, d := range []*availability.Detection{&cfg.Availability.Heartbeat, &cfg.Availability.Poll, &cfg.Availability.Check} {
		d.Interval = 5 * time.Minute
	}
	if configure != nil {
		configure(&cfg, "http://"+ln.Addr().String())
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	att, err := avserver.Attach(ctx, srv, cfg.Availability)
	if err != nil {
		t.Fatal(err)
	}
	srv.Web.SetAvailability(att.Engine)
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &env{URL: "http://" + ln.Addr().String(), Srv: srv, Engine: att.Engine, Tokens: map[string]string{}}

	us, err := users.Open(ctx, srv.MetaDB)
	if err != nil {
		t.Fatal(err)
	}
	e.Users = us
	a, err := srv.Dir.EnsureSite(ctx, "Moers", "gs-nord", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	b, err := srv.Dir.EnsureSite(ctx, "Kamp-Lintfort", "gs-sued", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name, role, pw string
		sites          []int64
	}{{"olga", tenancy.RoleOperator, pwOperator, nil}, {"anna", tenancy.RoleSchoolAdmin, pwAnna, []int64{a.ID}}, {"paul", tenancy.RolePlanner, pwPlanner, nil}} {
		if _, err := us.Add(ctx, u.name, u.role, u.pw, u.sites); err != nil {
			t.Fatal(err)
		}
	}
	// Data through the write API, as agents send it.
	now := time.Now()
	for _, s := range []tenancy.Site{a, b} {
		tok, _, err := srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &s, "test")
		if err != nil {
			t.Fatal(err)
		}
		e.Tokens[s.Name] = tok
		var lp strings.Builder
		for i := 12; i >= 0; i-- {
			ts := now.Add(-time.Duration(i) * 5 * time.Minute).UnixNano()
			fmt.Fprintf(&lp, "schulmon_agent,host=srv-%s uptime_s=%d %d\n", s.Name, 1000+i, ts)
			fmt.Fprintf(&lp, "cpu,cpu=cpu-total,host=srv-%s usage_user=%g,usage_system=3 %d\n", s.Name, 10+float64(i%5)*7, ts)
			fmt.Fprintf(&lp, "snmp_poll,device=sw-%s-1,class=switch reachable=true,duration_s=0.05 %d\n", s.Name, ts)
			fmt.Fprintf(&lp, "snmp_if,device=sw-%s-1,class=switch,ifIndex=1,ifName=Gi1/0/1 ifOperStatus=1i,in_bps=%d,out_bps=2000,ifInErrors=0u,ifOutErrors=1u %d\n", s.Name, 1_000_000+i, ts)
			fmt.Fprintf(&lp, "snmp_if,device=sw-%s-1,class=switch,ifIndex=2,ifName=Gi1/0/2 ifOperStatus=2i,ifInErrors=4u,ifOutErrors=0u %d\n", s.Name, ts)
			fmt.Fprintf(&lp, "snmp_poe_port,device=sw-%s-1,class=switch,poe_port=1.1,ifName=Gi1/0/1 delivering=true,admin_enabled=true %d\n", s.Name, ts)
			fmt.Fprintf(&lp, "snmp_poll,device=ap-%s-1,class=access_point reachable=true,duration_s=0.02 %d\n", s.Name, ts)
			fmt.Fprintf(&lp, "snmp_poll,device=drucker-%s,class=printer reachable=true,duration_s=0.03 %d\n", s.Name, ts)
		}
		if s.Name == "gs-nord" {
			seedProblems(&lp, now)
		}
		e.write(t, tok, lp.String())
	}
	// Detection runs on the engine's tick: run it now instead of waiting
	// for the job, so the outages are open when the pages are read.
	e.waitStates(t, now, map[string]availability.State{"nas-gs-nord": availability.StateDown, "srv-gs-nord/moodle-http": availability.StateDown,
		"srv-gs-nord/dns-schule": availability.StateUp, "kopierer-gs-nord": availability.StateUnknown, "srv-gs-sued": availability.StateUp})
	if err := srv.Dir.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	// An end device the switch's bridge table revealed.
	st, err := staffing.NewStore(ctx, srv.MetaDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordEndpoints(ctx, []staffing.Endpoint{{SiteID: a.ID, MAC: "00:1b:2c:3d:4e:5f", IP: "10.1.2.3", Hostname: "beamer-raum-12",
		Switch: "sw-gs-nord-1", Port: "Gi1/0/1", Seen: now}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// seedProblems adds gs-nord's troubles, all as an agent would send them:
// a NAS whose agent went silent 40 minutes ago (an open outage), a copier
// last polled 50 minutes ago (unknown), a failing and a passing check on
// the school server, and a linkDown trap from the switch.
func seedProblems(lp *strings.Builder, now time.Time) {
	for m := 60; m >= 40; m -= 5 {
		ts := now.Add(-time.Duration(m) * time.Minute).UnixNano()
		fmt.Fprintf(lp, "schulmon_agent,host=nas-gs-nord uptime_s=%d %d\n", 5000-m, ts)
	}
	for m := 60; m >= 50; m -= 5 {
		fmt.Fprintf(lp, "snmp_poll,device=kopierer-gs-nord,class=printer reachable=true,duration_s=0.04 %d\n", now.Add(-time.Duration(m)*time.Minute).UnixNano())
	}
	for m := 30; m >= 0; m -= 5 {
		ts := now.Add(-time.Duration(m) * time.Minute).UnixNano()
		fmt.Fprintf(lp, "check,host=srv-gs-nord,check=moodle-http,plugin=http status=2i,message=\"HTTP 503\",duration_s=0.2 %d\n", ts)
		fmt.Fprintf(lp, "check,host=srv-gs-nord,check=dns-schule,plugin=dns status=0i,message=\"ok\",duration_s=0.01 %d\n", ts)
	}
	fmt.Fprintf(lp, "snmp_trap,device=sw-gs-nord-1,class=switch,trap=linkDown trap_oid=\"1.3.6.1.6.3.1.1.5.3\",source=\"10.1.0.2\",if_name=\"Gi1/0/2\",message=\"Link Gi1/0/2 down (Raum 12)\" %d\n",
		now.Add(-20*time.Minute).UnixNano())
}

// write posts line protocol with an agent token through the write API.
func (e *env) write(t testing.TB, tok, lp string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/api/v2/write?precision=ns", strings.NewReader(lp))
	req.Header.Set("Authorization", "Token "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: HTTP %d: %s", resp.StatusCode, body)
	}
}

// waitStates ticks the engine until the objects ("device" or
// "device/check") are in the wanted states; the write path hands batches
// to the engine asynchronously.
func (e *env) waitStates(t testing.TB, now time.Time, want map[string]availability.State) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := e.Engine.Tick(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		got := map[string]availability.State{}
		for _, st := range e.Engine.States(func(*availability.Object) bool { return true }) {
			k := st.Object.Device
			if st.Object.Check != "" {
				k += "/" + st.Object.Check
			}
			got[k] = st.State
		}
		ok := true
		for k, s := range want {
			if got[k] != s {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine states %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
