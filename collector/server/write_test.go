package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
)

type fixture struct {
	srv  *Server
	http *httptest.Server
	tokA string
	tokB string
	op   string
	dev  func(site, name string) int64
}

func newFixture(t *testing.T, tune ...func(*config.Config)) *fixture {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Limits.MaxBodyBytes = 1 << 20
	for _, f := range tune {
		f(&cfg)
	}
	ctx := context.Background()
	srv, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.close)
	f := &fixture{srv: srv, http: httptest.NewServer(srv.Mux)}
	t.Cleanup(f.http.Close)
	for _, s := range []struct {
		tok       *string
		site, mun string
	}{{&f.tokA, "gs-a", "Stadt-A"}, {&f.tokB, "gs-b", "Stadt-B"}} {
		site, err := srv.Dir.EnsureSite(ctx, s.mun, s.site, "grundschule")
		if err != nil {
			t.Fatal(err)
		}
		if *s.tok, _, err = srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &site, ""); err != nil {
			t.Fatal(err)
		}
	}
	f.op, _, _ = srv.Dir.CreateToken(ctx, tenancy.RoleOperator, nil, "")
	f.dev = func(site, name string) int64 {
		s, err := srv.Dir.SiteByName(ctx, site)
		if err != nil {
			t.Fatal(err)
		}
		d, err := srv.Dir.DeviceByName(ctx, s.ID, name)
		if err != nil {
			t.Fatalf("device %s/%s: %v", site, name, err)
		}
		return d.ID
	}
	return f
}

