package pluginhost

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// pluginPackages are built once per test binary into pluginDir, named as
// the host looks for them.
var pluginPackages = map[string]string{
	"http":       "./plugins/http",
	"tcp":        "./plugins/tcp",
	"ping":       "./plugins/ping",
	"dns":        "./plugins/dns",
	"backupage":  "./plugins/example", // the README's third-party plugin
	"panic":      "./agent/pluginhost/testdata/panic",
	"hang":       "./agent/pluginhost/testdata/hang",
	"oldproto":   "./agent/pluginhost/testdata/oldproto",
	"newerproto": "./agent/pluginhost/testdata/newerproto",
	"notaplugin": "./agent/pluginhost/testdata/notaplugin",
}

var (
	buildOnce sync.Once
	pluginDir string
	buildErr  error
)

// buildPlugins compiles every plugin (real executables, as an agent would
// find them on disk) into one directory shared by the package's tests.
func buildPlugins(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "schulmon-plugins-")
		if err != nil {
			buildErr = err
			return
		}
		pluginDir = dir
		raw := filepath.Join(dir, "raw")
		args := []string{"build", "-ldflags=-s -w", "-o", raw + string(filepath.Separator)}
		for _, pkg := range pluginPackages {
			args = append(args, pkg)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join("..", "..") // module root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build plugins: %v\n%s", err, out)
			return
		}
		ext := ""
		if runtime.GOOS == "windows" {
			ext = ".exe"
		}
		for name, pkg := range pluginPackages {
			src := filepath.Join(raw, filepath.Base(pkg)+ext)
			if err := os.Rename(src, filepath.Join(dir, ExecPrefix+name+ext)); err != nil {
				buildErr = err
				return
			}
		}
		_ = os.Remove(raw)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return pluginDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pluginDir != "" {
		os.RemoveAll(pluginDir)
	}
	os.Exit(code)
}

// recorder is a Sink that keeps every point.
type recorder struct {
	mu     sync.Mutex
	points []metric.Point
}

func (r *recorder) Add(ps ...metric.Point) {
	r.mu.Lock()
	r.points = append(r.points, ps...)
	r.mu.Unlock()
}

// checks returns the points of measurement meas whose check tag is check.
func (r *recorder) find(meas, check string) []metric.Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []metric.Point
	for _, p := range r.points {
		if c, _ := p.Tag("check"); p.Measurement == meas && c == check {
			out = append(out, p)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func field(p metric.Point, key string) any {
	v, ok := p.Field(key)
	if !ok {
		return nil
	}
	return v.Any()
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) lines(substrs ...string) []string {
	var out []string
next:
	for _, l := range strings.Split(s.String(), "\n") {
		for _, sub := range substrs {
			if !strings.Contains(l, sub) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}
