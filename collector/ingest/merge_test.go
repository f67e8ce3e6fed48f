package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

// What Telegraf 1.37's system input sends each interval (captured from a
// real Telegraf writing to the collector): three metrics of one series
// with one timestamp.
const telegrafSystem = `system,host=tg-srv load1=0.52,load15=0.61,load5=0.58,n_cpus=2i,n_unique_users=0i,n_users=0i 1763830000000000000
cpu,cpu=cpu-total,host=tg-srv usage_idle=91.5,usage_user=5.5 1763830000000000000
system,host=tg-srv uptime=8960i 1763830000000000000
system,host=tg-srv uptime_format=" 2:29" 1763830000000000000
mem,host=tg-srv total=25276026880i,used_percent=2.75 1763830000000000000
`

func parseTestPoints(t testing.TB, body string) []store.Point {
	t.Helper()
	var p metric.Parser
	if err := p.Parse([]byte(body), metric.PrecisionNS, 0); err != nil {
		t.Fatal(err)
	}
	points := make([]store.Point, len(p.Rows))
	for i := range p.Rows {
		points[i] = store.Point{DeviceID: 1, Row: &p.Rows[i]}
	}
	return points
}

// describe renders points as "measurement,tags time: k=v k=v" with the
// fields sorted, for comparisons.
func describe(points []store.Point) []string {
	var out []string
	for _, p := range points {
		var b strings.Builder
		b.Write(p.Row.Measurement)
		for _, t := range p.Row.Tags {
			fmt.Fprintf(&b, ",%s=%s", t.Key, t.Value)
		}
		fmt.Fprintf(&b, " %d:", p.Row.Time)
		fields := append([]metric.RawField(nil), p.Row.Fields...)
		sort.Slice(fields, func(i, j int) bool { return string(fields[i].Key) < string(fields[j].Key) })
		for _, f := range fields {
			fmt.Fprintf(&b, " %s=%v", f.Key, f.Value().Any())
		}
		out = append(out, b.String())
	}
	return out
}

func TestMergeSameSeriesFoldsTelegrafSystem(t *testing.T) {
	body := telegrafSystem +
		"system,host=tg-srv load1=0.7 1763830000000000000\n" + // later line wins
		"system,host=other load1=1 1763830000000000000\n" + // other series
		"system,host=tg-srv load1=2 1763830001000000000\n" // other time
	got := describe(mergeSameSeries(parseTestPoints(t, body)))
	want := []string{
		"system,host=tg-srv 1763830000000000000: load1=0.7 load15=0.61 load5=0.58 n_cpus=2 n_unique_users=0 n_users=0 uptime=8960 uptime_format= 2:29",
		"cpu,cpu=cpu-total,host=tg-srv 1763830000000000000: usage_idle=91.5 usage_user=5.5",
		"mem,host=tg-srv 1763830000000000000: total=25276026880 used_percent=2.75",
		"system,host=other 1763830000000000000: load1=1",
		"system,host=tg-srv 1763830001000000000: load1=2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("merged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMergeSameSeriesKeepsDevicesApart(t *testing.T) {
	points := parseTestPoints(t, "check,target=x ok=1i 1\ncheck,target=x ms=5 1\n")
	points[1].DeviceID = 2
	if got := mergeSameSeries(points); len(got) != 2 {
		t.Errorf("rows of two devices merged: %v", describe(got))
	}
}

func TestMergeSameSeriesHashCollision(t *testing.T) {
	points := parseTestPoints(t, "a v=1 1\nb v=2 1\nb w=3 1\n")
	m := newSeriesMerger()
	// Pretend b's hash belongs to a: the merger must compare, not trust it.
	m.seen[m.hash(&points[1])] = 0
	got := describe(m.merge(points))
	want := []string{"a 1: v=1", "b 1: v=2 w=3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after a collision: %q, want %q", got, want)
	}
	if len(m.seen) != 0 {
		t.Errorf("merger not cleared for reuse: %d entries", len(m.seen))
	}
}

func TestMergeSameSeriesNoDuplicatesAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "cpu,cpu=cpu%d,host=h%d usage_idle=%d 1763830000000000000\n", i%4, i/4, i)
	}
	points := parseTestPoints(t, b.String())
	mergeSameSeries(points) // warm the pool's map
	allocs := testing.AllocsPerRun(20, func() {
		if n := len(mergeSameSeries(points)); n != 1000 {
			t.Fatalf("%d points left of 1000 distinct", n)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request without duplicates, want 0", allocs)
	}
}

// The handler stores what Telegraf sends (gzip) as InfluxDB would: one
// system point with all its fields.
func TestWriteMergesSameSeriesAndTime(t *testing.T) {
	st := &recordingStore{}
	h := New(oneSiteDir{}, st, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	zw.Write([]byte(telegrafSystem))
	zw.Close()
	req := httptest.NewRequest("POST", "/api/v2/write?org=schulmon&bucket=schulmon", &body)
	req.Header.Set("Authorization", "Token good")
	req.Header.Set("Content-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := []string{
		"system,host=tg-srv 1763830000000000000: load1=0.52 load15=0.61 load5=0.58 n_cpus=2 n_unique_users=0 n_users=0 uptime=8960 uptime_format= 2:29",
		"cpu,cpu=cpu-total,host=tg-srv 1763830000000000000: usage_idle=91.5 usage_user=5.5",
		"mem,host=tg-srv 1763830000000000000: total=25276026880 used_percent=2.75",
	}
	if strings.Join(st.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(st.got, "\n"), strings.Join(want, "\n"))
	}
}

type recordingStore struct{ got []string }

func (s *recordingStore) Write(_ context.Context, points []store.Point) error {
	s.got = append(s.got, describe(points)...) // rows are valid only during Write
	return nil
}

type oneSiteDir struct{}

func (oneSiteDir) Authenticate(_ context.Context, secret string) (*tenancy.Principal, error) {
	if secret != "good" {
		return nil, tenancy.ErrUnauthenticated
	}
	return &tenancy.Principal{TokenID: 1, WriteSite: &tenancy.Site{ID: 1, Name: "gs", MunicipalityID: 1, Municipality: "M"}}, nil
}

func (oneSiteDir) ResolveDevice(_ context.Context, _ int64, _, class string) (int64, string, error) {
	return 1, class, nil
}

func (oneSiteDir) Seen(int64, time.Time) {}

// BenchmarkMergeSameSeries is the cost on every request: 5,000 distinct
// rows (no duplicates), as in BenchmarkIngestHTTP's batches.
func BenchmarkMergeSameSeries(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&sb, "cpu,cpu=cpu-total,host=srv-%d usage_user=%d.5,usage_system=2.25,usage_idle=90.5 %d\n", i%100, i%100, 1763830000000000000+int64(i)*int64(time.Millisecond))
	}
	points := parseTestPoints(b, sb.String())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		mergeSameSeries(points)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(points)), "ns/point")
}
