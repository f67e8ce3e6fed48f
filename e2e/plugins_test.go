package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// buildCheckPlugins builds the named plugin packages into a fresh plugin
// directory as schulmon-plugin-<name>.
func buildCheckPlugins(t *testing.T, pkgs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", filepath.Join(dir, "schulmon-plugin-"+name), pkg)
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build plugin %s: %v\n%s", name, err, out)
		}
	}
	return dir
}

// TestCheckPluginResultsReachCollector runs the real agent with check
// plugins (a working tcp check, a check on another device, and a plugin
// that panics on every check) against the real collector: the check
// results arrive as `check` series with their status, the panicking plugin
// is reported unknown, and the agent keeps reporting.
func TestCheckPluginResultsReachCollector(t *testing.T) {
	bin := testenv.Binaries(t)
	plugins := buildCheckPlugins(t, map[string]string{
		"tcp":   "./plugins/tcp",
		"panic": "./agent/pluginhost/testdata/panic",
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	c := testenv.StartCollector(t, "")
	tok := c.Token("gs-p", "Stadt-P")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`collector:
  url: %s
  token: %s
  flush_interval: 1s
interval: 1s
device: srv-p
state_dir: %s
plugins:
  dir: %s
  restart_backoff: 200ms
  instances:
    - name: smb
      plugin: tcp
      interval: 1s
      timeout: 1s
      config: {address: "%s"}
    - name: moodle-https
      plugin: tcp
      interval: 1s
      timeout: 1s
      device: moodle
      class: server
      config: {address: "%s"}
    - name: broken
      plugin: panic
      interval: 1s
      timeout: 1s
`, c.URL, tok, dir, plugins, ln.Addr(), ln.Addr())
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
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s\ncollector log:\n%s", log.String(), c.Logs())
		}
	}()

	// statusOf waits for the check's status series and returns its last value.
	statusOf := func(device, check string) (float64, map[string]string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var got []series
			getJSON(t, c.URL+"/api/v1/series?device="+device+"&measurement=check&field=status&from=-5m", tok, &got)
			for _, s := range got {
				if s.Tags["check"] == check && len(s.Samples) > 0 {
					return s.Samples[len(s.Samples)-1].V, s.Tags
				}
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("no check series for device %s check %s", device, check)
		return 0, nil
	}
	v, tags := statusOf("srv-p", "smb")
	if v != 0 || tags["plugin"] != "tcp" || tags["site"] != "gs-p" {
		t.Errorf("smb: status %v tags %v, want 0 from plugin tcp in site gs-p", v, tags)
	}
	v, tags = statusOf("moodle", "moodle-https")
	if v != 0 || tags["plugin"] != "tcp" {
		t.Errorf("moodle-https: status %v tags %v", v, tags)
	}
	v, tags = statusOf("srv-p", "broken")
	if v != 3 || tags["plugin"] != "panic" {
		t.Errorf("broken: status %v tags %v, want 3 (unknown) from plugin panic", v, tags)
	}
	// The agent is still alive and its heartbeat still arrives.
	if cmd.ProcessState != nil {
		t.Fatalf("agent exited: %v", cmd.ProcessState)
	}
	var hb []series
	getJSON(t, c.URL+"/api/v1/series?device=srv-p&measurement=schulmon_plugin&field=restarts&from=-5m", tok, &hb)
	found := false
	for _, s := range hb {
		if s.Tags["check"] == "broken" && len(s.Samples) > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no schulmon_plugin restarts series for the broken plugin: %+v", hb)
	}
	if !bytes.Contains(log.Bytes(), []byte(`crashed during collect: panic: boom in collect`)) {
		t.Errorf("agent log lacks the crash reason")
	}
}
