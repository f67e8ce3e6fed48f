package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

// One bucket as the 10,000-agent load test writes it, scaled down: each
// series reports every 12 s (25 points in five minutes), with six
// numeric fields and a string.
const (
	benchBucketSeries = 4000
	benchPerSeries    = 25
	benchBucketPoints = benchPerSeries * benchBucketSeries // 100,000
	benchInterval     = 12 * time.Second
)

// benchBucket writes one five-minute bucket of 100,000 points of 400
// hosts' cpu series, and returns the bucket.
func benchBucket(b *testing.B, s *Store) int64 {
	ctx := context.Background()
	bucket := time.Now().Truncate(time.Hour).UnixNano()
	var buf bytes.Buffer
	for m := 0; m < benchPerSeries; m++ {
		buf.Reset()
		for i := 0; i < benchBucketSeries; i++ {
			ts := bucket + int64(m)*int64(benchInterval) + int64(i)*int64(time.Millisecond)
			fmt.Fprintf(&buf, "cpu,host=srv-%d,cpu=cpu%d usage_user=%d.5,usage_system=2.25,usage_idle=90.5,usage_iowait=0.25,n=%di,ok=true,state=\"up\" %d\n", i%400, i/400, (i+m)%100, i, ts)
		}
		var p metric.Parser
		if err := p.Parse(buf.Bytes(), metric.PrecisionNS, 0); err != nil {
			b.Fatal(err)
		}
		pts := make([]store.Point, len(p.Rows))
		for i := range p.Rows {
			pts[i] = store.Point{SiteID: 1, DeviceID: int64(1 + i%400), Row: &p.Rows[i]}
		}
		for len(pts) > 0 {
			n := min(len(pts), benchBatch)
			if err := s.Write(ctx, pts[:n]); err != nil {
				b.Fatal(err)
			}
			pts = pts[n:]
		}
	}
	return bucket
}

// BenchmarkRollupBucket is what Rollup spends on one bucket of 100,000
// points (24,000 rollup rows): recomputed from the raw points (read,
// decode, accumulate, write) or written from the accumulator the writer
// filled. The writer's share is BenchmarkRollupAccumulate.
func BenchmarkRollupBucket(b *testing.B) {
	ctx := context.Background()
	s := openBench(b)
	bucket := benchBucket(b, s)
	s.rmu.Lock()
	acc, names := s.roll.buckets[bucket], s.roll.names.names
	s.rmu.Unlock()
	if acc == nil || acc.n != 6*benchBucketSeries {
		b.Fatalf("accumulator %v, want %d entries", acc, 6*benchBucketSeries)
	}
	// The rows exist after the first write: both cases replace them.
	if _, err := s.writeBucket(ctx, bucket, acc, names, false); err != nil {
		b.Fatal(err)
	}
	b.Run("raw", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.rollupRaw(ctx, bucket); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBucketPoints), "ns/point")
	})
	b.Run("memory", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.writeBucket(ctx, bucket, acc, names, false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBucketPoints), "ns/point")
	})
}

// BenchmarkRollupAccumulate is the writer's cost of the in-memory rollups:
// adding the 100,000 points of BenchmarkRollupBucket's bucket, committed
// in 20 requests, to the bucket's accumulator.
func BenchmarkRollupAccumulate(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < benchBucketPoints; i++ {
		series, m := i%benchBucketSeries, i/benchBucketSeries
		fmt.Fprintf(&buf, "cpu,host=srv-%d usage_user=%d.5,usage_system=2.25,usage_idle=90.5,usage_iowait=0.25,n=%di,ok=true,state=\"up\" %d\n", series, i%100, i, int64(m)*int64(benchInterval)+int64(series)*int64(time.Millisecond))
	}
	var p metric.Parser
	if err := p.Parse(buf.Bytes(), metric.PrecisionNS, 0); err != nil {
		b.Fatal(err)
	}
	var batch []*writeReq
	for r := 0; r < benchBucketPoints/benchBatch; r++ {
		req := &writeReq{points: make([]encodedPoint, benchBatch)}
		for i := range req.points {
			g := r*benchBatch + i
			req.points[i] = encodedPoint{seriesID: int64(1 + g%benchBucketSeries), row: &p.Rows[g], time: p.Rows[g].Time}
		}
		batch = append(batch, req)
	}
	var ov overwriteLog
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := newRollupState(-1<<62, 8_000_000, nil)
		r.applyCommitted(batch, &ov)
		if r.entries != 6*benchBucketSeries {
			b.Fatalf("%d entries, want %d", r.entries, 6*benchBucketSeries)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBucketPoints), "ns/point")
}

// BenchmarkRollupAgedTable writes one bucket of rollups (4,000 series ×
// 6 fields) into a table that holds the four hours before it, and
// reports the WAL pages the bucket wrote: with rollups keyed by series
// each row went onto a page of its own once a table was a few hours old.
func BenchmarkRollupAgedTable(b *testing.B) {
	const series, fields, aged = 4000, 6, 48
	ctx := context.Background()
	s := openBench(b)
	// One connection, so that the pragma holds and the WAL can be read
	// after each bucket without a checkpoint in between.
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_autocheckpoint=0`); err != nil {
		b.Fatal(err)
	}
	names := make([]string, fields)
	for f := range names {
		names[f] = fmt.Sprintf("usage_%d", f)
	}
	acc := newBucketAcc()
	for id := int64(1); id <= series; id++ {
		c := acc.series(id)
		for f := int32(0); f < fields; f++ {
			c.add(f, float64(id)+float64(f))
		}
		c.done()
	}
	step := rollupStep.Nanoseconds()
	start := time.Now().Truncate(time.Hour).UnixNano()
	walFrames := func() int64 {
		var busy, log, done int64
		if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
			b.Fatal(err)
		}
		return log
	}
	truncate := func() {
		if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
	}
	for i := int64(0); i < aged; i++ {
		if _, err := s.writeBucket(ctx, start+i*step, acc, names, false); err != nil {
			b.Fatal(err)
		}
		truncate()
	}
	var frames int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.writeBucket(ctx, start+int64(aged+i)*step, acc, names, false); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		frames += walFrames()
		truncate()
		b.StartTimer()
	}
	b.ReportMetric(float64(frames)/float64(b.N), "wal-pages/bucket")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*series*fields), "ns/row")
}
