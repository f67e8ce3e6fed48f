package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/loadgen"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

const benchBatch = 5000 // points per Write, as one ingest request

// benchPoints parses one batch of Telegraf-style host metrics of 100
// hosts, one millisecond apart, starting at base. With full false every
// line carries only some of its fields, as Telegraf's system input sends
// load and uptime as separate lines of the same series and time.
func benchPoints(b *testing.B, base int64, full bool) []store.Point {
	var buf bytes.Buffer
	for j := 0; j < benchBatch; j++ {
		ts := base + int64(j)*int64(time.Millisecond)
		host := j % 100
		switch {
		case j%3 == 0 && full:
			fmt.Fprintf(&buf, "cpu,cpu=cpu-total,host=srv-%d usage_user=%d.5,usage_system=2.25,usage_idle=90.5,usage_iowait=0.25 %d\n", host, j%100, ts)
		case j%3 == 0:
			fmt.Fprintf(&buf, "cpu,cpu=cpu-total,host=srv-%d usage_steal=0.5,usage_idle=91.5 %d\n", host, ts)
		case j%3 == 1 && full:
			fmt.Fprintf(&buf, "mem,host=srv-%d total=8589934592i,used=%di,used_percent=50.5 %d\n", host, j, ts)
		case j%3 == 1:
			fmt.Fprintf(&buf, "mem,host=srv-%d available=%di %d\n", host, j, ts)
		case full:
			fmt.Fprintf(&buf, "net,host=srv-%d,interface=eth0 bytes_recv=%di,bytes_sent=12345i,err_in=0i,drop_in=0i %d\n", host, j*100, ts)
		default:
			fmt.Fprintf(&buf, "net,host=srv-%d,interface=eth0 speed=1000i,up=true,name=\"eth0\" %d\n", host, ts)
		}
	}
	var p metric.Parser
	if err := p.Parse(buf.Bytes(), metric.PrecisionNS, 0); err != nil {
		b.Fatal(err)
	}
	pts := make([]store.Point, len(p.Rows))
	for i := range p.Rows {
		pts[i] = store.Point{SiteID: 1, DeviceID: int64(1 + i%100), Row: &p.Rows[i]}
	}
	return pts
}

func openBench(b *testing.B) *Store {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "points.db"), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkWriteNewPoints is the ingest path: every point is new (no
// conflict), one group commit with fsync per Write.
func BenchmarkWriteNewPoints(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	base := time.Now().Truncate(time.Hour).UnixNano()
	pts := benchPoints(b, base, true)
	if err := s.Write(ctx, pts); err != nil { // create the series
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Write copies the time; moving the rows on makes every point new.
		for j := range pts {
			pts[j].Row.Time += benchBatch * int64(time.Millisecond)
		}
		if err := s.Write(ctx, pts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkWriteOverwrite writes the same series and times again with
// other fields: every point conflicts with a stored one (a replay, or
// Telegraf's system input across requests).
func BenchmarkWriteOverwrite(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	base := time.Now().Truncate(time.Hour).UnixNano()
	full, part := benchPoints(b, base, true), benchPoints(b, base, false)
	if err := s.Write(ctx, full); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pts := part
		if i%2 == 1 {
			pts = full
		}
		if err := s.Write(ctx, pts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkWriteDistrict is the store's share of the 10,000-school load
// test: many writers at once, each a school's 50-point request of its own
// series (loadgen's shape), all series known. One op is one request;
// points/s is the store's rate with group commit.
func BenchmarkWriteDistrict(b *testing.B) {
	const agents = 2000
	s := openBench(b)
	ctx := context.Background()
	start := time.Now().Truncate(time.Hour)
	batches := make([][]store.Point, agents)
	for a := range batches {
		tmpl := loadgen.AgentTemplate(fmt.Sprintf("srv-%d", a), 50, a)
		var p metric.Parser
		body := loadgen.AppendRound(nil, tmpl, start, start, rand.New(rand.NewPCG(uint64(a), 1)))
		if err := p.Parse(body, metric.PrecisionNS, 0); err != nil {
			b.Fatal(err)
		}
		pts := make([]store.Point, len(p.Rows))
		for i := range p.Rows {
			pts[i] = store.Point{SiteID: int64(a + 1), DeviceID: int64(a*100 + i%31), Row: &p.Rows[i]}
		}
		batches[a] = pts
		if err := s.Write(ctx, pts); err != nil { // create the series
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(32) // requests in flight, as under load
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			src := batches[n%agents]
			// Each request is a new round of its school: new times, no
			// conflicts. Copies, as rows are shared between goroutines.
			pts := make([]store.Point, len(src))
			rows := make([]metric.Row, len(src))
			off := (n/agents + 1) * int64(10*time.Second)
			for i := range src {
				rows[i] = *src[i].Row
				rows[i].Time += off
				pts[i] = src[i]
				pts[i].Row = &rows[i]
			}
			if err := s.Write(ctx, pts); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*50)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*50), "cpu-ns/point")
	var ps int
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&ps); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(ps), "page-bytes")
}
