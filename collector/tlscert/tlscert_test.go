package tlscert_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/tlscert"
)

func TestEnsureCreatesOnceAndKeeps(t *testing.T) {
	dir := t.TempDir()
	cert, key := tlscert.DefaultPaths(dir)
	fp1, created, err := tlscert.Ensure(cert, key, tlscert.Options{Hosts: []string{"collector.krz.example", "10.1.2.3"}})
	if err != nil || !created {
		t.Fatalf("first Ensure: created=%v err=%v", created, err)
	}
	fp2, created, err := tlscert.Ensure(cert, key, tlscert.Options{})
	if err != nil || created || fp2 != fp1 {
		t.Fatalf("second Ensure replaced the pair or changed the fingerprint: %v %v %s/%s", created, err, fp1, fp2)
	}
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	data, _ := os.ReadFile(cert)
	b, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.DNSNames, "collector.krz.example") || !slices.Contains(c.DNSNames, "localhost") {
		t.Errorf("DNS names %v", c.DNSNames)
	}
	ips := []string{}
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Contains(ips, "10.1.2.3") || !slices.Contains(ips, "127.0.0.1") {
		t.Errorf("IP addresses %v", ips)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA || c.NotAfter.Before(time.Now().AddDate(9, 0, 0)) {
		t.Errorf("key %v, valid until %v", c.PublicKeyAlgorithm, c.NotAfter)
	}
	// Half a pair is an error, not silently replaced.
	os.Remove(key)
	if _, _, err := tlscert.Ensure(cert, key, tlscert.Options{}); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Fatalf("half a pair: %v", err)
	}
	if got := tlscert.Colons("ab01ff"); got != "AB:01:FF" {
		t.Errorf("Colons: %s", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func serve(t *testing.T, cfg config.Config, addr string) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, logs
}

// tls.self_signed: the collector creates the pair on its first start,
// logs the fingerprint, and serves exactly that certificate.
func TestServerSelfSigned(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.TLS.SelfSigned = true
	port, logs := serve(t, cfg, "127.0.0.1:0")
	cert, _ := tlscert.DefaultPaths(cfg.DataDir)
	fp, err := tlscert.FingerprintFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), fp) {
		t.Errorf("the fingerprint is not logged:\n%s", logs)
	}
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := tlscert.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw); got != fp {
		t.Fatalf("served certificate %s, file %s", got, fp)
	}
	if strings.Contains(logs.String(), "plain HTTP") {
		t.Error("warned about plain HTTP while serving TLS")
	}
}

// Plain HTTP on a non-loopback address is refused unless the config opts
// in with tls.allow_plain_http (then it is served with a warning); on
// loopback it is served without either.
func TestServerRefusesPlainHTTP(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background(), ln) }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run served plain HTTP on 0.0.0.0 instead of refusing")
	}
	if err == nil || !strings.Contains(err.Error(), "plain HTTP") || !strings.Contains(err.Error(), "tls.allow_plain_http") {
		t.Fatalf("Run on 0.0.0.0 without TLS: want a refusal naming tls.allow_plain_http, got %v", err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
		c.Close()
		t.Fatal("the refused listener still accepts connections")
	}

	get := func(port string) {
		t.Helper()
		// Once a request is answered, Run is past the point where it warns.
		resp, err := http.Get("http://127.0.0.1:" + port + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	cfg.DataDir = filepath.Join(t.TempDir(), "opt-in")
	cfg.TLS.AllowPlainHTTP = true
	port, logs := serve(t, cfg, "0.0.0.0:0")
	get(port)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "plain HTTP") {
		t.Errorf("no warning for plain HTTP on 0.0.0.0 with tls.allow_plain_http:\n%s", logs)
	}

	cfg.DataDir = filepath.Join(t.TempDir(), "loop")
	cfg.TLS.AllowPlainHTTP = false
	port, logs = serve(t, cfg, "127.0.0.1:0")
	get(port)
	if strings.Contains(logs.String(), "plain HTTP") {
		t.Errorf("warned about plain HTTP on loopback:\n%s", logs)
	}
}
