package staffing

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/metric"
)

// touchEvery is how often a known endpoint's last-seen time is written:
// switches report their ARP tables every poll, but counting only needs to
// know whether an endpoint was there this month.
const touchEvery = 15 * time.Minute

// maxThrottleEntries bounds the throttle's memory (about 100 bytes each).
const maxThrottleEntries = 1 << 20

// observerState remembers what was written recently, so that the write
// path does not rewrite the same rows on every poll.
type observerState struct {
	mu sync.Mutex
	// written is keyed by a hash of the row's obsKey: at 10,000 schools
	// every write checks some sixty rows, and hashing and comparing four
	// strings per check was 5 % of the collector's CPU. A collision (with
	// a per-process random seed, some 10⁻⁸ for a million rows) delays
	// one row's rewrite until the map is next cleared.
	written map[uint64]int64 // last write, Unix seconds
	seed    maphash.Seed
	log     *slog.Logger
}

type obsKey struct {
	site       int64
	kind, a, b string
}

func (o *observerState) init() {
	o.written = map[uint64]int64{}
	o.seed = maphash.MakeSeed()
	o.log = slog.Default()
}

func (o *observerState) hash(k obsKey) uint64 {
	// One call over a buffer on the stack costs less than a maphash.Hash
	// fed piece by piece (and is the same hash).
	var buf [128]byte
	b := binary.LittleEndian.AppendUint64(buf[:0], uint64(k.site))
	for _, s := range [...]string{k.kind, k.a, k.b} {
		b = append(b, s...)
		b = append(b, 0) // no two splits of one string hash alike
	}
	return maphash.Bytes(o.seed, b)
}

// due reports whether the row behind k should be written now, and marks
// it written.
func (o *observerState) due(k obsKey, now int64) bool {
	if len(o.written) > maxThrottleEntries {
		// Bound the memory: forgetting only costs one extra write per row.
		clear(o.written)
	}
	h := o.hash(k)
	if last, ok := o.written[h]; ok && now-last < int64(touchEvery/time.Second) {
		return false
	}
	o.written[h] = now
	return true
}

