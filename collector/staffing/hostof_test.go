package staffing

import (
	"net/netip"
	"strings"
	"testing"
)

// hostOfReference is hostOf before it skipped the attempts that cannot
// succeed and the copies of canonical addresses.
func hostOfReference(target string) string {
	target = strings.TrimSpace(target)
	if ap, err := netip.ParseAddrPort(target); err == nil {
		return ap.Addr().String()
	}
	if a, err := netip.ParseAddr(target); err == nil {
		return a.String()
	}
	if i := strings.LastIndexByte(target, ':'); i > 0 {
		if a, err := netip.ParseAddr(strings.Trim(target[:i], "[]")); err == nil {
			return a.String()
		}
	}
	return ""
}

func FuzzHostOf(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1", " 10.0.0.1 ", "10.0.0.1:161", "10.0.0.1:", ":161", "010.0.0.1", "1.2.3", "10.0.0.256",
		"[fe80::1]:161", "fe80::1", "FE80::A", "::1", "[::1]", "::ffff:10.0.0.1", "[::ffff:10.0.0.1]:80",
		"fe80::1%eth0", "[fe80::1%eth0]:161", "[10.0.0.1]:161", "fe80:0:0::1:161", "host.local", "host:161", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hostOf(s), hostOfReference(s); got != want {
			t.Fatalf("hostOf(%q) = %q, want %q", s, got, want)
		}
	})
}
