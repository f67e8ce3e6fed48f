//go:build unix

package metric

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. These machines are
// shared and noisy: points per CPU-second is the throughput of one
// dedicated core, whatever else runs beside the benchmark.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBody is what an agent sends: Telegraf-style host metrics, 1,000
// points of 5 to 11 fields with a handful of tags each.
func benchBody(points int) []byte {
	var b strings.Builder
	ts := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).UnixNano()
	for i := 0; i < points; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "cpu,class=server,cpu=cpu%d,host=srv-%d usage_user=%d.25,usage_system=3.5,usage_idle=90.125,usage_nice=0,usage_iowait=0.5,usage_irq=0,usage_softirq=0.25,usage_steal=0,usage_guest=0,usage_guest_nice=0 %d\n", i%8, i%50, i%100, ts+int64(i))
		case 1:
			fmt.Fprintf(&b, "mem,class=server,host=srv-%d total=8589934592i,available=%di,used=4294967296i,free=1073741824i,used_percent=50.5 %d\n", i%50, 4294967296+i, ts+int64(i))
		case 2:
			fmt.Fprintf(&b, "disk,class=server,device=sda1,fstype=ext4,host=srv-%d,mode=rw,path=/var\\ data total=107374182400i,free=%di,used=53687091200i,used_percent=50,inodes_used=123456i %d\n", i%50, i, ts+int64(i))
		case 3:
			fmt.Fprintf(&b, "snmp_if,device=sw-%d,ifName=Gi1/0/%d,class=switch ifHCInOctets=%du,ifHCOutOctets=987654321u,ifOperStatus=1i,in_bps=1.5e6,alias=\"Klassenraum %d\" %d\n", i%20, i%48, i*1000, i%48, ts+int64(i))
		}
	}
	return []byte(b.String())
}

// BenchmarkParse measures line-protocol parsing and validation on one
// core; points/s is the figure BENCHMARKS.md reports.
func BenchmarkParse(b *testing.B) {
	body := benchBody(1000)
	var p Parser
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := p.Parse(body, PrecisionNS, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/(cpuTime()-cpu0).Seconds(), "points/cpu-s")
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() { _ = p.Parse(body, PrecisionNS, 0) }))/1000, "allocs/point")
}

// BenchmarkAppendLine measures the agent's encoding.
func BenchmarkAppendLine(b *testing.B) {
	p := NewPoint("cpu", map[string]string{"host": "srv-1", "cpu": "cpu-total", "class": "server"}, map[string]Value{
		"usage_user": Float(1.25), "usage_system": Float(3.5), "usage_idle": Float(90.125), "n": Int(7), "s": String("ok"),
	}, time.Unix(1700000000, 0))
	var buf []byte
	b.ReportAllocs()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		buf = AppendLine(buf[:0], &p)
	}
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "points/cpu-s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
}
