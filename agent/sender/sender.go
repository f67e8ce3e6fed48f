// Package sender delivers line protocol to the collector through
// influxdb-client-go v2's blocking write API (gzip, one request per
// batch), so that the agent knows exactly which batch was acknowledged,
// and classifies failures into "retry later" and "drop, the data is bad".
package sender

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/schulmon/schulmon/agent/config"
	"github.com/schulmon/schulmon/metric"
)

// Sender writes batches to the collector.
type Sender struct {
	client influxdb2.Client
	write  api.WriteAPIBlocking
	url    string
}

// New builds a sender from the agent's collector config and token.
func New(c config.Collector, token string) (*Sender, error) {
	tc, err := TLSConfig(c.TLS)
	if err != nil {
		return nil, err
	}
	opts := influxdb2.DefaultOptions().
		SetUseGZip(true).
		SetHTTPRequestTimeout(uint(c.Timeout / time.Second)).
		SetApplicationName("schulmon-agent/" + metric.Version)
	if tc != nil {
		opts.SetTLSConfig(tc)
	}
	client := influxdb2.NewClientWithOptions(c.URL, token, opts)
	return &Sender{client: client, write: client.WriteAPIBlocking(c.Org, c.Bucket), url: c.URL}, nil
}

// TLSConfig builds the client TLS settings: a CA bundle, a pinned
// certificate fingerprint, and a client certificate for mutual TLS.
func TLSConfig(c config.TLS) (*tls.Config, error) {
	if c.CAFile == "" && c.Fingerprint == "" && c.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read collector CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("collector CA bundle %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.Fingerprint != "" {
		want := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(c.Fingerprint))
		if len(want) != 64 {
			return nil, fmt.Errorf("collector.tls.fingerprint must be a SHA-256 in hex (64 digits), got %d digits", len(want))
		}
		// A pinned certificate replaces chain verification: the pin is
		// the trust anchor (typical for a self-signed first start).
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("collector presented no certificate")
			}
			sum := sha256.Sum256(raw[0])
			if got := hex.EncodeToString(sum[:]); got != want {
				return fmt.Errorf("collector certificate fingerprint %s does not match the pinned %s", got, want)
			}
			return nil
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Error is a failed send with what the agent should do about it.
type Error struct {
	Status int // HTTP status; 0 for network errors
	// Retry is true when sending the same batch later may succeed.
	Retry bool
	// RetryAfter is the collector's requested delay, if any.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("collector answered %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("collector unreachable: %v", e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Send writes one batch (newline-separated line protocol). It returns nil
// only when the collector acknowledged it.
func (s *Sender) Send(ctx context.Context, lines []byte) error {
	body := strings.TrimRight(string(lines), "\n")
	if body == "" {
		return nil
	}
	err := s.write.WriteRecord(ctx, body)
	if err == nil {
		return nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode != 0 {
		se := &Error{Status: he.StatusCode, RetryAfter: time.Duration(he.RetryAfter) * time.Second, Err: err}
		switch {
		case he.StatusCode == http.StatusTooManyRequests, he.StatusCode >= 500:
			se.Retry = true
		case he.StatusCode == http.StatusUnauthorized, he.StatusCode == http.StatusForbidden:
			// The token may be fixed or re-enrolled: keep the data.
			se.Retry = true
		}
		return se
	}
	return &Error{Retry: true, Err: err}
}

// Close releases idle connections.
func (s *Sender) Close() { s.client.Close() }
