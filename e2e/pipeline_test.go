// Package e2e runs schulmon's real binaries together: an agent reporting
// to a collector, with the CLI creating sites and tokens.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
	"github.com/schulmon/schulmon/metric"
)

func getJSON(t *testing.T, url, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

type device struct {
	Name   string `json:"name"`
	Class  string `json:"class"`
	Status string `json:"status"`
	Site   string `json:"site"`
}

type series struct {
	Measurement string            `json:"measurement"`
	Tags        map[string]string `json:"tags"`
	Samples     []struct {
		T time.Time `json:"t"`
		V float64   `json:"v"`
	} `json:"samples"`
}

// startAgent runs the real agent with a 1 s interval against url.
func startAgent(t *testing.T, bin, url, token, device string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("collector:\n  url: %s\n  token: %s\n  flush_interval: 1s\ninterval: 1s\ndevice: %s\nstate_dir: %s\n", url, token, device, dir)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "schulmon-agent"), "--config", path)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	return cmd
}

func TestAgentReportsToCollectorWithTrustedTags(t *testing.T) {
	c := testenv.StartCollector(t, "")
	tokA := c.Token("gs-a", "Stadt-A")
	tokB := c.Token("gs-b", "Stadt-B")
	startAgent(t, testenv.Binaries(t), c.URL, tokA, "srv-a")

	// The device registers itself with its first write.
	deadline := time.Now().Add(20 * time.Second)
	var devs []device
	for time.Now().Before(deadline) {
		devs = nil
		getJSON(t, c.URL+"/api/v1/sites/gs-a/devices", tokA, &devs)
		if len(devs) == 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(devs) != 1 || devs[0].Name != "srv-a" || devs[0].Class != "server" || devs[0].Status != "up" || devs[0].Site != "gs-a" {
		t.Fatalf("devices of gs-a = %+v, want srv-a, server, up\ncollector log:\n%s", devs, c.Logs())
	}

	// Host metrics and the heartbeat arrive under the trusted site.
	var got []series
	for time.Now().Before(deadline) {
		got = nil
		getJSON(t, c.URL+"/api/v1/series?device=srv-a&measurement=cpu&field=usage_idle&from=-1m", tokA, &got)
		if len(got) > 0 && len(got[0].Samples) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var total *series
	for i := range got {
		if got[i].Tags["cpu"] == "cpu-total" {
			total = &got[i]
		}
	}
	if total == nil {
		t.Fatalf("no cpu-total series: %+v", got)
	}
	if total.Tags["site"] != "gs-a" || total.Tags["device"] != "srv-a" || total.Tags["host"] != "srv-a" {
		t.Errorf("cpu tags = %v", total.Tags)
	}
	if v := total.Samples[0].V; v < 0 || v > 100 {
		t.Errorf("usage_idle = %v, want a percentage", v)
	}
	var hb []series
	getJSON(t, c.URL+"/api/v1/series?device=srv-a&measurement=schulmon_agent&field=uptime_s&from=-1m", tokA, &hb)
	if len(hb) != 1 || len(hb[0].Samples) == 0 {
		t.Errorf("heartbeat series = %+v", hb)
	}

	// School B's token sees neither A's devices nor A's series.
	if code := getJSON(t, c.URL+"/api/v1/sites/gs-a/devices", tokB, nil); code != http.StatusNotFound {
		t.Errorf("token B reading gs-a devices: status %d, want 404", code)
	}
	if code := getJSON(t, c.URL+"/api/v1/series?site=gs-a&device=srv-a&measurement=cpu&field=usage_idle", tokB, nil); code != http.StatusNotFound {
		t.Errorf("token B reading gs-a series: status %d, want 404", code)
	}
	var sitesB []struct{ Name string }
	getJSON(t, c.URL+"/api/v1/sites", tokB, &sitesB)
	if len(sitesB) != 1 || sitesB[0].Name != "gs-b" {
		t.Errorf("token B sees sites %+v, want only gs-b", sitesB)
	}
}

func TestAgentOncePrintsOneRound(t *testing.T) {
	bin := testenv.Binaries(t)
	out, err := exec.Command(filepath.Join(bin, "schulmon-agent"), "--once").Output()
	if err != nil {
		t.Fatalf("--once: %v", err)
	}
	var p metric.Parser
	if err := p.Parse(out, metric.PrecisionNS, 0); err != nil {
		t.Fatalf("--once output is not line protocol: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for i := range p.Rows {
		seen[string(p.Rows[i].Measurement)] = true
	}
	for _, m := range []string{"cpu", "mem", "swap", "disk", "diskio", "net", "system", "processes", "schulmon_agent", "schulmon_agent_collector"} {
		if !seen[m] {
			t.Errorf("--once printed no %s point", m)
		}
	}
}

func TestCheckConfigNamesUnknownKeyAndLine(t *testing.T) {
	bin := testenv.Binaries(t)
	dir := t.TempDir()
	agentCfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(agentCfg, []byte("collector:\n  url: http://127.0.0.1:8086\n  tokn: abc\n"), 0o600)
	out, err := exec.Command(filepath.Join(bin, "schulmon-agent"), "check-config", "--config", agentCfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 3: field tokn not found") {
		t.Errorf("agent check-config: err %v, output %q", err, out)
	}
	colCfg := filepath.Join(dir, "collector.yaml")
	os.WriteFile(colCfg, []byte("listen: 127.0.0.1:1\nstorage:\n  backend: embedded\n  retention: 1h\n"), 0o600)
	out, err = exec.Command(filepath.Join(bin, "schulmon-collector"), "check-config", "--config", colCfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 4: field retention not found") {
		t.Errorf("collector check-config: err %v, output %q", err, out)
	}
	os.WriteFile(colCfg, []byte("listen: 127.0.0.1:1\n"), 0o600)
	if out, err := exec.Command(filepath.Join(bin, "schulmon-collector"), "check-config", "--config", colCfg).CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("valid collector config rejected: %v %s", err, out)
	}
}

func TestRevokedTokenFails(t *testing.T) {
	c := testenv.StartCollector(t, "")
	tok := c.Token("gs-r", "Stadt-R")
	write := func() int {
		req, _ := http.NewRequest("POST", c.URL+"/api/v2/write?org=x&bucket=y", strings.NewReader("m v=1"))
		req.Header.Set("Authorization", "Token "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := write(); code != http.StatusNoContent {
		t.Fatalf("write before revoke: %d", code)
	}
	c.CLI("token", "revoke", tok[:9])
	// The collector re-reads the auth revision at least once a second.
	deadline := time.Now().Add(3 * time.Second)
	for code := write(); code != http.StatusUnauthorized; code = write() {
		if time.Now().After(deadline) {
			t.Fatalf("write after revoke: %d, want 401 within a second", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := getJSON(t, c.URL+"/api/v1/sites", tok, nil); code != http.StatusUnauthorized {
		t.Errorf("read after revoke: %d, want 401", code)
	}
	list := c.CLI("token", "list")
	if strings.Contains(list, tok) {
		t.Errorf("token list shows the secret")
	}
}