func (f *fixture) query(t *testing.T, site, device, meas, field string, from, to time.Time) []store.Series {
	t.Helper()
	s, _ := f.srv.Dir.SiteByName(context.Background(), site)
	res, err := f.srv.Store.Query(context.Background(), store.Query{SiteID: s.ID, Site: site, DeviceID: f.dev(site, device), Device: device, Measurement: meas, Field: field, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) post(t *testing.T, token, query string, body []byte, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.http.URL+"/api/v2/write?org=o&bucket=b"+query, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// The real influxdb-client-go v2 writes every field type, with escaping,
// through both its blocking and its batching API.
func TestWriteWithInfluxClient(t *testing.T) {
	f := newFixture(t)
	client := influxdb2.NewClientWithOptions(f.http.URL, f.tokA, influxdb2.DefaultOptions().SetUseGZip(true).SetPrecision(time.Millisecond))
	defer client.Close()
	w := client.WriteAPIBlocking("org", "bucket")
	ts := time.Date(2026, 10, 5, 8, 0, 0, 0, time.UTC)
	p := write.NewPoint("sensor data", map[string]string{"host": "srv 1", "room": "A,1=2"},
		map[string]any{"f": 1.5, "i": int64(-7), "u": uint64(9), "s": `a "quoted" \ string`, "b": true}, ts)
	if err := w.WritePoint(context.Background(), p); err != nil {
		t.Fatalf("blocking write: %v", err)
	}
	got := f.query(t, "gs-a", "srv 1", "sensor data", "i", ts.Add(-time.Second), ts.Add(time.Second))
	if len(got) != 1 || len(got[0].Samples) != 1 || got[0].Samples[0].Value != -7 || got[0].Tags["room"] != "A,1=2" {
		t.Fatalf("integer field back: %+v", got)
	}
	for field, want := range map[string]float64{"f": 1.5, "u": 9, "b": 1} {
		got := f.query(t, "gs-a", "srv 1", "sensor data", field, ts.Add(-time.Second), ts.Add(time.Second))
		if len(got) != 1 || got[0].Samples[0].Value != want {
			t.Errorf("field %s: %+v, want %v", field, got, want)
		}
	}
	// The string field is stored too (not numeric, so not in a series).
	var blob []byte
	if err := f.srv.Store.(interface{ DB() *sql.DB }).DB().QueryRow(`SELECT fields FROM points LIMIT 1`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(blob, []byte(`a "quoted" \ string`)) {
		t.Errorf("string field not stored verbatim: %q", blob)
	}

	// Asynchronous batching API with gzip, as Telegraf-like clients use.
	wa := client.WriteAPI("org", "bucket")
	errs := wa.Errors()
	for i := 0; i < 50; i++ {
		wa.WriteRecord("batch,host=srv2 v=1 " + itoa(ts.Add(time.Duration(i)*time.Second).UnixMilli()))
	}
	wa.Flush()
	select {
	case err := <-errs:
		t.Fatalf("async write: %v", err)
	default:
	}
	if got := f.query(t, "gs-a", "srv2", "batch", "v", ts, ts.Add(time.Minute)); len(got) != 1 || len(got[0].Samples) != 50 {
		t.Errorf("async batch: %+v", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWritePrecisionsAndMissingTimestamps(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]string{
		"ns": itoa(base.UnixNano()), "us": itoa(base.UnixMicro()), "ms": itoa(base.UnixMilli()), "s": itoa(base.Unix()),
	}
	for prec, ts := range cases {
		code, body := f.post(t, f.tokA, "&precision="+prec, []byte("p,host=h,prec="+prec+" v=1 "+ts), nil)
		if code != http.StatusNoContent {
			t.Fatalf("precision %s: %d %v", prec, code, body)
		}
		got := f.query(t, "gs-a", "h", "p", "v", base.Add(-time.Millisecond), base.Add(time.Millisecond))
		found := false
		for _, s := range got {
			if s.Tags["prec"] == prec && s.Samples[0].Time.Equal(base) {
				found = true
			}
		}
		if !found {
			t.Errorf("precision %s: point not at %s: %+v", prec, base, got)
		}
	}
	before := time.Now()
	if code, body := f.post(t, f.tokA, "", []byte("now,host=h v=2"), nil); code != http.StatusNoContent {
		t.Fatalf("no timestamp: %d %v", code, body)
	}
	got := f.query(t, "gs-a", "h", "now", "v", before.Add(-time.Second), time.Now().Add(time.Second))
	if len(got) != 1 || got[0].Samples[0].Time.Before(before.Add(-time.Millisecond)) {
		t.Errorf("point without timestamp not stamped with arrival time: %+v", got)
	}
	if code, _ := f.post(t, f.tokA, "&precision=h", []byte("x v=1"), nil); code != http.StatusBadRequest {
		t.Errorf("invalid precision: %d", code)
	}
}

func TestWriteTenancy(t *testing.T) {
	f := newFixture(t)
	// A site tag from the client is ignored: the token decides.
	code, _ := f.post(t, f.tokA, "&precision=s", []byte("m,host=x,site=gs-b,municipality=Stadt-B,class=printer v=1 1700000000"), nil)
	if code != http.StatusNoContent {
		t.Fatal(code)
	}
	s, _ := f.srv.Dir.SiteByName(context.Background(), "gs-b")
	if devs, _ := f.srv.Dir.Devices(context.Background(), s.ID); len(devs) != 0 {
		t.Errorf("token A wrote into gs-b: %+v", devs)
	}
	got := f.query(t, "gs-a", "x", "m", "v", time.Unix(1700000000, 0).Add(-time.Second), time.Unix(1700000000, 0).Add(time.Second))
	if len(got) != 1 || got[0].Tags["site"] != "gs-a" {
		t.Errorf("point not stored under gs-a: %+v", got)
	}
	// Operator tokens read everything but cannot write.
	if code, _ := f.post(t, f.op, "", []byte("m v=1"), nil); code != http.StatusForbidden {
		t.Errorf("operator write: %d, want 403", code)
	}
	for _, tok := range []string{"", "sm_unknown"} {
		code, body := f.post(t, tok, "", []byte("m v=1"), nil)
		if code != http.StatusUnauthorized || body["code"] != "unauthorized" {
			t.Errorf("token %q: %d %v", tok, code, body)
		}
	}
}

func TestWriteBadInputStoresNothing(t *testing.T) {
	f := newFixture(t)
	count := func() int {
		var n int
		f.srv.Store.(interface{ DB() *sql.DB }).DB().QueryRow(`SELECT count(*) FROM points`).Scan(&n)
		return n
	}
	code, body := f.post(t, f.tokA, "", []byte("good,host=h v=1 1\nbad,host=h v=oops 2\ngood,host=h v=3 3"), nil)
	if code != http.StatusBadRequest || body["line"] != float64(2) || !strings.Contains(body["message"].(string), "line 2") {
		t.Errorf("malformed line: %d %v", code, body)
	}
	if n := count(); n != 0 {
		t.Errorf("%d points stored from a rejected request", n)
	}
	code, body = f.post(t, f.tokA, "", []byte("not gzip at all"), map[string]string{"Content-Encoding": "gzip"})
	if code != http.StatusBadRequest || !strings.Contains(body["message"].(string), "gzip") {
		t.Errorf("wrong gzip: %d %v", code, body)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("t,host=h v=1 1\n"))
	zw.Close()
	truncated := gz.Bytes()[:gz.Len()-6]
	if code, _ := f.post(t, f.tokA, "", truncated, map[string]string{"Content-Encoding": "gzip"}); code != http.StatusBadRequest {
		t.Errorf("truncated gzip: %d", code)
	}
	big := bytes.Repeat([]byte("m,host=h v=1\n"), (2<<20)/13)
	if code, body := f.post(t, f.tokA, "", big, nil); code != http.StatusRequestEntityTooLarge || !strings.Contains(body["message"].(string), "limit") {
		t.Errorf("oversized body: %d %v", code, body)
	}
	if code, _ := f.post(t, f.tokA, "", []byte("m v=1"), map[string]string{"Content-Encoding": "br"}); code != http.StatusUnsupportedMediaType {
		t.Errorf("unknown encoding: %d", code)
	}
	if n := count(); n != 0 {
		t.Errorf("%d points stored from rejected requests", n)
	}
	// A valid gzip body is accepted.
	if code, body := f.post(t, f.tokA, "", gz.Bytes(), map[string]string{"Content-Encoding": "gzip"}); code != http.StatusNoContent {
		t.Errorf("valid gzip: %d %v", code, body)
	}
}

func TestPingHealthMetrics(t *testing.T) {
	f := newFixture(t)
	if code, _ := f.post(t, f.tokA, "", []byte("m,host=h v=1"), nil); code != http.StatusNoContent {
		t.Fatal(code)
	}
	for path, want := range map[string]int{"/ping": 204, "/health": 200, "/metrics": 200} {
		resp, err := http.Get(f.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		if path != "/metrics" {
			continue
		}
		for _, m := range []string{"schulmon_collector_write_requests_total", "schulmon_store_points_total", `schulmon_store_rollup_buckets_total{source="raw"}`, `schulmon_store_rollup_buckets_total{source="late"}`, "schulmon_store_rollup_entries"} {
			if !strings.Contains(string(b), m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
	}
}
