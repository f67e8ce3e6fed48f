//go:build unix

package avserver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/loadgen"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWritePathSchoolAgents drives the whole collector as `serve`
// assembles it (embedded store, availability engine, inventory, events)
// over loopback HTTP with the load harness's traffic: one op is one
// agent's gzip-compressed round of 50 points (host metrics and ~30 SNMP
// polls), from 32 concurrent clients over 2,000 agents with their own
// sites and tokens. The first round of every agent (registration of
// devices and series) is written before the timer starts.
//
// It reports writes and points per CPU-second of the process (clients
// included), which the noise of other processes does not change much:
// 10,000 agents every 10 s need 1,000 writes/s.
func BenchmarkWritePathSchoolAgents(b *testing.B) {
	const agents, points = 2000, 50
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := avserver.Attach(ctx, srv, cfg.Availability); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/api/v2/write?org=schulmon&bucket=schulmon&precision=ns"

	tokens := make([]string, agents)
	templates := make([][]metric.Point, agents)
	for i := range tokens {
		site, err := srv.Dir.EnsureSite(ctx, fmt.Sprintf("Kommune-%03d", i/20), fmt.Sprintf("school-%05d", i), "")
		if err != nil {
			b.Fatal(err)
		}
		if tokens[i], _, err = srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &site, ""); err != nil {
			b.Fatal(err)
		}
		templates[i] = loadgen.AgentTemplate(fmt.Sprintf("srv-%05d", i), points, i)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	// Current times: late data would make the rollups recompute old hours.
	start := time.Now().Truncate(10 * time.Second)
	var mu sync.Mutex // templates are stamped in place
	post := func(op int64, rng *rand.Rand, buf *[]byte, zbuf *bytes.Buffer, zw *gzip.Writer) (time.Duration, error) {
		a := int(op % agents)
		round := op / agents
		mu.Lock()
		*buf = loadgen.AppendRound((*buf)[:0], templates[a], start.Add(time.Duration(round)*10*time.Second), start, rng)
		mu.Unlock()
		zbuf.Reset()
		zw.Reset(zbuf)
		zw.Write(*buf)
		zw.Close()
		req, _ := http.NewRequest("POST", url, bytes.NewReader(zbuf.Bytes()))
		req.Header.Set("Authorization", "Token "+tokens[a])
		req.Header.Set("Content-Encoding", "gzip")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return 0, fmt.Errorf("agent %d round %d: status %d", a, round, resp.StatusCode)
		}
		return time.Since(t0), nil
	}

	// Warm-up: every agent's first round, 32 at a time.
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var buf []byte
			var zbuf bytes.Buffer
			zw := gzip.NewWriter(&zbuf)
			for op := next.Add(1) - 1; op < agents; op = next.Add(1) - 1 {
				if _, err := post(op, rng, &buf, &zbuf, zw); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	next.Store(agents)

	var latMu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(16)
	if path := os.Getenv("WRITEPATH_CPUPROFILE"); path != "" && b.N > 1 {
		// The steady state alone; -cpuprofile would include the set-up.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
		var buf []byte
		var zbuf bytes.Buffer
		zw := gzip.NewWriter(&zbuf)
		var mine []time.Duration
		for pb.Next() {
			d, err := post(next.Add(1)-1, rng, &buf, &zbuf, zw)
			if err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, d)
		}
		latMu.Lock()
		lat = append(lat, mine...)
		latMu.Unlock()
	})
	cpu := (cpuTime() - cpu0).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/cpu, "writes/cpu-s")
	b.ReportMetric(float64(b.N*points)/cpu, "points/cpu-s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
