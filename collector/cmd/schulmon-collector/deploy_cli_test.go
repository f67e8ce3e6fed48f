package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/tlscert"
)

func TestCLIEnrollmentAndTLS(t *testing.T) {
	dd := t.TempDir()
	out, err := runCLI(t, "enrollment", "create", "--data-dir", dd, "--site", "gs-nord", "--municipality", "Musterstadt", "--expires", "2h", "--uses", "3")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	if !strings.HasPrefix(secret, "se_") || !strings.Contains(out, "usable 3 time(s)") {
		t.Fatalf("create printed:\n%s", out)
	}
	out, err = runCLI(t, "enrollment", "list", "--data-dir", dd)
	if err != nil || !strings.Contains(out, "gs-nord") || !strings.Contains(out, "active") || !strings.Contains(out, "0/3") || strings.Contains(out, secret) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "enrollment", "revoke", "1", "--data-dir", dd); err != nil {
		t.Fatalf("revoke: %v %s", err, out)
	}
	out, _ = runCLI(t, "enrollment", "list", "--data-dir", dd)
	if !strings.Contains(out, "revoked") {
		t.Fatalf("after revoke:\n%s", out)
	}
	if _, err := runCLI(t, "enrollment", "revoke", "99", "--data-dir", dd); err == nil {
		t.Fatal("revoking an unknown enrollment token succeeded")
	}
	if _, err := runCLI(t, "enrollment", "create", "--data-dir", dd); err == nil || !strings.Contains(err.Error(), "--site") {
		t.Fatalf("create without --site: %v", err)
	}

	out, err = runCLI(t, "tls", "selfsigned", "--data-dir", dd, "--hosts", "collector.krz.example")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cert, _ := tlscert.DefaultPaths(dd)
	fp, err := tlscert.FingerprintFile(cert)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), fp) || !strings.Contains(out, "created") {
		t.Fatalf("selfsigned printed (fingerprint %s, %v):\n%s", fp, err, out)
	}
	out, _ = runCLI(t, "tls", "selfsigned", "--data-dir", dd)
	if !strings.Contains(out, "kept the existing") || !strings.Contains(out, fp) {
		t.Fatalf("second selfsigned did not keep the pair:\n%s", out)
	}
	if out, _ := runCLI(t, "tls", "fingerprint", cert); strings.TrimSpace(out) != fp {
		t.Fatalf("fingerprint: %s", out)
	}
}

// serveDir runs a collector with tls.self_signed on dataDir until the
// returned stop is called, and returns its URL and a client that trusts
// exactly its certificate.
func serveDir(t *testing.T, dataDir string) (string, *http.Client, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.TLS.SelfSigned = dataDir, true
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	cert, _ := tlscert.DefaultPaths(dataDir)
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return "https://" + ln.Addr().String(), client, func() { client.CloseIdleConnections(); cancel(); <-done }
}

// sampleTimes reads the usage_idle samples of device srv-backup as
// "unix-nanoseconds=value" strings.
func sampleTimes(t *testing.T, client *http.Client, base, token string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/series?device=srv-backup&measurement=cpu&field=usage_idle&from=-1h", nil)
	req.Header.Set("Authorization", "Token "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []struct {
		Samples []struct {
			T time.Time `json:"t"`
			V float64   `json:"v"`
		} `json:"samples"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("read series: HTTP %d: %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range got {
		for _, p := range s.Samples {
			out = append(out, fmt.Sprintf("%d=%g", p.T.UnixNano(), p.V))
		}
	}
	sort.Strings(out)
	return out
}

// backup while a collector is running on the data dir and has just taken
// points (still in SQLite's WAL), then restore into a fresh directory and
// find the same sites, tokens, TLS pair and points.
func TestCLIBackupRestore(t *testing.T) {
	dd := t.TempDir()
	out, err := runCLI(t, "token", "create", "--data-dir", dd, "--site", "gs-nord", "--municipality", "Musterstadt")
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	base, client, stop := serveDir(t, dd)
	defer stop()

	// Points at whole seconds a few minutes ago, so that any rounding or
	// loss shows in the comparison after the restore.
	now := time.Now().Truncate(time.Second)
	var lp strings.Builder
	var want []string
	for i := 0; i < 5; i++ {
		ts, v := now.Add(-time.Duration(5-i)*time.Minute), 90+float64(i)/4
		fmt.Fprintf(&lp, "cpu,host=srv-backup,cpu=cpu-total usage_idle=%g %d\n", v, ts.UnixNano())
		want = append(want, fmt.Sprintf("%d=%g", ts.UnixNano(), v))
	}
	sort.Strings(want)
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v2/write?precision=ns", strings.NewReader(lp.String()))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write points: HTTP %d", resp.StatusCode)
	}
	if got := sampleTimes(t, client, base, token); !slices.Equal(got, want) {
		t.Fatalf("points before the backup: %v, want %v", got, want)
	}

	bk := filepath.Join(t.TempDir(), "backup")
	out, err = runCLI(t, "backup", "--data-dir", dd, "--to", bk)
	if err != nil || strings.Count(out, "integrity ok") != 2 || !strings.Contains(out, "2 TLS file(s)") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "backup", "--data-dir", dd, "--to", bk); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("backup over an existing backup: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	out, err = runCLI(t, "restore", "--data-dir", restored, "--from", bk)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	out, err = runCLI(t, "token", "list", "--data-dir", restored)
	if err != nil || !strings.Contains(out, "gs-nord") {
		t.Fatalf("the restored store lacks the token: %v\n%s", err, out)
	}
	c1, _ := tlscert.DefaultPaths(dd)
	c2, _ := tlscert.DefaultPaths(restored)
	f1, _ := tlscert.FingerprintFile(c1)
	f2, err := tlscert.FingerprintFile(c2)
	if err != nil || f1 != f2 {
		t.Fatalf("TLS pair not restored: %s vs %s (%v)", f1, f2, err)
	}
	// The restored store serves the points, to the restored token.
	rbase, rclient, rstop := serveDir(t, restored)
	got := sampleTimes(t, rclient, rbase, token)
	rstop()
	if !slices.Equal(got, want) {
		t.Fatalf("points after the restore: %v, want %v", got, want)
	}
	// Restoring over an existing store needs --force and keeps the old one.
	if _, err := runCLI(t, "restore", "--data-dir", restored, "--from", bk); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over existing data without --force: %v", err)
	}
	if _, err := runCLI(t, "restore", "--data-dir", restored, "--from", bk, "--force"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(restored, "schulmon.db.before-restore")); err != nil {
		t.Fatalf("the replaced database was not kept: %v", err)
	}
	// A damaged backup is refused before anything is touched.
	os.WriteFile(filepath.Join(bk, "points.db"), []byte("not a database, but long enough to look like a header of one......................................................."), 0o600)
	if _, err := runCLI(t, "restore", "--data-dir", t.TempDir(), "--from", bk); err == nil {
		t.Fatal("restored a damaged backup")
	}
}
