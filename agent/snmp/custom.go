package snmp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/schulmon/schulmon/agent/snmp/discovery"
	"github.com/schulmon/schulmon/agent/snmp/trap"
	"github.com/schulmon/schulmon/metric"
)

// customValue converts one value of a custom OID: numbers become floats
// (scaled when a scale is set), text stays text.
func customValue(v gosnmp.SnmpPDU, o CustomOID) (metric.Value, bool) {
	switch v.Type {
	case gosnmp.OctetString, gosnmp.ObjectIdentifier, gosnmp.IPAddress, gosnmp.BitString:
		return metric.String(asString(v)), true
	case gosnmp.Counter32, gosnmp.Counter64:
		if o.Scale == 0 {
			u, ok := asUint(v)
			return metric.Uint(u), ok
		}
	}
	f, ok := asFloat(v)
	if !ok {
		return metric.Value{}, false
	}
	if o.Scale != 0 {
		f *= o.Scale
	}
	return metric.Float(f), true
}

// customRate adds <name>_per_s for counters marked rate: true.
func customRate(b *builder, p *metric.Point, key string, v gosnmp.SnmpPDU, o CustomOID) {
	u, ok := asUint(v)
	if !ok {
		return
	}
	bits := 64
	if v.Type == gosnmp.Counter32 {
		bits = 32
	}
	cur := ifCounters{t: b.t, in: u, bits: bits, valid: true}
	prev := b.st.counters[key]
	b.st.counters[key] = cur
	if !prev.valid || prev.bits != bits {
		return
	}
	dt := cur.t.Sub(prev.t).Seconds()
	if d, ok := counterDelta(prev.in, cur.in, bits, 0); ok && dt > 0 {
		r := float64(d) / dt
		if o.Scale != 0 {
			r *= o.Scale
		}
		p.AddField(o.Name+"_per_s", metric.Float(r))
	}
}

func buildCustom(b *builder, cp *CustomProfile) {
	if len(cp.Scalars) > 0 {
		p := b.point(cp.Measurement)
		for _, o := range cp.Scalars {
			v, ok := b.r.scalar(normOID(o.OID))
			if !ok {
				continue
			}
			if val, ok := customValue(v, o); ok {
				p.AddField(o.Name, val)
			}
			if o.Rate {
				customRate(b, &p, cp.Name+"/"+o.Name, v, o)
			}
		}
		b.add(p)
	}
	if len(cp.Columns) == 0 {
		return
	}
	cols := make([]string, len(cp.Columns))
	for i, o := range cp.Columns {
		cols[i] = normOID(o.OID)
	}
	for _, rw := range b.r.rows(cols...) {
		p := b.point(cp.Measurement, tag("index", rw.index))
		for i, o := range cp.Columns {
			if !rw.has(i) {
				continue
			}
			if o.Tag {
				p.SetTag(o.Name, asString(rw.v[i]))
				continue
			}
			if val, ok := customValue(rw.v[i], o); ok {
				p.AddField(o.Name, val)
			}
			if o.Rate {
				customRate(b, &p, cp.Name+"/"+o.Name+"/"+rw.index, rw.v[i], o)
			}
		}
		b.add(p)
	}
}

// runTraps runs the trap receiver, naming senders after polled targets.
func (p *Poller) runTraps(ctx context.Context, sink Sink) error {
	r, err := trap.New(p.cfg.Traps, sink, p.Resolve)
	if err != nil {
		return fmt.Errorf("snmp traps: %w", err)
	}
	return r.Run(ctx)
}

// runDiscovery scans the configured subnets periodically. Every responder
// becomes an `snmp_discovery` point (so the collector adds it to the
// inventory with its class) and, unless discovery.poll is false, a poll
// target with the credentials that worked.
func (p *Poller) runDiscovery(ctx context.Context, sink Sink) error {
	dc := p.cfg.Discovery
	prefixes, err := discovery.ParseSubnets(dc.Subnets)
	if err != nil {
		return fmt.Errorf("snmp discovery: %w", err)
	}
	discovery.Every(ctx, dc.Interval, func(ctx context.Context) {
		start := time.Now()
		var found atomic.Int64
		err := discovery.Scan(ctx, prefixes, dc.Rate, 32, func(ctx context.Context, a netip.Addr) {
			if pt, ok := p.Probe(ctx, a); ok {
				found.Add(1)
				sink.Add(pt)
			}
		})
		if err != nil && ctx.Err() == nil {
			slog.Warn("snmp discovery scan failed", "err", err)
		}
		slog.Info("snmp discovery scan finished", "subnets", len(prefixes), "found", found.Load(), "took", time.Since(start).Round(time.Second))
	})
	return nil
}

// Probe asks addr for its system group with each configured credential
// set. On an answer it returns an `snmp_discovery` point and, if
// discovery.poll is on, adds the device as a poll target.
func (p *Poller) Probe(ctx context.Context, a netip.Addr) (metric.Point, bool) {
	dc := p.cfg.Discovery
	for i := range dc.Credentials {
		cr := dc.Credentials[i]
		g := newClient(a.String(), p.cfg.Defaults.Port, &cr, dc.Timeout, 0, 1)
		g.Context = ctx
		if err := g.Connect(); err != nil {
			continue
		}
		s := &session{ctx: ctx, c: g, v1: cr.Version == "1", maxReps: 1, maxVarbinds: 10}
		vals, err := s.get(systemScalars)
		if err != nil || len(vals) == 0 {
			g.Conn.Close()
			continue
		}
		vars, _ := s.next(classMarkers)
		g.Conn.Close()
		present, fwd := markerPresence(vars)
		services := int64(-1)
		if v, ok := vals[oidSysServices]; ok {
			services, _ = asInt(v)
		}
		class := classify(classifyInput{objectID: normOID(asString(vals[oidSysObjectID])), descr: asString(vals[oidSysDescr]), services: services, present: present, forward: fwd})
		name := asString(vals[oidSysName])
		if name == "" {
			name = a.String()
		}
		pt := metric.Point{Measurement: "snmp_discovery", Time: time.Now(), Tags: []metric.Tag{{Key: "class", Value: class}, {Key: "device", Value: name}}}
		pt.AddField("address", metric.String(a.String()))
		pt.AddField("sys_object_id", metric.String(normOID(asString(vals[oidSysObjectID]))))
		pt.AddField("sys_descr", metric.String(asString(vals[oidSysDescr])))
		pt.AddField("version", metric.String(cr.Version))
		if *dc.Poll {
			added, err := p.AddTarget(Target{Address: a.String(), Credentials: cr})
			if err != nil {
				slog.Warn("snmp discovery: cannot poll found device", "addr", a, "err", err)
			}
			pt.AddField("added", metric.Bool(added))
		}
		return pt, true
	}
	return metric.Point{}, false
}
