package outbox

import (
	"testing"

	"github.com/schulmon/schulmon/metric"
)

// benchBatch is one agent interval's worth of host metrics: 50 points with
// Telegraf-like measurements, tags and fields.
func benchBatch() []metric.Point {
	pts := make([]metric.Point, 0, 50)
	tags := func(kv ...string) map[string]string {
		m := map[string]string{"host": "srv-gs-musterstadt-01"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for i := 0; len(pts) < 50; i++ {
		switch i % 5 {
		case 0:
			pts = append(pts, metric.NewPoint("cpu", tags("cpu", "cpu"+string(rune('0'+i%8))), map[string]metric.Value{
				"usage_user": metric.Float(12.5), "usage_system": metric.Float(3.25), "usage_idle": metric.Float(84.25), "usage_iowait": metric.Float(0)}, t0))
		case 1:
			pts = append(pts, metric.NewPoint("mem", tags(), map[string]metric.Value{
				"total": metric.Int(16 << 30), "used": metric.Int(6 << 30), "available": metric.Int(10 << 30), "used_percent": metric.Float(37.5)}, t0))
		case 2:
			pts = append(pts, metric.NewPoint("disk", tags("path", "/", "device", "sda1", "fstype", "ext4"), map[string]metric.Value{
				"total": metric.Uint(500 << 30), "used": metric.Uint(200 << 30), "used_percent": metric.Float(40)}, t0))
		case 3:
			pts = append(pts, metric.NewPoint("net", tags("interface", "eth0"), map[string]metric.Value{
				"bytes_recv": metric.Uint(123456789), "bytes_sent": metric.Uint(987654321), "err_in": metric.Uint(0), "drop_in": metric.Uint(0)}, t0))
		case 4:
			pts = append(pts, metric.NewPoint("snmp_poll", map[string]string{"device": "sw-gs-musterstadt-1", "class": "switch", "agent_host": "srv-gs-musterstadt-01", "target": "10.1.2.3"},
				map[string]metric.Value{"reachable": metric.Bool(true), "duration_s": metric.Float(0.042), "error": metric.String(""), "sys_uptime_s": metric.Float(8640000)}, t0))
		}
	}
	return pts
}

func benchAppend(b *testing.B, sync SyncPolicy) {
	o, err := Open(b.TempDir(), Options{Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	pts := benchBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := o.Append(pts); err != nil {
			b.Fatal(err)
		}
		if i%200 == 199 {
			// Keep the outbox from growing without bound, as a sender would.
			b.StopTimer()
			recs, _ := o.Peek(1 << 30)
			o.Ack(recs[len(recs)-1].Seq)
			b.StartTimer()
		}
	}
	b.StopTimer()
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*len(pts))/el, "points/s")
}

// BenchmarkAppend50 appends one 50-point batch per op.
func BenchmarkAppend50(b *testing.B) {
	b.Run("sync=never", func(b *testing.B) { benchAppend(b, SyncNever) })
	b.Run("sync=append", func(b *testing.B) { benchAppend(b, SyncEveryAppend) })
}

// BenchmarkAppendPeekAck is the full cycle per 50-point batch: append,
// read back for sending, acknowledge.
func BenchmarkAppendPeekAck(b *testing.B) {
	for _, sync := range []SyncPolicy{SyncNever, SyncEveryAppend} {
		b.Run("sync="+sync.String(), func(b *testing.B) {
			o, err := Open(b.TempDir(), Options{Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			pts := benchBatch()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := o.Append(pts); err != nil {
					b.Fatal(err)
				}
				recs, err := o.Peek(5000)
				if err != nil || len(recs) != 1 {
					b.Fatalf("peek: %d records, %v", len(recs), err)
				}
				if err := o.Ack(recs[0].Seq); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(pts))/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkReplay reads and acknowledges a backlog of 2,000 batches (as
// after an outage) in sends of 5,000 points.
func BenchmarkReplay(b *testing.B) {
	pts := benchBatch()
	b.ReportAllocs()
	var total int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		o, err := Open(b.TempDir(), Options{Sync: SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 2000; j++ {
			o.Append(pts)
		}
		b.StartTimer()
		for {
			recs, err := o.Peek(5000)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				total += r.Points
			}
			o.Ack(recs[len(recs)-1].Seq)
		}
		b.StopTimer()
		o.Close()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkBytesPerPoint reports the outbox's disk use per point for the
// realistic batch (line protocol plus 28 bytes of framing per record).
func BenchmarkBytesPerPoint(b *testing.B) {
	pts := benchBatch()
	for i := 0; i < b.N; i++ {
		o, err := Open(b.TempDir(), Options{Sync: SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 100; j++ {
			o.Append(pts)
		}
		st := o.Stats()
		b.ReportMetric(float64(st.Bytes)/float64(st.PendingPoints), "bytes/point")
		o.Close()
	}
}

// BenchmarkAppendLines50 is the agent's path: one 50-point round as line
// protocol, checked line by line (parse) before it is written.
func BenchmarkAppendLines50(b *testing.B) {
	o, err := Open(b.TempDir(), Options{Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	var lines []byte
	for _, p := range benchBatch() {
		lines = metric.AppendLine(lines, &p)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(lines)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := o.AppendLines(lines); err != nil {
			b.Fatal(err)
		}
		if i%200 == 199 {
			b.StopTimer()
			recs, _ := o.Peek(1 << 30)
			o.Ack(recs[len(recs)-1].Seq)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N*50)/b.Elapsed().Seconds(), "points/s")
}
