package availability

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/metric"
)

// TestBatchSignalsMatchesReference compares BatchSignals with the
// straightforward version it replaced on random batches: points of all
// signal measurements in any order, with and without the fields and tags
// that make them evidence, devices missing from the batch's list, and
// several batches appended to one slice.
func TestBatchSignalsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	meas := []string{"snmp_poll", "snmp_trap", "check", "schulmon_agent", "snmp_lldp", "discovered_endpoint"}
	total := 0
	for round := 0; round < 300; round++ {
		var all, want []Signal
		for k := 0; k < 1+rng.IntN(3); k++ {
			b := randomBatch(rng, meas)
			want = append(want, batchSignalsRef(b)...)
			all = appendBatchSignals(all, b)
			if got, ref := BatchSignals(b), batchSignalsRef(b); !reflect.DeepEqual(got, ref) {
				t.Fatalf("round %d:\ngot  %+v\nwant %+v", round, got, ref)
			}
			if n := len(batchSignalsRef(b)); n > batchSignalsCap(b) {
				t.Fatalf("round %d: %d signals, cap %d", round, n, batchSignalsCap(b))
			}
		}
		if len(all) != len(want) || (len(all) > 0 && !reflect.DeepEqual(all, want)) {
			t.Fatalf("round %d: appended batches differ", round)
		}
		total += len(want)
	}
	if total < 500 {
		t.Fatalf("only %d signals: the random batches test little", total)
	}
	if BatchSignals(nil) != nil {
		t.Fatal("signals of a nil batch")
	}
}

func randomBatch(rng *rand.Rand, meas []string) *ingest.Batch {
	ts := t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
	b := &ingest.Batch{MunicipalityID: 1, SiteID: int64(1 + rng.IntN(3)), Municipality: "m", Site: "s"}
	nd := rng.IntN(6)
	for d := 0; d < nd; d++ {
		ds := ingest.DeviceSeen{DeviceID: int64(10 + d), Device: fmt.Sprintf("d%d", d), Class: []string{"server", "switch", ""}[rng.IntN(3)], Self: rng.IntN(3) == 0}
		if ds.Self {
			for i := 0; i < rng.IntN(3); i++ {
				ds.Beats = append(ds.Beats, ts.Add(time.Duration(i)*time.Second))
			}
		}
		b.Devices = append(b.Devices, ds)
	}
	for i := 0; i < rng.IntN(12); i++ {
		tags := map[string]string{}
		if rng.IntN(8) != 0 {
			tags["device"] = fmt.Sprintf("d%d", rng.IntN(nd+2)) // some not listed
		}
		if rng.IntN(2) == 0 {
			tags["class"] = []string{"router", "", "printer"}[rng.IntN(3)]
		}
		if rng.IntN(2) == 0 {
			tags["trap"] = []string{"coldStart", "warmStart", "linkDown"}[rng.IntN(3)]
		}
		if rng.IntN(4) != 0 {
			tags["check"] = []string{"http", "", "dns"}[rng.IntN(3)]
		}
		fields := map[string]metric.Value{}
		switch rng.IntN(3) {
		case 0:
			fields["reachable"] = metric.Bool(rng.IntN(2) == 0)
		case 1:
			fields["reachable"] = metric.Int(1)
		}
		if rng.IntN(2) == 0 {
			fields["sys_uptime_s"] = metric.Float(float64(rng.IntN(1000)))
		}
		if rng.IntN(3) == 0 {
			fields["rebooted"] = metric.Bool(rng.IntN(2) == 0)
		}
		if rng.IntN(4) != 0 {
			fields["status"] = metric.Int(int64(rng.IntN(5)))
		}
		b.Signals = append(b.Signals, metric.NewPoint(meas[rng.IntN(len(meas))], tags, fields, ts.Add(time.Duration(i)*time.Second)))
	}
	return b
}

// batchSignalsRef is BatchSignals as it was before it was tuned for
// allocations: the reference the tuned one must agree with.
func batchSignalsRef(b *ingest.Batch) []Signal {
	if b == nil {
		return nil
	}
	base := ObjectInfo{MunicipalityID: b.MunicipalityID, SiteID: b.SiteID, Municipality: b.Municipality, Site: b.Site}
	classes := map[string]string{}
	ids := map[string]int64{}
	beats := 0
	for _, d := range b.Devices {
		classes[d.Device] = d.Class
		ids[d.Device] = d.DeviceID
		beats += len(d.Beats)
	}
	sigs := make([]Signal, 0, len(b.Signals)+beats)
	for i := range b.Signals {
		p := &b.Signals[i]
		dev, _ := p.Tag("device")
		if dev == "" {
			continue
		}
		o := base
		o.Device, o.Class, o.DeviceID = dev, classes[dev], ids[dev]
		if c, ok := p.Tag("class"); ok && c != "" {
			o.Class = c
		}
		s := Signal{Object: o, Time: p.Time}
		switch p.Measurement {
		case "snmp_poll":
			s.Kind = SignalPoll
			v, ok := p.Field("reachable")
			if !ok || v.Kind() != metric.KindBool {
				continue
			}
			s.OK = v.BoolValue()
			if s.OK {
				if u, ok := p.Field("sys_uptime_s"); ok {
					if f, ok := u.AsFloat(); ok {
						s.Uptime, s.HasUptime = f, true
					}
				}
				if r, ok := p.Field("rebooted"); ok && r.Kind() == metric.KindBool && r.BoolValue() {
					s.Rebooted = true
				}
			}
		case "snmp_trap":
			// A trap is a sign of life; coldStart and warmStart say the
			// device has just restarted.
			s.Kind, s.OK = SignalTrap, true
			switch tr, _ := p.Tag("trap"); tr {
			case "coldStart", "warmStart":
				s.Rebooted = true
			}
		case "check":
			name, _ := p.Tag("check")
			if name == "" {
				continue
			}
			o.Check = name
			s.Object, s.Kind = o, SignalCheck
			v, ok := p.Field("status")
			if !ok {
				continue
			}
			st, _ := v.AsFloat()
			switch int(st) {
			case 0, 1: // ok, warning: the service works
				s.OK = true
			case 2:
				s.OK = false
			default: // unknown: no evidence either way
				continue
			}
		default:
			continue
		}
		sigs = append(sigs, s)
	}
	for _, d := range b.Devices {
		if !d.Self {
			continue // everything it "wrote" was about it, by someone else
		}
		o := base
		o.Device, o.Class, o.DeviceID = d.Device, d.Class, d.DeviceID
		for _, t := range d.Beats {
			sigs = append(sigs, Signal{Object: o, Time: t, Kind: SignalHeartbeat, OK: true})
		}
	}
	return sigs
}
