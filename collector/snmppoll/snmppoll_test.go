package snmppoll_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/internal/testenv"
)

func TestConfigStrictAndNamesTheSite(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"snmp:\n  site: rz\n  targets: [{address: 10.0.0.1}]\n  intervall: 10s\n", "field intervall not found"},
		{"snmp:\n  site: rz\n  targets: [{address: 10.0.0.1, comunity: x}]\n", "field comunity not found"},
		{"snmp:\n  targets: [{address: 10.0.0.1}]\n", "snmp.site is empty"},
		{"snmp:\n  site: rz\n  targets: [{address: 10.0.0.1, profiles: [nosuch]}]\n", `snmp.targets[0] (10.0.0.1): unknown profile "nosuch"`},
		{"snmp:\n  site: rz\n", "no targets, traps or discovery"},
	} {
		_, err := config.Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	c, err := config.Parse(strings.NewReader("snmp:\n  site: rz-duisburg\n  defaults: {community: rz}\n  targets: [{address: 'udp://10.0.0.1:1161'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tg := c.SNMP.Targets[0]
	if tg.Address != "10.0.0.1" || tg.Port != 1161 || tg.Community != "rz" || tg.Interval != time.Minute || c.SNMP.FlushInterval != time.Second {
		t.Fatalf("defaults not filled in: %+v flush %v", tg, c.SNMP.FlushInterval)
	}
}

// TestCollectorPollsDataCentreDevices runs the real collector binary with
// an snmp: section against a real snmpd: the collector polls it itself,
// and the points take the write path of the configured site — device in
// the inventory with its class, series stored with the site's tags, and
// the availability engine sees the switch up.
func TestCollectorPollsDataCentreDevices(t *testing.T) {
	snmpd := testenv.StartSnmpd(t, "rocommunity rz 127.0.0.1\nsysName rz-core-sysname\nsysLocation Serverraum RZ\n")
	cfgPath := filepath.Join(t.TempDir(), "collector.yaml")
	cfg := fmt.Sprintf(`availability:
  tick: 1s
  poll: {interval: 1s, missed: 3}
snmp:
  site: rz-duisburg
  municipality: Kreis Wesel
  defaults: {community: rz, interval: 1s, timeout: 500ms, retries: 0}
  targets:
    - {name: rz-core01, address: "udp://%s", class: switch, profiles: [system, interfaces]}
`, snmpd.Addr())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCollector(t, "", "--config", cfgPath)
	op := c.Token("", "", "--role", "operator")
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
			t.Fatalf("GET %s: %d\ncollector log:\n%s", path, resp.StatusCode, c.Logs())
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	type series struct {
		Tags    map[string]string `json:"tags"`
		Samples []struct {
			V float64 `json:"v"`
		} `json:"samples"`
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s\ncollector log:\n%s", what, c.Logs())
	}

	var reach []series
	waitFor("snmp_poll reachable=true for rz-core01", func() bool {
		var devs []struct{ Name, Class string }
		get("/api/v1/sites/rz-duisburg/devices", &devs)
		found := false
		for _, d := range devs {
			found = found || (d.Name == "rz-core01" && d.Class == "switch")
		}
		if !found {
			return false
		}
		get("/api/v1/series?site=rz-duisburg&device=rz-core01&measurement=snmp_poll&field=reachable&from=-5m", &reach)
		return len(reach) == 1 && len(reach[0].Samples) > 0 && reach[0].Samples[len(reach[0].Samples)-1].V == 1
	})
	if tg := reach[0].Tags; tg["site"] != "rz-duisburg" || tg["agent_host"] != "schulmon-collector" || tg["target"] != snmpd.Addr() {
		t.Errorf("snmp_poll tags: %v", tg)
	}
	// The polled data itself: the loopback interface's octet counter.
	var octets []series
	get("/api/v1/series?site=rz-duisburg&device=rz-core01&measurement=snmp_if&field=ifHCInOctets&from=-5m", &octets)
	lo := false
	for _, s := range octets {
		lo = lo || (s.Tags["ifName"] == "lo" && len(s.Samples) > 0)
	}
	if !lo {
		t.Errorf("no snmp_if ifHCInOctets series for lo: %+v", octets)
	}
	waitFor("availability state up for rz-core01", func() bool {
		var states []struct {
			Object struct{ Site, Device, Check string }
			State  string
		}
		get("/api/v1/states?site=rz-duisburg", &states)
		for _, s := range states {
			if s.Object.Device == "rz-core01" && s.Object.Check == "" {
				return s.State == "up"
			}
		}
		return false
	})

	// check-config rejects a typo in the section, naming the key.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(cfg, "retries: 0", "retrys: 0", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(c.Bin, "schulmon-collector"), "check-config", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "retrys") {
		t.Errorf("check-config with a typo under snmp.defaults: %v\n%s", err, out)
	}
}
