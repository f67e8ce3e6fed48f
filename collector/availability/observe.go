package availability

import (
	"context"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/metric"
)

// Observe implements ingest.Observer: it turns a stored write batch into
// signals. The rows a device wrote about itself (ingest.DeviceSeen.Self:
// named by their host tag — host metrics, the agent's own heartbeat) are
// its heartbeat, one per second of data time; snmp_poll, snmp_trap and
// check points are results about the device they name. Other rows about a
// device (an SNMP poller's snmp_if, snmp_lldp, …) are no signal at all: a
// switch lives by its poll results, not by its poller's writes.
// snmp_lldp points are kept for the parents derived from LLDP (lldp.go).
func (e *Engine) Observe(ctx context.Context, b *ingest.Batch) {
	e.noteLLDP(b)
	sigs := BatchSignals(b)
	if len(sigs) == 0 {
		return
	}
	if err := e.ObserveSignals(ctx, sigs); err != nil {
		e.cfg.Logger.Error("availability: observe batch", "site", b.Site, "err", err)
	}
}

// BatchSignals converts a write batch into signals.
func BatchSignals(b *ingest.Batch) []Signal {
	if b == nil {
		return nil
	}
	return appendBatchSignals(make([]Signal, 0, batchSignalsCap(b)), b)
}

// batchSignalsCap is the most signals a batch can give: one per signal
// point and one per beat of a device about itself.
func batchSignalsCap(b *ingest.Batch) int {
	if b == nil {
		return 0
	}
	n := len(b.Signals)
	for i := range b.Devices {
		if b.Devices[i].Self {
			n += len(b.Devices[i].Beats)
		}
	}
	return n
}

// appendBatchSignals appends the signals of a batch to sigs. It is on the
// write path (some 30 signals per write): it builds no maps and fills
// each signal in place.
func appendBatchSignals(sigs []Signal, b *ingest.Batch) []Signal {
	if b == nil {
		return sigs
	}
	base := ObjectInfo{MunicipalityID: b.MunicipalityID, SiteID: b.SiteID, Municipality: b.Municipality, Site: b.Site}
	hint := 0
	for i := range b.Signals {
		p := &b.Signals[i]
		var kind SignalKind
		switch p.Measurement {
		case "snmp_poll":
			kind = SignalPoll
		case "snmp_trap":
			kind = SignalTrap
		case "check":
			kind = SignalCheck
		default:
			continue
		}
		dev, _ := p.Tag("device")
		if dev == "" {
			continue
		}
		sigs = append(sigs, Signal{})
		s := &sigs[len(sigs)-1]
		s.Object, s.Time, s.Kind = base, p.Time, kind
		s.Object.Device = dev
		if d := findDevice(b.Devices, dev, &hint); d != nil {
			s.Object.Class, s.Object.DeviceID = d.Class, d.DeviceID
		}
		if c, ok := p.Tag("class"); ok && c != "" {
			s.Object.Class = c
		}
		if !pointSignal(s, p) {
			sigs = sigs[:len(sigs)-1]
		}
	}
	for i := range b.Devices {
		d := &b.Devices[i]
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

// findDevice returns the batch's entry for the device named dev (nil if
// none). Ingest lists devices in the order of their first row and signal
// points keep that order, so the search starts at the previous hit (a
// device's points usually come together) and mostly ends at it or the
// next entry.
func findDevice(ds []ingest.DeviceSeen, dev string, hint *int) *ingest.DeviceSeen {
	n := len(ds)
	j := *hint
	for range n {
		if j >= n {
			j = 0
		}
		if ds[j].Device == dev {
			*hint = j
			return &ds[j]
		}
		j++
	}
	return nil
}

// pointSignal fills in what the point says about its device (s has its
// object and kind) and reports whether it is evidence at all.
func pointSignal(s *Signal, p *metric.Point) bool {
	switch s.Kind {
	case SignalPoll:
		v, ok := p.Field("reachable")
		if !ok || v.Kind() != metric.KindBool {
			return false
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
	case SignalTrap:
		// A trap is a sign of life; coldStart and warmStart say the
		// device has just restarted.
		s.OK = true
		switch tr, _ := p.Tag("trap"); tr {
		case "coldStart", "warmStart":
			s.Rebooted = true
		}
	case SignalCheck:
		name, _ := p.Tag("check")
		if name == "" {
			return false
		}
		s.Object.Check = name
		v, ok := p.Field("status")
		if !ok {
			return false
		}
		st, _ := v.AsFloat()
		switch int(st) {
		case 0, 1: // ok, warning: the service works
			s.OK = true
		case 2:
			s.OK = false
		default: // unknown: no evidence either way
			return false
		}
	}
	return true
}
