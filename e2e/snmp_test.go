package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// TestAgentSNMPIntoCollector runs the real agent with an snmp: section
// against a real net-snmp snmpd and a real collector: the switch's poll
// results make it up in availability, a trap sent with the real snmptrap
// to the agent's receiver is listed by the collector's events API for the
// switch, the switch's forwarding table becomes discovered end devices in
// the staffing inventory, and after snmpd is stopped the switch goes down.
func TestAgentSNMPIntoCollector(t *testing.T) {
	if testenv.Quick() {
		t.Skip("end-to-end test with snmpd and the real binaries (about a minute); skipped with SCHULMON_QUICK=1")
	}
	snmptrap := testenv.NeedProgram(t, "snmptrap")
	// The forwarding table is served by snmpd's `override` directive: a
	// Linux host is no bridge, so two learned MACs (status 3) on bridge
	// port 47 are configured; everything else is what net-snmp reports.
	snmpd := testenv.StartSnmpd(t, `rocommunity schule 127.0.0.1
sysName sw-sysname
override .1.3.6.1.2.1.17.4.3.1.2.2.0.94.0.0.1 integer 47
override .1.3.6.1.2.1.17.4.3.1.2.2.0.94.0.0.2 integer 47
override .1.3.6.1.2.1.17.4.3.1.3.2.0.94.0.0.1 integer 3
override .1.3.6.1.2.1.17.4.3.1.3.2.0.94.0.0.2 integer 3
`)

	cfgPath := filepath.Join(t.TempDir(), "collector.yaml")
	// Detection compressed to the engine's floor (30 s) for polls.
	if err := os.WriteFile(cfgPath, []byte("availability:\n  tick: 1s\n  heartbeat: {interval: 1s, missed: 3}\n  poll: {interval: 1s, missed: 3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCollector(t, "", "--config", cfgPath)
	tok := c.Token("gs-snmp", "Stadt-S")
	op := c.Token("", "", "--role", "operator")

	trapAddr := freeUDPAddr(t)
	dir := t.TempDir()
	agentCfg := fmt.Sprintf(`collector:
  url: %s
  token: %s
  flush_interval: 1s
interval: 1s
device: srv-snmp
state_dir: %s
snmp:
  defaults: {community: schule, interval: 1s, timeout: 500ms, retries: 0}
  targets:
    - {name: sw-e2e, address: "udp://%s", class: switch, profiles: [system, interfaces, endpoints]}
  traps:
    listen: %s
    communities: [traps]
`, c.URL, tok, dir, snmpd.Addr(), trapAddr)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(agentCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(filepath.Join(testenv.Binaries(t), "schulmon-agent"), "--config", path)
	var agentLog bytes.Buffer
	agent.Stdout, agent.Stderr = &agentLog, &agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = agent.Process.Signal(os.Interrupt)
		_ = agent.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s\ncollector log:\n%s", agentLog.String(), c.Logs())
		}
	}()
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
	state := func() string {
		var list []struct {
			Object struct{ Device, Check string }
			State  string
		}
		getJSON(t, c.URL+"/api/v1/states?site=gs-snmp", op, &list)
		for _, s := range list {
			if s.Object.Device == "sw-e2e" && s.Object.Check == "" {
				return s.State
			}
		}
		return ""
	}

	// snmp_poll → availability.
	waitFor("sw-e2e up", 60*time.Second, func() bool { return state() == "up" })
	var devs []device
	getJSON(t, c.URL+"/api/v1/sites/gs-snmp/devices", op, &devs)
	classes := map[string]string{}
	for _, d := range devs {
		classes[d.Name] = d.Class
	}
	if classes["sw-e2e"] != "switch" || classes["srv-snmp"] != "server" {
		t.Errorf("devices of gs-snmp: %+v", devs)
	}

	// snmp_trap → events of the switch (the trap comes from 127.0.0.1,
	// the switch's address, so the agent names it sw-e2e).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, snmptrap, "-v2c", "-c", "traps", trapAddr, "", "1.3.6.1.6.3.1.1.5.3",
		"1.3.6.1.2.1.2.2.1.1.47", "i", "47", "1.3.6.1.2.1.2.2.1.7.47", "i", "1", "1.3.6.1.2.1.2.2.1.8.47", "i", "2")
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snmptrap: %v\n%s", err, out)
	}
	var ev struct {
		Events []struct {
			Device, Class, Kind, Name, Message string
		} `json:"events"`
	}
	waitFor("the linkDown trap in the events of sw-e2e", 30*time.Second, func() bool {
		getJSON(t, c.URL+"/api/v1/sites/gs-snmp/events?device=sw-e2e&kind=trap", op, &ev)
		for _, e := range ev.Events {
			if e.Name == "linkDown" && e.Device == "sw-e2e" && e.Class == "switch" {
				return true
			}
		}
		return false
	})

	// discovered_endpoint → staffing inventory: the two MACs are counted
	// as end devices of the site.
	endpoints := func() int {
		var rep struct {
			Sites []struct {
				Site    string         `json:"site"`
				Devices map[string]int `json:"devices"`
			} `json:"sites"`
		}
		getJSON(t, c.URL+"/api/v1/staffing", op, &rep)
		for _, s := range rep.Sites {
			if s.Site == "gs-snmp" {
				return s.Devices["endpoint"]
			}
		}
		return -1
	}
	waitFor("2 discovered end devices in the staffing inventory", 30*time.Second, func() bool { return endpoints() == 2 })

	// Stop snmpd: failed polls make the switch down after the detection
	// time, while the agent's own host stays up.
	snmpd.Stop()
	stopped := time.Now()
	waitFor("sw-e2e down after snmpd stopped", 90*time.Second, func() bool { return state() == "down" })
	d := time.Since(stopped)
	if d < 25*time.Second {
		t.Errorf("down after %s: sooner than the 30 s detection floor", d)
	}
	t.Logf("sw-e2e down %s after snmpd stopped", d.Round(time.Second))
	var reach []series
	getJSON(t, c.URL+"/api/v1/series?site=gs-snmp&device=sw-e2e&measurement=snmp_poll&field=reachable&from=-1m", op, &reach)
	if len(reach) != 1 || len(reach[0].Samples) == 0 || reach[0].Samples[len(reach[0].Samples)-1].V != 0 {
		t.Errorf("last snmp_poll reachable of sw-e2e is not false: %+v", reach)
	}
	if !strings.Contains(agentLog.String(), "snmp target unreachable") {
		t.Errorf("agent did not log the unreachable target")
	}
}

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
