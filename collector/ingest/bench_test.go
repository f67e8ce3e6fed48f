package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/loadgen"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

// benchDir is a Directory whose devices are all known after the first
// write, as in the collector's steady state (tenancy's cache hit).
type benchDir struct {
	principals map[string]*tenancy.Principal
	mu         sync.Mutex
	devices    map[benchDevKey]benchDevice
}

type benchDevKey struct {
	site int64
	name string
}

type benchDevice struct {
	id    int64
	class string
}

func (d *benchDir) Authenticate(_ context.Context, secret string) (*tenancy.Principal, error) {
	if p := d.principals[secret]; p != nil {
		return p, nil
	}
	return nil, tenancy.ErrUnauthenticated
}

func (d *benchDir) ResolveDevice(_ context.Context, siteID int64, name, class string) (int64, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := benchDevKey{siteID, name}
	e, ok := d.devices[k]
	if !ok {
		e = benchDevice{int64(len(d.devices) + 1), class}
		d.devices[k] = e
	}
	return e.id, e.class, nil
}

func (d *benchDir) RegisterDevices(ctx context.Context, siteID int64, refs []tenancy.DeviceRef) error {
	for _, r := range refs {
		if _, _, err := d.ResolveDevice(ctx, siteID, r.Name, r.Class); err != nil {
			return err
		}
	}
	return nil
}

func (d *benchDir) Seen(int64, time.Time) {}

type discardStore struct{}

func (discardStore) Write(context.Context, []store.Point) error { return nil }

// nopWriter is a ResponseWriter that keeps nothing but the status.
type nopWriter struct {
	h      http.Header
	status int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(s int)           { w.status = s }

// benchAgents returns a handler and, per simulated agent, its token and
// one round of its points as line protocol (as loadgen makes them for
// the load test: heartbeat, host metrics and ~30 snmp_poll rows).
func benchAgents(tb testing.TB, agents, points int) (*Handler, []string, [][]byte) {
	dir := &benchDir{principals: map[string]*tenancy.Principal{}, devices: map[benchDevKey]benchDevice{}}
	tokens := make([]string, agents)
	bodies := make([][]byte, agents)
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range agents {
		tokens[i] = fmt.Sprintf("token-%d", i)
		site := &tenancy.Site{ID: int64(i + 1), Name: fmt.Sprintf("school-%05d", i), MunicipalityID: int64(i/20 + 1), Municipality: fmt.Sprintf("Kommune-%03d", i/20)}
		dir.principals[tokens[i]] = &tenancy.Principal{Name: tokens[i], Role: tenancy.RoleAgent, TokenID: int64(i + 1), WriteSite: site}
		tmpl := loadgen.AgentTemplate(fmt.Sprintf("srv-%05d", i), points, i)
		bodies[i] = loadgen.AppendRound(nil, tmpl, start.Add(10*time.Second), start, rng)
	}
	h := New(dir, discardStore{}, Limits{TokenRequestsPerSecond: -1, TokenPointsPerSecond: -1}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	return h, tokens, bodies
}

func gzipBody(tb testing.TB, body []byte) []byte {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	if _, err := zw.Write(body); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return zb.Bytes()
}

// BenchmarkServeHTTP is one agent's write as the load test sends it: 50
// points, gzip-compressed (or not), through ServeHTTP into a store that
// discards them, with every device already known. It measures the
// handler's own CPU and allocations, without HTTP transport, database
// or observers.
func BenchmarkServeHTTP(b *testing.B) {
	for _, enc := range []string{"gzip", "identity"} {
		b.Run(enc, func(b *testing.B) {
			const agents = 64
			h, tokens, bodies := benchAgents(b, agents, 50)
			if enc == "gzip" {
				for i := range bodies {
					bodies[i] = gzipBody(b, bodies[i])
				}
			}
			u, _ := url.Parse("http://collector/api/v2/write?org=schulmon&bucket=schulmon&precision=ns")
			auth := make([][]string, agents)
			for i := range tokens {
				auth[i] = []string{"Token " + tokens[i]}
			}
			var rd bytes.Reader
			req := &http.Request{Method: http.MethodPost, URL: u, Header: http.Header{"Content-Encoding": {enc}}, Body: io.NopCloser(&rd)}
			req = req.WithContext(context.Background())
			w := &nopWriter{h: http.Header{}}
			post := func(i int) {
				rd.Reset(bodies[i])
				req.ContentLength = int64(len(bodies[i]))
				req.Header["Authorization"] = auth[i]
				w.status = 0
				h.ServeHTTP(w, req)
				if w.status != http.StatusNoContent {
					b.Fatalf("agent %d: status %d", i, w.status)
				}
			}
			for i := range agents { // first writes register the devices
				post(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				post(i % agents)
				i++
			}
		})
	}
}

// BenchmarkStamp is stamp alone on one agent's parsed round.
func BenchmarkStamp(b *testing.B) {
	h, tokens, bodies := benchAgents(b, 1, 50)
	site := h.dir.(*benchDir).principals[tokens[0]].WriteSite
	var p metric.Parser
	parse := func() {
		if err := p.Parse(bodies[0], metric.PrecisionNS, 0); err != nil {
			b.Fatal(err)
		}
	}
	stamp := func() {
		sc := getStampScratch()
		defer sc.release()
		if _, _, err := h.stamp(context.Background(), site, p.Rows, sc); err != nil {
			b.Fatal(err)
		}
	}
	parse()
	stamp()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// stamp rewrites the rows' tags in place: parse afresh each time,
		// which allocates nothing.
		parse()
		stamp()
	}
}
