package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// e2ePlugins are the plugins the end-to-end tests run in the real agent:
// the bundled checks and the misbehaving test plugins.
var e2ePlugins = map[string]string{
	"http":       "./plugins/http",
	"tcp":        "./plugins/tcp",
	"ping":       "./plugins/ping",
	"dns":        "./plugins/dns",
	"panic":      "./agent/pluginhost/testdata/panic",
	"hang":       "./agent/pluginhost/testdata/hang",
	"oldproto":   "./agent/pluginhost/testdata/oldproto",
	"notaplugin": "./agent/pluginhost/testdata/notaplugin",
}

// checkPlugins builds e2ePlugins once per test process into a plugin
// directory, as schulmon-plugin-<name>. The hang plugin is also installed
// as hang-start, hang-describe and hang-configure: it hangs where its name
// says, so one agent runs every kind of hang.
func checkPlugins(t *testing.T) string {
	t.Helper()
	pluginsOnce.Do(func() {
		// Beside the agent and collector binaries, which live as long.
		pluginsDir = filepath.Join(testenv.Binaries(t), "plugins")
		raw := filepath.Join(pluginsDir, "raw")
		if pluginsErr = os.MkdirAll(raw, 0o755); pluginsErr != nil {
			return
		}
		args := []string{"build", "-ldflags=-s -w", "-o", raw + string(filepath.Separator)}
		for _, pkg := range e2ePlugins {
			args = append(args, pkg)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginsErr = fmt.Errorf("build plugins: %v\n%s", err, out)
			return
		}
		for name, pkg := range e2ePlugins {
			if pluginsErr = os.Rename(filepath.Join(raw, filepath.Base(pkg)), filepath.Join(pluginsDir, "schulmon-plugin-"+name)); pluginsErr != nil {
				return
			}
		}
		hang, err := os.ReadFile(filepath.Join(pluginsDir, "schulmon-plugin-hang"))
		if err != nil {
			pluginsErr = err
			return
		}
		for _, where := range []string{"start", "describe", "configure"} {
			if pluginsErr = os.WriteFile(filepath.Join(pluginsDir, "schulmon-plugin-hang-"+where), hang, 0o755); pluginsErr != nil {
				return
			}
		}
		pluginsErr = os.Remove(raw)
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginsDir
}

// TestCheckPluginResultsReachCollector runs the real agent with check
// plugins (a working tcp check, a check on another device, and a plugin
// that panics on every check) against the real collector: the check
// results arrive as `check` series with their status, the panicking plugin
// is reported unknown, and the agent keeps reporting.
func TestCheckPluginResultsReachCollector(t *testing.T) {
	bin := testenv.Binaries(t)
	plugins := checkPlugins(t)
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

	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := cl.Addr().String()
	cl.Close()

	// Checks every second, one failed interval makes a check down (the
	// engine's floor of 30 s of failures still applies).
	colCfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(colCfg, []byte("availability:\n  check: {interval: 1s, missed: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCollector(t, "", "--config", colCfg)
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
    - name: closed
      plugin: tcp
      interval: 1s
      timeout: 1s
      config: {address: "%s"}
`, c.URL, tok, dir, plugins, ln.Addr(), ln.Addr(), closed)
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
	if v, _ = statusOf("srv-p", "closed"); v != 2 {
		t.Errorf("closed: status %v, want 2 (critical)", v)
	}

	// The checks are service objects of the availability engine: the open
	// port is up, the closed one down; the broken plugin (unknown) is no
	// evidence either way, so it is never down.
	states := map[string]string{}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var list []struct {
			Object struct{ Device, Check string }
			State  string
		}
		getJSON(t, c.URL+"/api/v1/states?site=gs-p", tok, &list)
		for _, st := range list {
			if st.Object.Check != "" {
				states[st.Object.Device+"/"+st.Object.Check] = st.State
			}
		}
		if states["srv-p/smb"] == "up" && states["srv-p/closed"] == "down" {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if states["srv-p/smb"] != "up" || states["srv-p/closed"] != "down" || states["moodle/moodle-https"] != "up" || states["srv-p/broken"] == "down" {
		t.Errorf("availability states of the checks: %v", states)
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

// TestPluginsCommands: `schulmon-agent plugins list` shows the sums to pin,
// `plugins test` runs the checks once and fails when one cannot run.
func TestPluginsCommands(t *testing.T) {
	bin := testenv.Binaries(t)
	plugins := checkPlugins(t)
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
	sum := sha256.Sum256(must(os.ReadFile(filepath.Join(plugins, "schulmon-plugin-tcp"))))
	dir := t.TempDir()
	write := func(instances string) string {
		path := filepath.Join(dir, "agent.yaml")
		cfg := fmt.Sprintf("collector:\n  url: http://127.0.0.1:1\n  token: x\ndevice: srv-t\nplugins:\n  dir: %s\n  instances:\n%s", plugins, instances)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	agent := filepath.Join(bin, "schulmon-agent")
	path := write(fmt.Sprintf("    - {name: smb, plugin: tcp, sha256: %x, config: {address: %q}}\n", sum, ln.Addr().String()))
	out, err := exec.Command(agent, "plugins", "list", "-c", path).CombinedOutput()
	if err != nil || !regexp.MustCompile(fmt.Sprintf(`(?m)^tcp\s+%x\s`, sum)).Match(out) {
		t.Errorf("plugins list: %v\n%s", err, out)
	}
	out, err = exec.Command(agent, "plugins", "test", "-c", path).Output()
	if err != nil || !regexp.MustCompile(`smb\s+tcp\s+srv-t\s+OK\s+127\.0\.0\.1:\d+ open`).Match(out) {
		t.Errorf("plugins test: %v\n%s", err, out)
	}
	path = write("    - {name: gone, plugin: nosuch}\n")
	out, err = exec.Command(agent, "plugins", "test", "-c", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "UNKNOWN") || !strings.Contains(string(out), "1 check(s) could not run") {
		t.Errorf("plugins test with a missing plugin: %v\n%s", err, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
