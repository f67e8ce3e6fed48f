// Package testenv helps tests run schulmon's real binaries and the real
// programs they talk to: it builds bin/ once per test process, finds free
// loopback ports, starts a collector with a fresh data directory and
// creates tokens through the collector's own CLI.
package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// RepoRoot is the module root (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries builds schulmon-agent and schulmon-collector once per test
// process and returns the directory holding them.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "schulmon-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./agent/cmd/schulmon-agent", "./collector/cmd/schulmon-collector")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build binaries: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Quick reports whether tests that need external programs may be skipped.
func Quick() bool { return os.Getenv("SCHULMON_QUICK") == "1" }

// NeedProgram returns the path of an external program a test drives; it
// fails the test (or skips it in quick mode) when the program is missing.
func NeedProgram(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{filepath.Join(RepoRoot(), ".tools"), "/usr/sbin", "/usr/bin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				return filepath.Join(dir, name)
			}
		}
		if Quick() {
			t.Skipf("%s not installed (SCHULMON_QUICK=1)", name)
		}
		t.Fatalf("%s is not installed: run 'make deps' (it installs every program the tests drive)", name)
	}
	return p
}

// Collector is a running schulmon-collector process.
type Collector struct {
	URL     string
	Addr    string
	DataDir string
	Bin     string
	cmd     *exec.Cmd
	Log     *bytes.Buffer
	logMu   *sync.Mutex
	t       testing.TB
	args    []string
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// StartCollector starts a collector on a free port with a new data
// directory (or dataDir, if not empty) and waits until it is healthy. It
// is stopped when the test ends.
func StartCollector(t testing.TB, dataDir string, extraArgs ...string) *Collector {
	t.Helper()
	return startCollector(t, "http", dataDir, extraArgs)
}

// StartCollectorTLS is StartCollector for a collector that serves HTTPS:
// extraArgs must turn TLS on (e.g. --config with tls.self_signed: true).
// Its readiness probe does not verify the certificate; that is the
// test's job, as it is the agent's.
func StartCollectorTLS(t testing.TB, dataDir string, extraArgs ...string) *Collector {
	t.Helper()
	return startCollector(t, "https", dataDir, extraArgs)
}

func startCollector(t testing.TB, scheme, dataDir string, extraArgs []string) *Collector {
	t.Helper()
	bin := Binaries(t)
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	port := FreePort(t)
	c := &Collector{Addr: fmt.Sprintf("127.0.0.1:%d", port), DataDir: dataDir, Bin: bin, Log: &bytes.Buffer{}, logMu: &sync.Mutex{}, t: t, args: extraArgs}
	c.URL = scheme + "://" + c.Addr
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Start (re)starts the collector process on its address.
func (c *Collector) Start() {
	c.t.Helper()
	args := append([]string{"serve", "--data-dir", c.DataDir, "--listen", c.Addr}, c.args...)
	c.cmd = exec.Command(filepath.Join(c.Bin, "schulmon-collector"), args...)
	w := syncWriter{c.logMu, c.Log}
	c.cmd.Stdout, c.cmd.Stderr = w, w
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start collector: %v", err)
	}
	probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := probe.Get(c.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("collector did not become healthy; log:\n%s", c.Logs())
}

// Logs returns what the collector printed so far.
func (c *Collector) Logs() string {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	return c.Log.String()
}

// Stop stops the collector gracefully (SIGTERM) and waits.
func (c *Collector) Stop() {
	if c.cmd == nil || c.cmd.Process == nil || c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// Kill stops the collector with SIGKILL.
func (c *Collector) Kill() {
	if c.cmd == nil || c.cmd.Process == nil || c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// CLI runs a collector management command on the collector's data
// directory and returns its output.
func (c *Collector) CLI(args ...string) string {
	c.t.Helper()
	args = append(args, "--data-dir", c.DataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(c.Bin, "schulmon-collector"), args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("schulmon-collector %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Token creates a token through the CLI and returns its secret (the last
// line of the command's output). Extra args such as "--role operator".
func (c *Collector) Token(site, municipality string, extra ...string) string {
	c.t.Helper()
	args := []string{"token", "create"}
	if site != "" {
		args = append(args, "--site", site, "--municipality", municipality)
	}
	out := strings.TrimSpace(c.CLI(append(args, extra...)...))
	lines := strings.Split(out, "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
