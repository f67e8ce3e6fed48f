package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// backup while a collector is running on the data dir, then restore into
// a fresh directory and find the same sites, tokens and TLS pair.
func TestCLIBackupRestore(t *testing.T) {
	dd := t.TempDir()
	if out, err := runCLI(t, "token", "create", "--data-dir", dd, "--site", "gs-nord", "--municipality", "Musterstadt"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.TLS.SelfSigned = dd, true
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()

	bk := filepath.Join(t.TempDir(), "backup")
	out, err := runCLI(t, "backup", "--data-dir", dd, "--to", bk)
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
