package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// write posts body to the collector's write API and returns the status
// and the answer's body.
func write(t *testing.T, url, token string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/api/v2/write?org=o&bucket=b", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClientTagsCannotClaimAnotherSite: a point that names another
// municipality, site and class in its tags is stored under the token's
// site, with the inventory's class, and none of the client's values.
func TestClientTagsCannotClaimAnotherSite(t *testing.T) {
	c := testenv.StartCollector(t, "")
	tok := c.Token("gs-t", "Stadt-T")
	tokB := c.Token("gs-b", "Stadt-B")
	// The device registers as a server with its first, plain write.
	if code, msg := write(t, c.URL, tok, strings.NewReader("cpu,host=pc-t,cpu=cpu-total usage_idle=1"), nil); code != http.StatusNoContent {
		t.Fatalf("first write: %d %s", code, msg)
	}
	ts := time.Now().Truncate(time.Second)
	line := fmt.Sprintf("cpu,host=pc-t,cpu=cpu-total,municipality=Stadt-B,class=printer,site=x usage_idle=42 %d", ts.UnixNano())
	if code, msg := write(t, c.URL, tok, strings.NewReader(line), nil); code != http.StatusNoContent {
		t.Fatalf("write with foreign tags: %d %s", code, msg)
	}

	var got []series
	getJSON(t, c.URL+"/api/v1/series?device=pc-t&measurement=cpu&field=usage_idle&from=-5m", tok, &got)
	var row *series
	for i := range got {
		for _, s := range got[i].Samples {
			if s.V == 42 && s.T.Equal(ts) {
				row = &got[i]
			}
		}
	}
	if row == nil {
		t.Fatalf("the written point was not stored: %+v", got)
	}
	want := map[string]string{"site": "gs-t", "device": "pc-t", "host": "pc-t", "cpu": "cpu-total"}
	for k, v := range want {
		if row.Tags[k] != v {
			t.Errorf("stored tag %s = %q, want %q (all tags %v)", k, row.Tags[k], v, row.Tags)
		}
	}
	// The embedded store keeps municipality and class with the site and
	// the device (read below), not in the row; if a row carries them, they
	// must be the trusted ones.
	if m, ok := row.Tags["municipality"]; ok && m != "Stadt-T" {
		t.Errorf("stored municipality tag %q, want Stadt-T", m)
	}
	if cl, ok := row.Tags["class"]; ok && cl != "server" {
		t.Errorf("stored class tag %q, want the inventory's server", cl)
	}
	var sites []struct{ Name, Municipality string }
	getJSON(t, c.URL+"/api/v1/sites", tok, &sites)
	if len(sites) != 1 || sites[0].Name != "gs-t" || sites[0].Municipality != "Stadt-T" {
		t.Errorf("sites of the token: %+v, want gs-t in Stadt-T", sites)
	}
	for k, v := range row.Tags {
		if v == "Stadt-B" || v == "printer" || v == "x" {
			t.Errorf("the client's value %q survived as tag %s", v, k)
		}
	}
	var devs []device
	getJSON(t, c.URL+"/api/v1/sites/gs-t/devices", tok, &devs)
	if len(devs) != 1 || devs[0].Name != "pc-t" || devs[0].Class != "server" || devs[0].Site != "gs-t" {
		t.Errorf("devices of gs-t: %+v, want pc-t as server", devs)
	}
	// Nothing reached the site the tags named.
	devs = nil
	getJSON(t, c.URL+"/api/v1/sites/gs-b/devices", tokB, &devs)
	if len(devs) != 0 {
		t.Errorf("devices of gs-b after gs-t's write: %+v", devs)
	}
}

// onlyReader hides a reader's type, so that net/http cannot learn the
// length and sends the body chunked, without Content-Length.
type onlyReader struct{ io.Reader }

// TestOversizedBodiesWithoutLengthAreRefused: the body limit holds for a
// chunked body (no Content-Length to refuse up front) and the decoded
// limit for a gzip bomb; both get 413 with a message saying what to do,
// and nothing of them is stored.
func TestOversizedBodiesWithoutLengthAreRefused(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte("limits:\n  max_body_bytes: 4096\n  max_decoded_bytes: 65536\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCollector(t, "", "--config", cfg)
	tok := c.Token("gs-o", "Stadt-O")
	// Valid line protocol: without the limits every request here would
	// be stored.
	lines := func(host string, n int) []byte {
		var b bytes.Buffer
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "mem,host=%s used=%di\n", host, i)
		}
		return b.Bytes()
	}
	small := lines("ok", 10)
	if code, msg := write(t, c.URL, tok, onlyReader{bytes.NewReader(small)}, nil); code != http.StatusNoContent {
		t.Fatalf("a small chunked body: %d %s", code, msg)
	}

	type apiErr struct{ Code, Message string }
	check := func(what string, code int, body, wantMsg string) {
		t.Helper()
		var e apiErr
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Errorf("%s: answer is not InfluxDB's JSON error: %q", what, body)
		}
		if code != http.StatusRequestEntityTooLarge || e.Code != "request too large" || !strings.Contains(e.Message, wantMsg) {
			t.Errorf("%s: %d %+v, want 413 saying %q", what, code, e, wantMsg)
		}
	}

	big := lines("chunked", 1000) // ~20 kB
	code, body := write(t, c.URL, tok, onlyReader{bytes.NewReader(big)}, nil)
	check("chunked body over the limit", code, body, "request body is larger than the limit of 4096 bytes: send smaller batches")

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("mem,host=bomb used=1i\n"), 50000)) // ~1.1 MB decoded
	zw.Close()
	if gz.Len() > 4096 {
		t.Fatalf("the bomb is %d bytes compressed; it must pass the body limit to test the decoded one", gz.Len())
	}
	code, body = write(t, c.URL, tok, bytes.NewReader(gz.Bytes()), map[string]string{"Content-Encoding": "gzip"})
	check("gzip bomb", code, body, "decompressed body is larger than the limit of 65536 bytes: send smaller batches")
	// The same bomb chunked: neither limit depends on Content-Length.
	code, body = write(t, c.URL, tok, onlyReader{bytes.NewReader(gz.Bytes())}, map[string]string{"Content-Encoding": "gzip"})
	check("chunked gzip bomb", code, body, "decompressed body is larger than the limit of 65536 bytes")

	var devs []device
	getJSON(t, c.URL+"/api/v1/sites/gs-o/devices", tok, &devs)
	if len(devs) != 1 || devs[0].Name != "ok" {
		t.Errorf("devices of gs-o: %+v, want only the small write's", devs)
	}
	// The collector is fine afterwards.
	if code, msg := write(t, c.URL, tok, bytes.NewReader(small), nil); code != http.StatusNoContent {
		t.Errorf("a small write after the refusals: %d %s", code, msg)
	}
}
