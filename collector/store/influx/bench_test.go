package influx_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/store/influx"
	"github.com/schulmon/schulmon/collector/store/influx/influxtest"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// BenchmarkIngestIntoInfluxDB measures sustained points/s from simulated
// agents (16 concurrent senders, 100 host-metric points per request, as an
// agent's flush carries) through the collector into a real influxd, and
// the latency per request: "direct" writes the same batches straight into
// influxd (the baseline), "collector" through the collector's write API;
// "added" is the collector's own latency per write, measured inside it:
// the request's time in the collector minus the InfluxDB request its
// points went in (influx.Timing).
//
//	go test -run='^$' -bench=IngestIntoInfluxDB -benchtime=2000x -count=5 ./collector/store/influx/
func BenchmarkIngestIntoInfluxDB(b *testing.B) {
	idb := influxtest.Shared(b)
	const agents, perReq = 16, 100
	var seq atomic.Int64
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	body := func(agent int) string {
		var sb strings.Builder
		n := seq.Add(1)
		ts := base + n*int64(time.Millisecond)
		for i := 0; i < perReq/4; i++ {
			fmt.Fprintf(&sb, "cpu,cpu=cpu%d,host=agent-%d usage_idle=%d,usage_user=%d,usage_system=1.5 %d\n", i, agent, 90, 5, ts)
			fmt.Fprintf(&sb, "disk,host=agent-%d,path=/d%d used_percent=42.5,used=123456789i,free=987654321i %d\n", agent, i, ts)
			fmt.Fprintf(&sb, "net,host=agent-%d,interface=eth%d bytes_recv=%di,bytes_sent=%di %d\n", agent, i, n*1000, n*500, ts)
			fmt.Fprintf(&sb, "snmp_if,device=sw-%d,class=switch,ifName=Gi1/0/%d,ifIndex=%d in_bps=1e6,out_bps=2e5,ifOperStatus=1i %d\n", agent, i, i, ts)
		}
		return sb.String()
	}
	run := func(b *testing.B, url, token string) {
		b.Helper()
		lat := make([]time.Duration, b.N)
		var next atomic.Int64
		var failed atomic.Int64
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: agents}}
		b.ResetTimer()
		start := time.Now()
		for a := 0; a < agents; a++ {
			wg.Add(1)
			go func(agent int) {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body(agent)))
					req.Header.Set("Authorization", "Token "+token)
					t0 := time.Now()
					resp, err := client.Do(req)
					lat[i] = time.Since(t0)
					if err != nil || resp.StatusCode != http.StatusNoContent {
						failed.Add(1)
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			}(a)
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		if failed.Load() > 0 {
			b.Fatalf("%d of %d writes failed", failed.Load(), b.N)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(b.N*perReq)/elapsed.Seconds(), "points/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.Run("direct", func(b *testing.B) {
		bucket := idb.NewDatabase(b)
		run(b, idb.URL+"/api/v2/write?precision=ns&bucket="+bucket, influxtest.Token)
	})
	for _, c := range []struct {
		name string
		mod  func(*config.Config)
	}{
		{"collector", nil},
		// On loopback gzip only costs CPU that influxd needs.
		{"collector-nogzip", func(c *config.Config) { c.Storage.InfluxDB.Gzip = false }},
		{"collector-nogzip-16writers", func(c *config.Config) { c.Storage.InfluxDB.Gzip = false; c.Storage.InfluxDB.WriteConcurrency = 16 }},
	} {
		b.Run(c.name, func(b *testing.B) {
			bucket := idb.NewDatabase(b)
			h, tok, st, added := benchCollector(b, idb.URL, bucket, c.mod)
			hs := httptest.NewServer(h)
			defer hs.Close()
			run(b, hs.URL+"/api/v2/write?precision=ns", tok)
			a := added()
			sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
			b.ReportMetric(float64(a[len(a)/2].Microseconds())/1000, "added-p50-ms")
			b.ReportMetric(float64(a[len(a)*99/100].Microseconds())/1000, "added-p99-ms")
			if s := st.Stats(); s.QueuedPoints > 0 {
				b.Logf("%d points went through the on-disk queue (InfluxDB was slow or failed)", s.QueuedPoints)
			}
		})
	}
}

// benchCollector builds a collector (server package, InfluxDB backend) and
// wraps its handler so that every write reports the collector's added
// latency: the request's time in the collector minus the time of the
// InfluxDB request its points went in.
func benchCollector(b *testing.B, influxURL, bucket string, mod func(*config.Config)) (http.Handler, string, *influx.Store, func() []time.Duration) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Storage.Backend = "influxdb"
	cfg.Storage.InfluxDB.URL, cfg.Storage.InfluxDB.Bucket, cfg.Storage.InfluxDB.Token = influxURL, bucket, influxtest.Token
	cfg.Limits.TokenRequestsPerSecond, cfg.Limits.TokenPointsPerSecond = -1, -1
	if mod != nil {
		mod(&cfg)
	}
	ctx := context.Background()
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Store.Close(); srv.MetaDB.Close() })
	site, err := srv.Dir.EnsureSite(ctx, "Musterstadt", "gs-nord", "grundschule")
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &site, "")
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var added []time.Duration
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tm influx.Timing
		t0 := time.Now()
		srv.Mux.ServeHTTP(w, r.WithContext(influx.WithTiming(r.Context(), &tm)))
		d := time.Since(t0) - tm.Influx
		mu.Lock()
		added = append(added, d)
		mu.Unlock()
	})
	return h, tok, srv.Store.(*influx.Store), func() []time.Duration { mu.Lock(); defer mu.Unlock(); return added }
}
