// Package tlscert creates the collector's self-signed certificate for a
// first start (ECDSA P-256, crypto/x509) and computes the SHA-256
// fingerprint that agents pin (collector.tls.fingerprint), so that a data
// centre can run HTTPS from minute one and move to a CA-issued
// certificate later without touching the agents' trust model.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultPaths are where a self-signed pair lives in the data directory.
func DefaultPaths(dataDir string) (certFile, keyFile string) {
	return filepath.Join(dataDir, "tls", "collector.crt"), filepath.Join(dataDir, "tls", "collector.key")
}

// Options for a self-signed certificate.
type Options struct {
	// Hosts are DNS names and IP addresses the certificate is valid for;
	// localhost, 127.0.0.1 and ::1 are always added, plus the hostname.
	Hosts []string
	// ValidFor defaults to ten years: the agents pin the fingerprint, so
	// expiry would only break them, not add safety.
	ValidFor time.Duration
	Now      time.Time
}

// Ensure returns the fingerprint of the certificate at certFile, creating a
// self-signed pair at certFile/keyFile first if neither exists. It
// reports whether it created one.
func Ensure(certFile, keyFile string, o Options) (fingerprint string, created bool, err error) {
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	switch {
	case cerr == nil && kerr == nil:
		fp, err := FingerprintFile(certFile)
		return fp, false, err
	case cerr == nil || kerr == nil:
		return "", false, fmt.Errorf("TLS: only one of %s and %s exists: remove it to create a new self-signed pair, or supply the other", certFile, keyFile)
	case !errors.Is(cerr, os.ErrNotExist):
		return "", false, fmt.Errorf("TLS certificate %s: %w", certFile, cerr)
	}
	fp, err := Create(certFile, keyFile, o)
	return fp, err == nil, err
}

// Create writes a new self-signed certificate and key (mode 0600) and
// returns the certificate's SHA-256 fingerprint. Existing files are
// overwritten.
func Create(certFile, keyFile string, o Options) (string, error) {
	if o.ValidFor <= 0 {
		o.ValidFor = 10 * 365 * 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", fmt.Errorf("generate certificate serial: %w", err)
	}
	hostname, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "schulmon-collector", Organization: []string{"schulmon"}},
		NotBefore:             o.Now.Add(-time.Hour), // tolerate clock skew
		NotAfter:              o.Now.Add(o.ValidFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// A CA flag lets agents use this very certificate as their
		// ca_file, as an alternative to pinning its fingerprint.
		IsCA: true,
	}
	seen := map[string]bool{}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1", hostname}, o.Hosts...) {
		h = strings.TrimSpace(h)
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", fmt.Errorf("create self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode TLS key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o750); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", certFile, err)
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", keyFile, err)
	}
	if err := writeFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", err
	}
	if err := writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	return Fingerprint(der), nil
}

// writeFile writes atomically (temp file and rename) with mode perm.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Fingerprint is the SHA-256 of a DER certificate in lower-case hex, the
// form collector.tls.fingerprint takes.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// FingerprintFile returns the fingerprint of the first certificate in a
// PEM file (the leaf, for a chain).
func FingerprintFile(certFile string) (string, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return "", fmt.Errorf("read TLS certificate: %w", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return "", fmt.Errorf("TLS certificate %s holds no PEM CERTIFICATE block", certFile)
		}
		if b.Type == "CERTIFICATE" {
			return Fingerprint(b.Bytes), nil
		}
	}
}

// Colons formats a hex fingerprint as AA:BB:…, the way openssl and
// browsers show it; agents accept both forms.
func Colons(fp string) string {
	var b strings.Builder
	for i := 0; i+1 < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(fp[i : i+2]))
	}
	return b.String()
}
