//go:build unix

package pluginhost

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/schulmon/schulmon/plugins/sdk"
)

// TestFrozenPluginIsKilled stops a running plugin process (SIGSTOP), as a
// plugin stuck in the kernel would be: the check must report it hung, the
// host must get rid of the process although it answers nothing, and the
// next start must bring the check back.
func TestFrozenPluginIsKilled(t *testing.T) {
	dir := buildPlugins(t)
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
	cfg := Config{Dir: dir, RestartBackoff: 100 * time.Millisecond}.withDefaults()
	r := &runner{
		inst:    Instance{Name: "frozen", Plugin: "tcp", Interval: time.Minute, Timeout: 500 * time.Millisecond, Config: map[string]any{"address": ln.Addr().String()}},
		cfg:     cfg,
		device:  "d",
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		backoff: cfg.RestartBackoff,
	}
	ctx := context.Background()
	if err := r.start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(r.client.ID())
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	// kill(2) returns before every thread of the plugin has stopped; under
	// load a thread still running could answer the next call.
	waitStopped(t, pid)

	rec := &recorder{}
	t0 := time.Now()
	done := make(chan struct{})
	go func() {
		r.cycle(ctx, rec)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * killWait):
		t.Fatal("the host is stuck stopping a frozen plugin")
	}
	t.Logf("cycle took %s", time.Since(t0))
	ps := rec.find(MeasurementCheck, "frozen")
	if len(ps) != 1 || !strings.Contains(field(ps[0], "message").(string), "hung: collect did not answer within the timeout of 500ms") {
		t.Fatalf("check points: %+v", ps)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		// Still there: only acceptable as a zombie not yet reaped.
		t.Errorf("frozen plugin process %d still exists", pid)
	}
	// After the back-off the plugin is started again and the check is ok.
	<-r.retry.C
	r.retry = nil
	if err := r.start(ctx); err != nil {
		t.Fatal(err)
	}
	rec.points = nil
	r.cycle(ctx, rec)
	ps = rec.find(MeasurementCheck, "frozen")
	if len(ps) != 1 || field(ps[0], "status") != int64(0) {
		t.Fatalf("after restart: %+v", ps)
	}
	if r.restarts != 1 {
		t.Errorf("restarts %d, want 1", r.restarts)
	}
	if r.backoff != cfg.RestartBackoff {
		t.Errorf("back-off %s after a good check, want it reset to %s", r.backoff, cfg.RestartBackoff)
	}
	r.kill()
}

// TestOrphanedPluginExits: when the agent dies without stopping its
// plugins, they notice (sdk.Serve watches the parent) and exit.
func TestOrphanedPluginExits(t *testing.T) {
	dir := buildPlugins(t)
	// The shell starts the plugin in the background and exits once it is
	// serving, orphaning it as a killed agent would.
	hsFile := filepath.Join(t.TempDir(), "handshake")
	cmd := exec.Command("sh", "-c", `"$0" >"$1" 2>/dev/null & p=$!; i=0; while ! grep -q grpc "$1" && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done; echo $p`, filepath.Join(dir, ExecPrefix+"tcp"), hsFile)
	cmd.Env = append(os.Environ(), sdk.Handshake.MagicCookieKey+"="+sdk.Handshake.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	alive := func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return syscall.Kill(pid, 0) == nil // no /proc: ask the kernel
		}
		f := strings.Fields(string(b))
		return len(f) > 2 && f[2] != "Z" // a zombie has exited
	}
	// Serving: it printed its handshake line (…|grpc|).
	waitFor(t, "the plugin's handshake", 15*time.Second, func() bool {
		b, _ := os.ReadFile(hsFile)
		return strings.Contains(string(b), "|grpc")
	})
	if !alive() {
		t.Fatal("the plugin exited before it was orphaned long enough to matter")
	}
	waitFor(t, "the orphaned plugin to exit", 15*time.Second, func() bool { return !alive() })
}

// waitStopped waits until every thread of pid is in the stopped state.
// Without /proc (macOS) it can only give the signal a moment.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	taskDir := "/proc/" + strconv.Itoa(pid) + "/task"
	if _, err := os.Stat(taskDir); err != nil {
		time.Sleep(200 * time.Millisecond)
		return
	}
	waitFor(t, "the plugin's threads to stop", 10*time.Second, func() bool {
		stats, _ := filepath.Glob(taskDir + "/*/stat")
		if len(stats) == 0 {
			return false
		}
		for _, f := range stats {
			b, err := os.ReadFile(f)
			if err != nil {
				return false
			}
			// The state follows the command name in parentheses.
			s := string(b)
			i := strings.LastIndexByte(s, ')')
			if i < 0 || i+2 >= len(s) || (s[i+2] != 'T' && s[i+2] != 't') {
				return false
			}
		}
		return true
	})
}
