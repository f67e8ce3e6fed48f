package availability

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/metric"
)

// Shape of the write path at 10,000 schools: every agent writes every
// 10 s, with its own heartbeat and the snmp_poll results of the devices it
// polls; the ingest handler merges up to 64 writes into one call.
const (
	benchSites       = 2048
	benchPolled      = 30 // snmp_poll rows per write
	benchMerge       = 64 // ingest's maxAsyncMerge
	benchWriteEveryS = 10
)

// observeFixture is an engine that knows every object of benchSites
// schools, and one write batch per school to replay with new times.
type observeFixture struct {
	e       *Engine
	clk     *clock
	batches []*ingest.Batch
	ts      time.Time // data time of the latest round
}

var observeFixtures sync.Map

func benchObserveFixture(b *testing.B) *observeFixture {
	b.Helper()
	if v, ok := observeFixtures.Load(benchSites); ok {
		return v.(*observeFixture)
	}
	db := openDB(keepTB{b})
	clk := &clock{t: t0}
	e, err := Open(context.Background(), db, Config{Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	f := &observeFixture{e: e, clk: clk, ts: t0}
	for s := range benchSites {
		f.batches = append(f.batches, benchWrite(s))
	}
	// The first round creates the objects; the benchmark measures the
	// steady state, in which every object is known and healthy.
	f.round(0, len(f.batches))
	e.ObserveBatches(context.Background(), f.batches)
	if n := len(e.list); n != benchSites*(1+benchPolled) {
		b.Fatalf("%d objects, want %d", n, benchSites*(1+benchPolled))
	}
	observeFixtures.Store(benchSites, f)
	return f
}

// benchWrite is one agent's write as the ingest handler hands it over:
// trusted tags stamped, the host with one beat, the polled devices seen.
func benchWrite(s int) *ingest.Batch {
	muni, site := fmt.Sprintf("m%d", s/500), fmt.Sprintf("s%d", s)
	host := fmt.Sprintf("srv-%05d", s)
	b := &ingest.Batch{MunicipalityID: int64(s/500 + 1), SiteID: int64(s + 1), Municipality: muni, Site: site}
	id := int64(s * (1 + benchPolled))
	b.Devices = append(b.Devices, ingest.DeviceSeen{DeviceID: id + 1, Device: host, Class: "server", Points: 20, Self: true, Beats: []time.Time{{}}})
	b.Signals = append(b.Signals, metric.NewPoint("schulmon_agent",
		map[string]string{"host": host, "device": host, "class": "server", "municipality": muni, "site": site},
		map[string]metric.Value{"uptime_s": metric.Float(0), "version": metric.String("bench")}, time.Time{}))
	for d := range benchPolled {
		class, name := "switch", fmt.Sprintf("sw-%05d-%d", s, d)
		switch d % 4 {
		case 1:
			class, name = "access_point", fmt.Sprintf("ap-%05d-%d", s, d)
		case 3:
			class, name = "printer", fmt.Sprintf("prn-%05d-%d", s, d)
		}
		b.Devices = append(b.Devices, ingest.DeviceSeen{DeviceID: id + 2 + int64(d), Device: name, Class: class, Points: 1})
		b.Signals = append(b.Signals, metric.NewPoint("snmp_poll",
			map[string]string{"agent_host": host, "device": name, "class": class, "municipality": muni, "site": site, "target": fmt.Sprintf("10.0.%d.%d", s%250, d+10)},
			map[string]metric.Value{"duration_s": metric.Float(0.2), "reachable": metric.Bool(true), "sys_uptime_s": metric.Float(0)}, time.Time{}))
	}
	return b
}

// round stamps the batches [from, to) with the fixture's current time.
// Uptimes grow with the data time (a decrease would read as a reboot).
func (f *observeFixture) round(from, to int) {
	up := metric.Float(1e6 + f.ts.Sub(t0).Seconds())
	for _, b := range f.batches[from:to] {
		b.Devices[0].First, b.Devices[0].Last, b.Devices[0].Beats[0] = f.ts, f.ts, f.ts
		for i := range b.Signals {
			p := &b.Signals[i]
			p.Time = f.ts
			for j := range p.Fields {
				if k := p.Fields[j].Key; k == "uptime_s" || k == "sys_uptime_s" {
					p.Fields[j].Value = up
				}
			}
		}
	}
}

// BenchmarkObserveBatches is one merged call of the write path: 64
// writes of different schools, each a heartbeat and 30 snmp_poll rows of
// known, healthy objects (~2,000 signals). Every school writes again
// 10 s of data time later.
func BenchmarkObserveBatches(b *testing.B) {
	f := benchObserveFixture(b)
	ctx := context.Background()
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		if next == 0 {
			f.ts = f.ts.Add(benchWriteEveryS * time.Second)
			f.clk.Set(f.ts)
		}
		bs := f.batches[next : next+benchMerge]
		f.round(next, next+benchMerge)
		f.e.ObserveBatches(ctx, bs)
		next = (next + benchMerge) % len(f.batches)
	}
	b.StopTimer()
	// Process CPU time includes the garbage collector's and is less
	// skewed than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	// ObserveBatches only logs errors: check that the signals arrived.
	st := f.e.objs[ObjectKey{1, "srv-00000", ""}]
	if st == nil || len(st.segs) == 0 || st.segs[len(st.segs)-1].E != ms(f.ts) {
		b.Fatal("the latest heartbeat was not applied")
	}
}

// BenchmarkBatchSignals converts one write (a heartbeat and 30 polls).
func BenchmarkBatchSignals(b *testing.B) {
	bt := benchWrite(0)
	b.ReportAllocs()
	for b.Loop() {
		if len(BatchSignals(bt)) != 1+benchPolled {
			b.Fatal("wrong signal count")
		}
	}
}

// BenchmarkBurnInputs10k is burn-rate alerting's read over 10,000
// objects, a tenth of them with outages in the window.
func BenchmarkBurnInputs10k(b *testing.B) {
	e, clk := benchEngine(b, 10_000)
	ctx := context.Background()
	now := clk.Now().Add(5 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if len(e.BurnInputs(ctx, now, 6*time.Hour, nil)) == 0 {
			b.Fatal("nothing burns")
		}
	}
}
