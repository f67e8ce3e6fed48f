package ingest

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzPrecisionParam: precisionParam is what Query().Get says.
func FuzzPrecisionParam(f *testing.F) {
	for _, q := range []string{
		"", "precision=s", "org=a&bucket=b&precision=ms", "precision=ms&precision=s", "precision", "precision=",
		"&&precision=us&", "precision=a=b", "x=1;precision=s", "precision=%73", "prec%69sion=s", "precision=+s",
		"precision=%zz&precision=s", "org=a+b&precision=ns", "Precision=s", "precision =s",
		strings.Repeat("a=1&", 150) + "precision=s",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		u := &url.URL{RawQuery: q}
		if got, want := precisionParam(u), u.Query().Get("precision"); got != want {
			t.Fatalf("precisionParam(%q) = %q, want %q", q, got, want)
		}
	})
}
