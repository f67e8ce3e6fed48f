//go:build unix

package pluginhost

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHangEverywhereIsTimedOut makes the hang plugin hang before its
// handshake, in Describe, in Configure and in Collect: every call has a
// deadline, so each is reported as the hang it is, with the plugin's name,
// within its timeout (plus the kill's grace), and the process is gone.
func TestHangEverywhereIsTimedOut(t *testing.T) {
	dir := buildPlugins(t)
	cases := []struct {
		where string
		want  string
		limit time.Duration // the timeout that applies
	}{
		{"start", "handshake failed: " + filepath.Join(dir, ExecPrefix+"hang") + " did not start within 1.5s (plugins.start_timeout)", 1500 * time.Millisecond},
		{"describe", "hung: describe did not answer within the timeout of 700ms; killed", 700 * time.Millisecond},
		{"configure", "hung: configure did not answer within the timeout of 700ms; killed", 700 * time.Millisecond},
		{"collect", "hung: collect did not answer within the timeout of 700ms; killed", 700 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.where, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			// go-plugin hands the agent's environment to the plugin.
			t.Setenv("SCHULMON_TEST_HANG", tc.where)
			t.Setenv("SCHULMON_TEST_HANG_PIDFILE", pidFile)
			logs := &syncBuffer{}
			h, err := New(Config{
				Dir:          dir,
				StartTimeout: 1500 * time.Millisecond,
				Instances:    []Instance{{Name: "stuck-" + tc.where, Plugin: "hang", Interval: time.Minute, Timeout: 700 * time.Millisecond}},
			}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Device: "d"})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			// Bounded, so that a call without a deadline fails the test
			// instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t0 := time.Now()
			if err := h.Once(ctx, rec); err != nil {
				t.Fatal(err)
			}
			took := time.Since(t0)
			ps := rec.find(MeasurementCheck, "stuck-"+tc.where)
			if len(ps) != 1 {
				t.Fatalf("check points: %+v", ps)
			}
			msg, _ := field(ps[0], "message").(string)
			if field(ps[0], "status") != int64(3) || !strings.Contains(msg, `plugin "hang" (check "stuck-`+tc.where+`")`) || !strings.Contains(msg, tc.want) {
				t.Errorf("status %v message %q, want unknown with %q", field(ps[0], "status"), msg, tc.want)
			}
			if len(logs.lines("plugin failed", "check=stuck-"+tc.where)) == 0 {
				t.Errorf("no 'plugin failed' line in the log:\n%s", logs.String())
			}
			// The timeout, go-plugin's graceful stop (2 s) and slack for a
			// loaded machine; without deadlines this would never return.
			if max := tc.limit + 2*time.Second + 5*time.Second; took > max {
				t.Errorf("took %s, want at most %s", took, max)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("the plugin wrote no pid: %v", err)
			}
			pid, _ := strconv.Atoi(string(b))
			waitFor(t, "the hung plugin process to be gone", 10*time.Second, func() bool { return gone(pid) })
		})
	}
}

// gone reports whether pid has exited (a zombie counts: it runs nothing).
func gone(pid int) bool {
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
	}
	return syscall.Kill(pid, 0) != nil
}
