package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"

	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/agent/config"
	"github.com/schulmon/schulmon/agent/sender"
	collconfig "github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/enroll"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tlscert"
)

// collector starts an in-process collector with tls.self_signed on a
// loopback port and returns its URL, data dir and server.
func startCollector(t *testing.T, clientCA string) (string, string, *server.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := collconfig.Default()
	cfg.DataDir = t.TempDir()
	cfg.TLS.SelfSigned = true
	cfg.TLS.ClientCAFile = clientCA
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
	t.Cleanup(func() { cancel(); <-done })
	return "https://" + ln.Addr().String(), cfg.DataDir, srv
}

func enrollmentToken(t *testing.T, srv *server.Server, uses int) string {
	t.Helper()
	ctx := context.Background()
	st, err := enroll.New(ctx, srv.MetaDB, srv.Dir)
	if err != nil {
		t.Fatal(err)
	}
	site, err := srv.Dir.EnsureSite(ctx, "Musterstadt", "gs-nord", "")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := st.Create(ctx, site, time.Hour, uses, "")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// sendHeartbeat writes one point with the agent's stored token and TLS
// settings, as the running agent would.
func sendHeartbeat(t *testing.T, url, stateDir string, tc config.TLS) error {
	t.Helper()
	cfg := config.Default()
	cfg.Collector.URL, cfg.StateDir, cfg.Collector.TLS = url, stateDir, tc
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.ResolveToken()
	if err != nil {
		t.Fatalf("agent cannot find its enrolled token: %v", err)
	}
	snd, err := sender.New(cfg.Collector, tok)
	if err != nil {
		return err
	}
	defer snd.Close()
	return snd.Send(context.Background(), []byte("schulmon_agent,host=srv-01,device=srv-01 uptime_s=1 "+
		itoa(time.Now().UnixNano())+"\n"))
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestEnrollPinnedFingerprintThenSend(t *testing.T) {
	url, dataDir, srv := startCollector(t, "")
	certFile, _ := tlscert.DefaultPaths(dataDir)
	fp, err := tlscert.FingerprintFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	secret := enrollmentToken(t, srv, 1)
	res, path, err := enrollAgent(context.Background(), enrollOptions{Collector: url, Token: secret, StateDir: stateDir, Device: "srv-01",
		TLS: config.TLS{Fingerprint: tlscert.Colons(fp)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Site != "gs-nord" || path != filepath.Join(stateDir, "token") {
		t.Fatalf("result %+v at %s", res, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	if err := sendHeartbeat(t, url, stateDir, config.TLS{Fingerprint: fp}); err != nil {
		t.Fatalf("send with the enrolled token: %v", err)
	}
	site, _ := srv.Dir.SiteByName(context.Background(), "gs-nord")
	dev, err := srv.Dir.DeviceByName(context.Background(), site.ID, "srv-01")
	if err != nil {
		t.Fatalf("the enrolled agent's device is not in site gs-nord: %v", err)
	}
	series, err := srv.Store.Query(context.Background(), store.Query{SiteID: site.ID, Site: site.Name, DeviceID: dev.ID, Device: "srv-01", Measurement: "schulmon_agent", Field: "uptime_s",
		From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil || len(series) == 0 || len(series[0].Samples) != 1 {
		t.Fatalf("the heartbeat did not arrive for site gs-nord: %v %+v", err, series)
	}

	// A wrong pin is refused before any token leaves the agent.
	wrong := strings.Repeat("ab", 32)
	err = sendHeartbeat(t, url, stateDir, config.TLS{Fingerprint: wrong})
	if err == nil || !strings.Contains(err.Error(), "does not match the pinned") {
		t.Fatalf("wrong pin: %v", err)
	}
	// Enrolling again without --force keeps the existing token.
	_, _, err = enrollAgent(context.Background(), enrollOptions{Collector: url, Token: enrollmentToken(t, srv, 1), StateDir: stateDir, TLS: config.TLS{Fingerprint: fp}})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("re-enroll without --force: %v", err)
	}
	// The used token is refused with the collector's reason.
	_, _, err = enrollAgent(context.Background(), enrollOptions{Collector: url, Token: secret, StateDir: t.TempDir(), TLS: config.TLS{Fingerprint: fp}})
	if err == nil || !strings.Contains(err.Error(), "used up") {
		t.Fatalf("used token: %v", err)
	}
}

func TestEnrollWithCAFileAndUntrusted(t *testing.T) {
	url, dataDir, srv := startCollector(t, "")
	certFile, _ := tlscert.DefaultPaths(dataDir)
	secret := enrollmentToken(t, srv, 0)

	_, _, err := enrollAgent(context.Background(), enrollOptions{Collector: url, Token: secret, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--fingerprint") {
		t.Fatalf("self-signed collector without a CA or pin: %v", err)
	}
	stateDir := t.TempDir()
	if _, _, err := enrollAgent(context.Background(), enrollOptions{Collector: url, Token: secret, StateDir: stateDir, TLS: config.TLS{CAFile: certFile}}); err != nil {
		t.Fatalf("enroll with ca_file: %v", err)
	}
	if err := sendHeartbeat(t, url, stateDir, config.TLS{CAFile: certFile}); err != nil {
		t.Fatalf("send with ca_file: %v", err)
	}
	// A host name the certificate does not list fails verification.
	badHost := strings.Replace(url, "127.0.0.1", "127.0.0.2", 1)
	if _, _, err := enrollAgent(context.Background(), enrollOptions{Collector: badHost, Token: secret, StateDir: t.TempDir(), TLS: config.TLS{CAFile: certFile}}); err == nil {
		t.Fatal("enrolled against a host name the certificate does not list")
	}
}

func TestEnrollMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeClientPKI(t, dir)
	url, dataDir, srv := startCollector(t, caFile)
	serverCert, _ := tlscert.DefaultPaths(dataDir)
	secret := enrollmentToken(t, srv, 0)

	_, _, err := enrollAgent(context.Background(), enrollOptions{Collector: url, Token: secret, StateDir: t.TempDir(), TLS: config.TLS{CAFile: serverCert}})
	if err == nil {
		t.Fatal("enrolled without a client certificate against a mutual-TLS collector")
	}
	stateDir := t.TempDir()
	tc := config.TLS{CAFile: serverCert, CertFile: certFile, KeyFile: keyFile}
	if _, _, err := enrollAgent(context.Background(), enrollOptions{Collector: url, Token: secret, StateDir: stateDir, TLS: tc}); err != nil {
		t.Fatalf("enroll with a client certificate: %v", err)
	}
	if err := sendHeartbeat(t, url, stateDir, tc); err != nil {
		t.Fatalf("send with a client certificate: %v", err)
	}
	if err := sendHeartbeat(t, url, stateDir, config.TLS{CAFile: serverCert}); err == nil {
		t.Fatal("sent without a client certificate to a mutual-TLS collector")
	}
}

func TestEnrollRefusesPlainHTTPToAnotherHost(t *testing.T) {
	_, _, err := enrollAgent(context.Background(), enrollOptions{Collector: "http://192.0.2.1:8086", Token: "se_x", StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--allow-insecure") {
		t.Fatalf("plain http: %v", err)
	}
	_, _, err = enrollAgent(context.Background(), enrollOptions{Collector: "https://127.0.0.1:1", StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "SCHULMON_ENROLLMENT_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
}

func TestWarnInsecure(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	cfg := config.Default()
	warnInsecure(cfg, log) // loopback: no warning
	cfg.Collector.URL, cfg.Collector.AllowInsecure = "http://192.0.2.1:8086", true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("warned about loopback: %s", buf.String())
	}
	warnInsecure(cfg, log)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "plain HTTP") {
		t.Fatalf("no warning for plain HTTP to another host: %q", buf.String())
	}
}

// writeClientPKI makes a CA and a client certificate signed by it.
func writeClientPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test municipal CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "agent srv-01"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	for path, b := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return
}
