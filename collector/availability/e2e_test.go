package availability_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/internal/testenv"
)

// TestEndToEndAgentOutageAlertRecoveryReport runs the real collector and
// agent: the agent reports, is stopped, the collector records the outage
// and sends a down alert to a webhook; the agent is started again, the
// outage closes, a recovered alert follows, and the report (CLI and API)
// counts the outage.
func TestEndToEndAgentOutageAlertRecoveryReport(t *testing.T) {
	if testenv.Quick() {
		t.Skip("end-to-end test with the real binaries (about a minute); skipped with SCHULMON_QUICK=1")
	}
	var mu sync.Mutex
	var alerts []alerting.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a alerting.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	kinds := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, a := range alerts {
			if a.Device == "srv-e2e" && a.BurnRate == nil {
				out = append(out, a.Kind)
			}
		}
		return out
	}

	cfgPath := filepath.Join(t.TempDir(), "collector.yaml")
	cfg := fmt.Sprintf(`availability:
  tick: 1s
  heartbeat: {interval: 1s, missed: 3, recover_hold: 3s}
  webhooks:
    - name: test
      url: %s/hook
`, hook.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCollector(t, "", "--config", cfgPath)
	tok := c.Token("gs-e2e", "Stadt-E2E")
	op := c.Token("", "", "--role", "operator")
	bin := testenv.Binaries(t)

	stateDir := t.TempDir()
	agentCfg := filepath.Join(stateDir, "agent.yaml")
	if err := os.WriteFile(agentCfg, []byte(fmt.Sprintf("collector:\n  url: %s\n  token: %s\n  flush_interval: 1s\ninterval: 1s\ndevice: srv-e2e\nstate_dir: %s\n", c.URL, tok, stateDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	var agentLog bytes.Buffer
	startAgent := func() *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "schulmon-agent"), "--config", agentCfg)
		cmd.Stdout, cmd.Stderr = &agentLog, &agentLog
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	stopAgent := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\ncollector log:\n%s\nagent log:\n%s", append(args, c.Logs(), agentLog.String())...)
	}
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", c.URL+path, nil)
		req.Header.Set("Authorization", "Token "+op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			fail("GET %s: %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		fail("timed out waiting for %s", what)
	}
	state := func() string {
		var states []availability.ObjectState
		get("/api/v1/states?site=gs-e2e", &states)
		for _, s := range states {
			if s.Object.Device == "srv-e2e" && s.Object.Check == "" {
				return string(s.State)
			}
		}
		return ""
	}

	agent := startAgent()
	waitFor("the agent's host to be up", 60*time.Second, func() bool { return state() == "up" })
	time.Sleep(3 * time.Second)

	// Stop the agent: after the detection time (30 s floor) the host is
	// down, with an open outage and a down alert.
	stopped := time.Now()
	stopAgent(agent)
	waitFor("the outage", 90*time.Second, func() bool { return state() == "down" })
	var outs []availability.Outage
	get("/api/v1/outages?site=gs-e2e", &outs)
	if len(outs) != 1 || !outs[0].Ongoing || outs[0].Cause != availability.CauseHeartbeatLost || outs[0].Device != "srv-e2e" {
		fail("outages %+v, want one ongoing heartbeat_lost outage of srv-e2e", outs)
	}
	if d := outs[0].Start.Sub(stopped); d < -10*time.Second || d > 10*time.Second {
		fail("outage starts %v after the agent stopped, want about when it stopped", d)
	}
	waitFor("the down alert", 30*time.Second, func() bool { return len(kinds()) >= 1 })

	// Start it again: the outage closes, and after the recover hold the
	// recovered alert follows.
	agent = startAgent()
	defer stopAgent(agent)
	waitFor("the recovery", 60*time.Second, func() bool {
		outs = nil
		get("/api/v1/outages?site=gs-e2e", &outs)
		return len(outs) == 1 && !outs[0].Ongoing
	})
	waitFor("the recovered alert", 40*time.Second, func() bool { return len(kinds()) >= 2 })
	if k := kinds(); strings.Join(k, ",") != "device_down,device_recovered" {
		fail("alerts %v, want device_down then device_recovered", k)
	}
	if state() != "up" {
		fail("state %s after recovery", state())
	}

	// The report counts the outage, through the CLI and the API.
	out := c.CLI("report", "availability", "--site", "gs-e2e", "--device", "srv-e2e", "--period", "rolling-30d", "--format", "json")
	var rep availability.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		fail("report output %q: %v", out, err)
	}
	row := rep.Total
	if row.Outages != 1 || row.DownMS < 30_000 || row.DownMS != int64(math.Round(outs[0].DurationSeconds*1000)) || row.Met == nil || *row.Met {
		fail("report %+v, want one outage of %v s, target missed", row.Figures, outs[0].DurationSeconds)
	}
	var api availability.Report
	get("/api/v1/availability?site=gs-e2e&device=srv-e2e&period=rolling-30d", &api)
	if api.Total.Outages != 1 || api.Total.DownMS != row.DownMS {
		fail("API report %+v differs from the CLI's %+v", api.Total.Figures, row.Figures)
	}
	md := c.CLI("report", "availability", "--site", "gs-e2e", "--period", "rolling-30d", "--format", "md")
	if !strings.Contains(md, "srv-e2e") || !strings.Contains(md, "| **no** |") {
		fail("markdown report:\n%s", md)
	}
}
