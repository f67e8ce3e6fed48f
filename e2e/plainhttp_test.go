package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// TestCollectorRefusesPlainHTTPBeyondLoopback: 'serve --listen 0.0.0.0:…'
// without TLS exits with an error naming the opt-in (the flag overrides
// the config's loopback default, so this is the listener check, not the
// config check); with tls.allow_plain_http: true it serves.
func TestCollectorRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	bin := filepath.Join(testenv.Binaries(t), "schulmon-collector")
	port := testenv.FreePort(t)
	listen := fmt.Sprintf("0.0.0.0:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--data-dir", t.TempDir(), "--listen", listen).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the collector served plain HTTP on %s instead of refusing:\n%s", listen, out)
	}
	if err == nil || !strings.Contains(string(out), "refusing to serve plain HTTP") || !strings.Contains(string(out), "tls.allow_plain_http") {
		t.Fatalf("serve --listen %s without TLS: err %v, want a refusal naming tls.allow_plain_http:\n%s", listen, err, out)
	}

	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte("listen: "+listen+"\ntls:\n  allow_plain_http: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--data-dir", t.TempDir())
	log := &syncBuf{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("with tls.allow_plain_http the collector did not serve on %s:\n%s", listen, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "plain HTTP") {
		t.Errorf("no warning while serving plain HTTP on %s:\n%s", listen, log.String())
	}
}
