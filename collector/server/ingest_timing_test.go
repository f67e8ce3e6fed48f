//go:build unix

package server

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/config"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestHTTP measures sustained ingest over HTTP into the
// embedded store: concurrent clients post batches of 5,000 points of 100
// hosts (Telegraf-style host metrics); each request returns after its
// group commit. The client side runs in the same process, so
// points/cpu-s includes the clients' work.
func BenchmarkIngestHTTP(b *testing.B) {
	// One token stands for many agents here: lift the per-token limits.
	f := newFixture(&testing.T{}, func(c *config.Config) {
		c.Limits.MaxBodyBytes = 16 << 20
		c.Limits.TokenRequestsPerSecond, c.Limits.TokenPointsPerSecond = -1, -1
	})
	defer f.http.Close()
	defer f.srv.close()
	const perBody = 5000
	bodies := make([][]byte, 64)
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range bodies {
		var buf bytes.Buffer
		for j := 0; j < perBody; j++ {
			ts := base + int64(i*perBody+j)*int64(time.Millisecond)
			host := (i*perBody + j) % 100
			switch j % 3 {
			case 0:
				fmt.Fprintf(&buf, "cpu,cpu=cpu-total,host=srv-%d usage_user=%d.5,usage_system=2.25,usage_idle=90.5,usage_iowait=0.25 %d\n", host, j%100, ts)
			case 1:
				fmt.Fprintf(&buf, "mem,host=srv-%d total=8589934592i,used=%di,used_percent=50.5 %d\n", host, j, ts)
			case 2:
				fmt.Fprintf(&buf, "net,host=srv-%d,interface=eth0 bytes_recv=%di,bytes_sent=12345i,err_in=0i,drop_in=0i %d\n", host, j*100, ts)
			}
		}
		bodies[i] = buf.Bytes()
	}
	var next atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.SetParallelism(4)
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)%int64(len(bodies))]
			req, _ := http.NewRequest("POST", f.http.URL+"/api/v2/write?org=o&bucket=b", bytes.NewReader(body))
			req.Header.Set("Authorization", "Token "+f.tokA)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	points := float64(b.N * perBody)
	b.ReportMetric(points/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(points/(cpuTime()-cpu0).Seconds(), "points/cpu-s")
}
