//go:build unix

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// runLocal starts scripts/run-local.sh (what `make run` runs after
// building) with the test's binaries, data directory and port, in its own
// process group as a terminal would run it.
func runLocal(t *testing.T, bin, data string, port int) (*exec.Cmd, *scriptOutput) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(testenv.RepoRoot(), "scripts", "run-local.sh"))
	cmd.Env = append(os.Environ(), "BIN="+bin, "SCHULMON_RUN_DIR="+data, fmt.Sprintf("PORT=%d", port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &scriptOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	return cmd, out
}

// TestMakeRunSmoke: the script prints the URL, the collector is healthy,
// the local agent's points arrive, and Ctrl-C (SIGINT to the process
// group) stops both cleanly.
func TestMakeRunSmoke(t *testing.T) {
	bin := testenv.Binaries(t)
	data := t.TempDir()
	port := testenv.FreePort(t)
	cmd, out := runLocal(t, bin, data, port)
	logs := func() string {
		a, _ := os.ReadFile(filepath.Join(data, "agent.log"))
		c, _ := os.ReadFile(filepath.Join(data, "collector.log"))
		return fmt.Sprintf("script:\n%s\nagent.log:\n%s\ncollector.log:\n%s", out.String(), a, c)
	}

	re := regexp.MustCompile(`schulmon is running: (http://127\.0\.0\.1:(\d+)/)`)
	var url string
	deadline := time.Now().Add(60 * time.Second)
	for url == "" && time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if url == "" {
		t.Fatalf("no 'schulmon is running' line; %s", logs())
	}
	if url != fmt.Sprintf("http://127.0.0.1:%d/", port) {
		t.Errorf("URL %s, want the port given in PORT (%d)", url, port)
	}
	resp, err := http.Get(url + "health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/health: %d", resp.StatusCode)
	}

	// The printed operator token reads the demo site; the agent (10 s
	// interval, 5 s flush) registers its host there and its heartbeat
	// arrives.
	tok, err := os.ReadFile(filepath.Join(data, "operator-token"))
	if err != nil {
		t.Fatal(err)
	}
	op := strings.TrimSpace(string(tok))
	if !strings.Contains(out.String(), "API token (operator): "+op) {
		t.Errorf("the operator token is not printed")
	}
	var devs []device
	var hb []series
	deadline = time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		devs, hb = nil, nil
		getJSON(t, url+"api/v1/sites/demo-schule/devices", op, &devs)
		if len(devs) == 1 {
			getJSON(t, url+"api/v1/series?site=demo-schule&device="+devs[0].Name+"&measurement=schulmon_agent&field=uptime_s&from=-5m", op, &hb)
			if len(hb) == 1 && len(hb[0].Samples) > 0 {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(devs) != 1 || devs[0].Class != "server" || devs[0].Status != "up" || len(hb) != 1 || len(hb[0].Samples) == 0 {
		t.Fatalf("the local agent's points did not arrive: devices %+v, heartbeat %+v; %s", devs, hb, logs())
	}

	// Ctrl-C.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("script after Ctrl-C: %v; %s", err, logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("script did not stop within 30 s of Ctrl-C; %s", logs())
	}
	if !strings.Contains(out.String(), "schulmon stopped.") {
		t.Errorf("no 'schulmon stopped.' line")
	}
	a, _ := os.ReadFile(filepath.Join(data, "agent.log"))
	c, _ := os.ReadFile(filepath.Join(data, "collector.log"))
	if !strings.Contains(string(a), "agent stopped") || !strings.Contains(string(c), "collector stopped") {
		t.Errorf("no clean shutdown in the logs; %s", logs())
	}
	for _, l := range strings.Split(string(a)+string(c), "\n") {
		if strings.Contains(l, "level=ERROR") {
			t.Errorf("error logged: %s", l)
		}
	}
	if _, err := http.Get(url + "health"); err == nil {
		t.Errorf("the collector still answers after Ctrl-C")
	}
}

// TestMakeRunFailsLoudly: a collector that cannot start makes the script
// fail at once, naming the health URL and showing the collector's log,
// instead of starting the agent and printing a URL that does not work.
func TestMakeRunFailsLoudly(t *testing.T) {
	real := testenv.Binaries(t)
	bin := t.TempDir()
	// Management commands work; serve fails as a broken store would.
	wrapper := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = serve ]; then echo 'open store: disk full' >&2; exit 1; fi\nexec %q \"$@\"\n", filepath.Join(real, "schulmon-collector"))
	if err := os.WriteFile(filepath.Join(bin, "schulmon-collector"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(real, "schulmon-agent"), filepath.Join(bin, "schulmon-agent")); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	cmd, out := runLocal(t, bin, t.TempDir(), port)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("script exited 0 although the collector never became healthy:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("script still running with a dead collector:\n%s", out.String())
	}
	s := out.String()
	if !strings.Contains(s, fmt.Sprintf("the collector did not become healthy at http://127.0.0.1:%d/health", port)) || !strings.Contains(s, "open store: disk full") {
		t.Errorf("the failure does not say what happened:\n%s", s)
	}
	if strings.Contains(s, "schulmon is running") {
		t.Errorf("printed the running line for a dead collector:\n%s", s)
	}
}

// scriptOutput collects the script's output while the test reads it.
type scriptOutput struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *scriptOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *scriptOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
