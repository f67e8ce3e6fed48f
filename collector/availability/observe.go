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
