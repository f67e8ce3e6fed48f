package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	agentconfig "github.com/schulmon/schulmon/agent/config"
	"github.com/schulmon/schulmon/internal/testenv"
)

// lastLine is the last non-empty line of a command's output (where the
// CLIs print a secret or a fingerprint).
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// TestEnrollOverPinnedTLSThenRunWithoutSecret follows the deployment
// story with the real binaries: the collector serves HTTPS with a
// self-signed certificate, 'schulmon-agent enroll' pins its fingerprint
// and trades a one-time enrollment token for the agent's own token (kept
// in a 0600 file), writes a config with no secret in it, and the agent
// started with that config delivers points over the pinned connection.
func TestEnrollOverPinnedTLSThenRunWithoutSecret(t *testing.T) {
	bin := testenv.Binaries(t)
	collector := filepath.Join(bin, "schulmon-collector")
	agent := filepath.Join(bin, "schulmon-agent")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The data centre creates the pair before the first start and hands
	// the fingerprint to the school.
	dataDir := t.TempDir()
	out, err := exec.CommandContext(ctx, collector, "tls", "selfsigned", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("tls selfsigned: %v\n%s", err, out)
	}
	fp := lastLine(string(out))
	if len(fp) != 64 {
		t.Fatalf("tls selfsigned printed no SHA-256 fingerprint as its last line:\n%s", out)
	}
	colCfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(colCfg, []byte("tls:\n  self_signed: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCollectorTLS(t, dataDir, "--config", colCfg)
	if !strings.HasPrefix(c.URL, "https://") || !strings.Contains(c.Logs(), fp) {
		t.Fatalf("collector at %s does not log the certificate created before (%s):\n%s", c.URL, fp, c.Logs())
	}
	enrollTok := lastLine(c.CLI("enrollment", "create", "--site", "gs-tls", "--municipality", "Stadt-T", "--expires", "1h", "--uses", "1"))
	if !strings.HasPrefix(enrollTok, "se_") {
		t.Fatalf("enrollment create printed %q as its last line, want se_…", enrollTok)
	}
	operator := c.Token("", "", "--role", "operator")

	agentDir := t.TempDir()
	stateDir := filepath.Join(agentDir, "state")
	agentCfg := filepath.Join(agentDir, "agent.yaml")
	enroll := func(pin string) (string, error) {
		cmd := exec.CommandContext(ctx, agent, "enroll", "--collector", c.URL, "--enrollment-token", "-",
			"--fingerprint", pin, "--state-dir", stateDir, "--write-config", agentCfg, "--timeout", "20s")
		cmd.Stdin = strings.NewReader(enrollTok + "\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// A wrong pin is refused before the token is sent: nothing stored,
	// and the single-use token still works afterwards.
	wrong := []byte(fp)
	if wrong[0] == '0' {
		wrong[0] = '1'
	} else {
		wrong[0] = '0'
	}
	if out, err := enroll(string(wrong)); err == nil || !strings.Contains(out, "does not match the pinned") {
		t.Fatalf("enroll with a wrong pin: err %v, want a fingerprint mismatch:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "token")); err == nil {
		t.Fatal("a token was stored although the pin did not match")
	}

	out2, err := enroll(fp)
	if err != nil {
		t.Fatalf("enroll with the right pin: %v\n%s\ncollector log:\n%s", err, out2, c.Logs())
	}
	if !strings.Contains(out2, "enrolled for site gs-tls") {
		t.Errorf("enroll output:\n%s", out2)
	}
	tokPath := filepath.Join(stateDir, "token")
	st, err := os.Stat(tokPath)
	if err != nil {
		t.Fatalf("no token file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	tokData, _ := os.ReadFile(tokPath)
	agentTok := strings.TrimSpace(string(tokData))
	if len(agentTok) < 20 || agentTok == enrollTok {
		t.Fatalf("stored token %q is not an agent token distinct from the enrollment token", agentTok)
	}

	// The written config pins the collector and holds no secret.
	cfgData, err := os.ReadFile(agentCfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgText := string(cfgData)
	if strings.Contains(cfgText, agentTok) || strings.Contains(cfgText, enrollTok) {
		t.Errorf("the agent config holds a token:\n%s", cfgText)
	}
	parsed, err := agentconfig.Load(agentCfg)
	if err != nil {
		t.Fatalf("the written agent config: %v", err)
	}
	if parsed.Collector.Token != "" || parsed.Collector.TokenFile != "" || parsed.StateDir != stateDir {
		t.Errorf("the written config sets token %q, token_file %q, state_dir %q; want neither token and state_dir %s",
			parsed.Collector.Token, parsed.Collector.TokenFile, parsed.StateDir, stateDir)
	}
	if !strings.Contains(cfgText, "url: "+c.URL) || !strings.Contains(cfgText, fp) {
		t.Errorf("the agent config does not name the collector %s and pin %s:\n%s", c.URL, fp, cfgText)
	}

	// Faster rounds than the defaults, and a fixed device name; the
	// secret stays out of the file.
	cfgText = strings.Replace(cfgText, "collector:\n", "collector:\n  flush_interval: 1s\n", 1) + "interval: 1s\ndevice: srv-tls\n"
	if err := os.WriteFile(agentCfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, agent, "check-config", "--config", agentCfg).CombinedOutput(); err != nil {
		t.Fatalf("check-config of the enrolled config: %v\n%s", err, out)
	}
	run := exec.Command(agent, "--config", agentCfg)
	agentLog := &syncBuf{}
	run.Stdout, run.Stderr = agentLog, agentLog
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = run.Process.Signal(os.Interrupt)
		_ = run.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	})

	// Read back over HTTPS, trusting exactly the collector's certificate.
	certPEM, err := os.ReadFile(filepath.Join(dataDir, "tls", "collector.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("the collector's certificate file holds no PEM certificate")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	var got []series
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		got = nil
		req, _ := http.NewRequest(http.MethodGet, c.URL+"/api/v1/series?site=gs-tls&device=srv-tls&measurement=schulmon_agent&field=uptime_s&from=-5m", nil)
		req.Header.Set("Authorization", "Token "+operator)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("read series over HTTPS: %v", err)
		}
		if resp.StatusCode == http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&got)
		}
		resp.Body.Close()
		if len(got) > 0 && len(got[0].Samples) > 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(got) == 0 || len(got[0].Samples) == 0 {
		t.Fatalf("no heartbeat of srv-tls arrived at site gs-tls within 45 s\ncollector log:\n%s", c.Logs())
	}
	if got[0].Tags["site"] != "gs-tls" || got[0].Tags["device"] != "srv-tls" {
		t.Errorf("heartbeat tags %v, want site gs-tls, device srv-tls", got[0].Tags)
	}
	if log := agentLog.String(); strings.Contains(log, "plain HTTP") || strings.Contains(log, "does not match") {
		t.Errorf("the agent complained about its connection:\n%s", log)
	}
}

// syncBuf collects a process's output while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