// WarmThrottle fills the observer's throttle with the rows written in
// the last touchEvery, so that a restarted collector does not write every
// identity and endpoint of the district again in its first round, while
// every agent reconnects at once (at 10,000 schools some 620,000 rows).
func (s *Store) WarmThrottle(ctx context.Context) error {
	now := s.now()
	since := now.Add(-touchEvery).UnixNano()
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	add := func(k obsKey, seen int64) bool {
		if len(s.obs.written) >= maxThrottleEntries {
			return false
		}
		// A time ahead (an agent's clock) counts as written now.
		s.obs.written[s.obs.hash(k)] = min(seen, now.UnixNano()) / int64(time.Second)
		return true
	}
	rows, err := s.db.QueryContext(ctx, `SELECT site_id, device, kind, value, last_seen FROM staffing_device_ids WHERE last_seen >= ?`, since)
	if err != nil {
		return fmt.Errorf("warm the inventory throttle: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k obsKey
		var seen int64
		if err := rows.Scan(&k.site, &k.a, &k.kind, &k.b, &seen); err != nil {
			return fmt.Errorf("warm the inventory throttle: %w", err)
		}
		if !add(k, seen) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("warm the inventory throttle: %w", err)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT site_id, mac, last_seen FROM staffing_discovered_endpoints WHERE last_seen >= ?`, since)
	if err != nil {
		return fmt.Errorf("warm the inventory throttle: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		k := obsKey{kind: "ep"}
		var seen int64
		if err := rows.Scan(&k.site, &k.a, &seen); err != nil {
			return fmt.Errorf("warm the inventory throttle: %w", err)
		}
		if !add(k, seen) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("warm the inventory throttle: %w", err)
	}
	return nil
}

// SetLogger sets the logger for write errors of the observer.
func (s *Store) SetLogger(l *slog.Logger) { s.obs.log = l }

// Observe records what a stored batch says about the inventory:
// discovered_endpoint points (a switch's ARP/bridge entries: fields mac,
// ip, port, optional hostname; the device tag names the switch), and the
// identities of monitored devices (fields mac, macs, serial on any signal;
// the target tag of snmp_poll as the device's IP; which source reports the
// device). It is an ingest.Observer.
func (s *Store) Observe(ctx context.Context, b *ingest.Batch) {
	s.ObserveBatches(ctx, []*ingest.Batch{b})
}

// ObserveBatches implements ingest.BatchObserver: the batches of many
// concurrent writes become one transaction for endpoints and one for
// identities, instead of two per write request competing for the
// database's single writer.
func (s *Store) ObserveBatches(ctx context.Context, bs []*ingest.Batch) {
	var eps []Endpoint
	var ids []Identity
	for _, b := range bs {
		if b == nil || len(b.Signals) == 0 {
			continue
		}
		e, i := s.fromPoints(b.SiteID, b.Signals)
		eps, ids = append(eps, e...), append(ids, i...)
	}
	// In short transactions: after a collector start, a district's first
	// round brings hundreds of thousands of rows, and one transaction for
	// them would keep device registration and the availability engine out
	// of the database for seconds.
	for len(eps) > 0 {
		n := min(len(eps), observeTxRows)
		if err := s.RecordEndpoints(ctx, eps[:n]); err != nil {
			s.forget(eps[:n], nil)
			s.obs.log.Warn("staffing: record discovered endpoints; retried with the next poll", "endpoints", n, "err", err)
		}
		eps = eps[n:]
	}
	for len(ids) > 0 {
		n := min(len(ids), observeTxRows)
		if err := s.RecordIdentities(ctx, ids[:n]); err != nil {
			s.forget(nil, ids[:n])
			s.obs.log.Warn("staffing: record device identities; retried with the next poll", "identities", n, "err", err)
		}
		ids = ids[n:]
	}
}

// observeTxRows bounds the rows of one inventory transaction.
const observeTxRows = 1000

var _ ingest.BatchObserver = (*Store)(nil)

// forget clears the throttle for rows that failed to be written, so that
// the next poll tries again.
func (s *Store) forget(eps []Endpoint, ids []Identity) {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	for _, e := range eps {
		delete(s.obs.written, s.obs.hash(obsKey{e.SiteID, "ep", e.MAC, ""}))
	}
	for _, id := range ids {
		delete(s.obs.written, s.obs.hash(obsKey{id.SiteID, id.Kind, id.Device, id.Value}))
	}
}

func strField(p *metric.Point, keys ...string) string {
	for _, k := range keys {
		if v, ok := p.Field(k); ok && v.Kind() == metric.KindString {
			return strings.TrimSpace(v.StringValue())
		}
		if v, ok := p.Tag(k); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// fromPoints extracts endpoints and identities that are due for writing.
func (s *Store) fromPoints(site int64, pts []metric.Point) ([]Endpoint, []Identity) {
	var eps []Endpoint
	var ids []Identity
	now := s.now().Unix()
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	addID := func(dev, kind, val string, t time.Time) {
		if dev == "" || val == "" {
			return
		}
		if s.obs.due(obsKey{site, kind, dev, val}, now) {
			ids = append(ids, Identity{SiteID: site, Device: dev, Kind: kind, Value: val, Seen: t})
		}
	}
	for i := range pts {
		p := &pts[i]
		dev, _ := p.Tag("device")
		switch p.Measurement {
		case "discovered_endpoint":
			mac := NormMAC(strField(p, "mac"))
			if mac == "" {
				continue
			}
			ep := Endpoint{SiteID: site, MAC: mac, IP: hostOf(strField(p, "ip")), Hostname: strField(p, "hostname", "name"),
				Switch: dev, Port: strField(p, "port"), Seen: p.Time}
			if s.obs.due(obsKey{site, "ep", mac, ""}, now) {
				eps = append(eps, ep)
			}
			continue
		case "schulmon_agent":
			addID(dev, "source", SourceAgent.String(), p.Time)
		case "snmp_poll", "snmp_trap":
			addID(dev, "source", SourceSNMP.String(), p.Time)
			if p.Measurement == "snmp_poll" {
				if ip := hostOf(strField(p, "target")); ip != "" {
					addID(dev, "ip", ip, p.Time)
				}
			}
		}
		if m := NormMAC(strField(p, "mac")); m != "" {
			addID(dev, "mac", m, p.Time)
		}
		if macs := strField(p, "macs"); macs != "" {
			for _, m := range strings.FieldsFunc(macs, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
				if m = NormMAC(m); m != "" {
					addID(dev, "mac", m, p.Time)
				}
			}
		}
		if sn := normSerial(strField(p, "serial")); sn != "" {
			addID(dev, "serial", sn, p.Time)
		}
	}
	return eps, ids
}
