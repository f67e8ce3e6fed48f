// Package influxtest starts a real InfluxDB 1.8 server (influxd) for tests:
// on free loopback ports, in a temporary directory, with Flux and the v2
// compatibility API enabled, and stops it when the test ends. It can stop
// and restart the server on the same ports and data, to test outages.
//
// The binary is found at $SCHULMON_INFLUXD, at .tools/influxd in the
// repository, or on PATH. Without it a test fails with "run make deps",
// unless SCHULMON_QUICK=1 is set, in which case it is skipped.
package influxtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Database is the database every Server creates; Bucket is its v2 name.
const (
	Database = "schulmon"
	Bucket   = Database + "/autogen"
	// Token is accepted by InfluxDB 1.8 in the v2 "user:password" form;
	// authentication is disabled in the test server unless Config.Auth is
	// set, which makes it the admin user.
	Token = User + ":" + Password
	// User and Password of the admin user of a server with Config.Auth.
	User, Password = "schulmon", "secret"
)

// Config changes the test server's influxdb.conf.
type Config struct {
	// Auth turns on authentication ([http] auth-enabled) and creates the
	// admin user User with Password; the helpers send them.
	Auth bool
	// MaxBodySize is [http] max-body-size in bytes (InfluxDB answers 413
	// above it); 0 keeps InfluxDB's default of 25 MB.
	MaxBodySize int
	// NoFlux leaves Flux off: the server starts in about a second
	// instead of compiling Flux's library. Flux then fails.
	NoFlux bool
}

// Binary returns the path of influxd, or an error saying how to get it.
func Binary() (string, error) {
	if p := os.Getenv("SCHULMON_INFLUXD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SCHULMON_INFLUXD=%s: %w: point it at an influxd 1.8.10 binary or unset it and run make deps", p, err)
		}
		return p, nil
	}
	// .tools/influxd at the module root, found upwards from the test's
	// working directory (its package folder).
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				p := filepath.Join(d, ".tools", "influxd")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("influxd (InfluxDB 1.8.10) not found at $SCHULMON_INFLUXD, .tools/influxd or on PATH: run make deps (it runs 'GOBIN=$PWD/.tools go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10'), or set SCHULMON_QUICK=1 to skip tests that need it")
}

// Server is a running (or stopped) influxd.
type Server struct {
	// URL is the HTTP base URL, e.g. http://127.0.0.1:38112.
	URL string

	tb      testing.TB
	cfg     Config
	bin     string
	dir     string
	conf    string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

var (
	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error
	dbSeq     int
)

// Shared returns one influxd for all tests of the package that call it,
// started on first use (InfluxDB 1.8 with Flux takes from a few seconds
// to a minute to start on a busy machine). Call StopShared from TestMain
// after m.Run. Tests that stop the server must use Start instead.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = start(packageTB{tb}, Config{})
	}
	if sharedErr != nil {
		if os.Getenv("SCHULMON_QUICK") == "1" && errors.Is(sharedErr, errNoBinary) {
			tb.Skip("SCHULMON_QUICK=1: " + sharedErr.Error())
		}
		tb.Fatal(sharedErr)
	}
	shared.tb = tb
	return shared
}

// StopShared stops the server Shared started, if any.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		shared.Stop()
		os.RemoveAll(shared.dir)
		shared = nil
	}
}

// packageTB lets the shared server outlive the test that started it: its
// directory is not the test's TempDir.
type packageTB struct{ testing.TB }

// NewDatabase creates a fresh database and returns its v2 bucket name
// ("db/autogen"), so that tests sharing a server do not see each other's
// points.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	sharedMu.Lock()
	dbSeq++
	name := fmt.Sprintf("test%d", dbSeq)
	sharedMu.Unlock()
	if err := s.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatal(err)
	}
	return name + "/autogen"
}

var errNoBinary = errors.New("influxd not found")

// Start starts influxd for the test and registers its shutdown with
// tb.Cleanup. It creates Database.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Config{})
}

