package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/plugins/sdk"
)

type certKey struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// issue creates a certificate valid for validFor, signed by parent (self-signed when nil).
func issue(t *testing.T, cn string, validFor time.Duration, ca bool, parent *certKey) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validFor),
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certKey{cert, der, key}
}

// TestIntermediateExpiry: the leaf has 60 days, but the intermediate the
// server sends expires in 5: that is what the check must report.
func TestIntermediateExpiry(t *testing.T) {
	root := issue(t, "Kommune Root CA", 3650*24*time.Hour, true, nil)
	inter := issue(t, "Kommune Issuing CA 2", 5*24*time.Hour, true, root)
	leaf := issue(t, "portal.kommune.test", 60*24*time.Hour, false, inter)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.der, inter.der}, PrivateKey: leaf.key}}}
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	res := check(t, `{"url":"`+srv.URL+`","ca_file":"`+ca+`"}`)
	if res.Status != sdk.StatusCritical || !strings.Contains(res.Message, `intermediate certificate "Kommune Issuing CA 2" expires in 5 days`) {
		t.Errorf("status %v %q", res.Status, res.Message)
	}
	if d, _ := field(res, "cert_days_left").(float64); d < 4.9 || d > 5.01 {
		t.Errorf("cert_days_left %v, want ~5 (the intermediate)", field(res, "cert_days_left"))
	}

	// Without the municipality's root the certificate is not trusted.
	res = check(t, `{"url":"`+srv.URL+`"}`)
	if res.Status != sdk.StatusCritical || !strings.Contains(res.Message, "certificate signed by unknown authority") {
		t.Errorf("untrusted: %v %q", res.Status, res.Message)
	}
}
