package config_test

import (
	"strings"
	"testing"

	"github.com/schulmon/schulmon/collector/config"
)

// Plain HTTP beyond loopback needs HTTPS or the explicit opt-in; the
// strict parser knows the opt-in key.
func TestPlainHTTPNeedsOptIn(t *testing.T) {
	for _, c := range []struct {
		yaml, wantErr string
	}{
		{"listen: 127.0.0.1:8086\n", ""},
		{"listen: localhost:8086\n", ""},
		{"listen: '[::1]:8086'\n", ""},
		{"listen: 0.0.0.0:8086\n", "tls.allow_plain_http"},
		{"listen: :8086\n", "tls.allow_plain_http"},
		{"listen: 10.1.2.3:8086\n", "tls.allow_plain_http"},
		// A host name that merely starts like a loopback address is not one.
		{"listen: 127.example.org:8086\n", "tls.allow_plain_http"},
		{"listen: 0.0.0.0:8086\ntls:\n  allow_plain_http: true\n", ""},
		{"listen: 0.0.0.0:8086\ntls:\n  self_signed: true\n", ""},
		{"listen: 0.0.0.0:8086\ntls:\n  cert_file: c.pem\n  key_file: k.pem\n", ""},
		{"listen: 8086\n", "not host:port"},
	} {
		_, err := config.Parse(strings.NewReader(c.yaml))
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: %v", c.yaml, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: want an error containing %q, got %v", c.yaml, c.wantErr, err)
		}
	}
}