// StartWith is Start with a changed configuration.
func StartWith(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := start(tb, cfg)
	if err != nil {
		if os.Getenv("SCHULMON_QUICK") == "1" && errors.Is(err, errNoBinary) {
			tb.Skip("SCHULMON_QUICK=1: " + err.Error())
		}
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

func start(tb testing.TB, cfg Config) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoBinary, err)
	}
	var dir string
	if _, ok := tb.(packageTB); ok {
		if dir, err = os.MkdirTemp("", "schulmon-influxd-"); err != nil {
			return nil, err
		}
	} else {
		dir = tb.TempDir()
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{tb: tb, cfg: cfg, bin: bin, dir: dir, URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	s.conf = filepath.Join(dir, "influxdb.conf")
	maxBody := cfg.MaxBodySize
	if maxBody == 0 {
		maxBody = 25e6
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  flux-enabled = %t
  auth-enabled = %t
  max-body-size = %d
[logging]
  level = "warn"
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort, !cfg.NoFlux, cfg.Auth, maxBody)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	if cfg.Auth {
		// InfluxDB lets the first admin user be created without
		// credentials.
		if err := s.exec("CREATE USER "+User+" WITH PASSWORD '"+Password+"' WITH ALL PRIVILEGES", false); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if err := s.Exec("CREATE DATABASE " + Database); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	lf, err := os.OpenFile(filepath.Join(s.dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "run", "-config", s.conf)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start influxd %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited, s.logFile = cmd, exited, lf
	// InfluxDB 1.8 compiles Flux's standard library at start: seconds on
	// an idle machine, a minute or more on a loaded one.
	deadline := time.Now().Add(180 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("influxd exited at start; log:\n%s", s.log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("influxd did not answer /ping within 180 s; log:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "influxd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop stops influxd gracefully (SIGTERM, then SIGKILL after 20 s) and
// waits for it. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.logFile.Close()
	s.cmd = nil
}

// Restart starts a stopped server again on the same port and data.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatal(err)
	}
}

// Exec runs an InfluxQL statement through the 1.x /query endpoint.
func (s *Server) Exec(q string) error {
	return s.exec(q, s.cfg.Auth)
}

// Count returns the single number an InfluxQL query such as
// "SELECT count(f) FROM m" answers in database db, 0 if it has no rows.
// It works without Flux.
func (s *Server) Count(db, q string) (int64, error) {
	resp, err := s.postQuery(url.Values{"q": {q}, "db": {db}}, s.cfg.Auth)
	if err != nil {
		return 0, fmt.Errorf("influxql %q: %w", q, err)
	}
	defer resp.Body.Close()
	var r struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return 0, fmt.Errorf("influxql %q: %s: %w", q, resp.Status, err)
	}
	if len(r.Results) != 1 || r.Results[0].Error != "" {
		return 0, fmt.Errorf("influxql %q: %s: %+v", q, resp.Status, r.Results)
	}
	if len(r.Results[0].Series) == 0 {
		return 0, nil
	}
	vals := r.Results[0].Series[0].Values
	if len(vals) != 1 || len(vals[0]) < 2 {
		return 0, fmt.Errorf("influxql %q: want one row with one number, got %v", q, vals)
	}
	n, ok := vals[0][1].(json.Number)
	if !ok {
		return 0, fmt.Errorf("influxql %q: %v is not a number", q, vals[0][1])
	}
	return n.Int64()
}

// postQuery posts to /query; InfluxDB takes the credentials from the URL
// or Basic auth, not from a form body.
func (s *Server) postQuery(v url.Values, auth bool) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, s.URL+"/query", strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth {
		req.SetBasicAuth(User, Password)
	}
	return http.DefaultClient.Do(req)
}

func (s *Server) exec(q string, auth bool) error {
	resp, err := s.postQuery(url.Values{"q": {q}}, auth)
	if err != nil {
		return fmt.Errorf("influxql %q: %w", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("influxql %q: %s: %s", q, resp.Status, body)
	}
	return nil
}

// WriteLines writes line protocol (nanosecond timestamps) straight into
// bucket, bypassing the collector; for seeding.
func (s *Server) WriteLines(ctx context.Context, bucket, lines string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v2/write?bucket="+url.QueryEscape(bucket)+"&precision=ns", strings.NewReader(lines))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Token "+Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("seed influxd: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("seed influxd: %s: %s", resp.Status, b)
	}
	return nil
}

// Flux runs a Flux query and returns the raw annotated CSV.
func (s *Server) Flux(ctx context.Context, query string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v2/query", strings.NewReader(query))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Token "+Token)
	req.Header.Set("Content-Type", "application/vnd.flux")
	req.Header.Set("Accept", "application/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("flux query: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("flux query: %s: %s", resp.Status, b)
	}
	return string(b), nil
}

// PointsWrittenOK is influxd's count of points its HTTP write endpoints
// stored since it started (httpd pointsWrittenOK in /debug/vars): every
// point the collector sent again shows up here, even when InfluxDB
// overwrote it with itself.
func (s *Server) PointsWrittenOK() (int64, error) {
	req, err := http.NewRequest(http.MethodGet, s.URL+"/debug/vars", nil)
	if err != nil {
		return 0, err
	}
	if s.cfg.Auth {
		req.SetBasicAuth(User, Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read influxd /debug/vars: %w", err)
	}
	defer resp.Body.Close()
	var vars map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return 0, fmt.Errorf("decode influxd /debug/vars: %w", err)
	}
	var total int64
	found := false
	for k, raw := range vars {
		if !strings.HasPrefix(k, "httpd") {
			continue
		}
		var st struct {
			Name   string           `json:"name"`
			Values map[string]int64 `json:"values"`
		}
		if json.Unmarshal(raw, &st) == nil && st.Name == "httpd" {
			total += st.Values["pointsWrittenOK"]
			found = true
		}
	}
	if !found {
		return 0, errors.New("influxd /debug/vars has no httpd statistics")
	}
	return total, nil
}
