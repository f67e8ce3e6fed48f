// Package snmp polls the devices of a school that cannot run an agent —
// switches, access points, printers, UPS, NAS — over SNMP v1, v2c and v3
// with gosnmp, and turns what they report into schulmon points.
//
// Built-in profiles use numeric OIDs (no MIB files): system, interfaces
// (IF-MIB, with wrap- and reboot-safe rates), host (HOST-RESOURCES-MIB),
// poe (POWER-ETHERNET-MIB), printer (Printer-MIB), ups (UPS-MIB), lldp
// (LLDP-MIB), sensors (ENTITY-SENSOR-MIB) and endpoints (BRIDGE-MIB,
// Q-BRIDGE-MIB and IP-MIB ARP tables → end devices without an agent).
// All columns a target needs are fetched together with GETBULK, targets
// are polled with bounded concurrency, and every poll ends at the
// target's own deadline. Each poll reports itself as an `snmp_poll` point
// (reachable, duration, error), which feeds availability.
//
// The package is used by the agent (Run) and can be used by the collector
// for devices at the data centre (New, then Poller.Run or PollAll).
package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/schulmon/schulmon/metric"
)

// Sink receives points; Add must not block for long (the agent appends
// to its outbox).
type Sink interface{ Add(points ...metric.Point) }

// Poller polls a set of targets.
type Poller struct {
	cfg       Config
	agentHost string
	sem       chan struct{}
	custom    map[string]*CustomProfile

	mu      sync.Mutex
	targets []*targetState
	running bool              // Run has taken its snapshot of targets
	added   chan *targetState // targets found by discovery while running
	stopped chan struct{}     // closed when Run returns
}

// targetState is what the poller remembers about a target between polls.
type targetState struct {
	target Target
	mu     sync.Mutex // one poll of a target at a time

	device      string
	class       string // detected (target.Class overrides)
	classAt     time.Time
	hc          int8 // 64-bit interface counters: 1 yes, -1 no, 0 unknown
	v1          bool
	ifs         map[int]ifCounters
	names       map[int]string
	namesAt     time.Time
	lastUptime  uint64
	lastPoll    time.Time
	haveUptime  bool
	reachable   bool
	polled      bool
	counters    map[string]ifCounters // custom rate columns
	addrs       []netip.Addr
	g           *gosnmp.GoSNMP // kept between polls for SNMPv3 only
	macsAt      time.Time      // when the interface MACs were last reported
	endpointsAt time.Time      // when the endpoints profile last ran

	// info is the device name and class as of the last poll, readable
	// without waiting for a running poll (the trap receiver needs it).
	info atomic.Pointer[[2]string]
}

// Option adjusts a Poller.
type Option func(*Poller)

// WithAgentHost sets the agent_host tag of snmp_poll (default: os.Hostname).
func WithAgentHost(h string) Option { return func(p *Poller) { p.agentHost = h } }

// New validates cfg and builds a poller.
func New(cfg Config, opts ...Option) (*Poller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Poller{cfg: cfg, custom: map[string]*CustomProfile{}, added: make(chan *targetState, 64), stopped: make(chan struct{})}
	for i := range p.cfg.Custom {
		p.custom[p.cfg.Custom[i].Name] = &p.cfg.Custom[i]
	}
	for _, o := range opts {
		o(p)
	}
	if p.agentHost == "" {
		p.agentHost, _ = os.Hostname()
	}
	p.sem = make(chan struct{}, cfg.MaxConcurrency)
	for _, t := range p.cfg.Targets {
		p.targets = append(p.targets, newTargetState(t))
	}
	return p, nil
}

func newTargetState(t Target) *targetState {
	st := &targetState{target: t, ifs: map[int]ifCounters{}, counters: map[string]ifCounters{}, v1: t.Version == "1"}
	if st.v1 {
		st.hc = -1
	}
	if a, err := netip.ParseAddr(t.Address); err == nil {
		st.addrs = []netip.Addr{a.Unmap()}
	} else if ips, err := net.LookupIP(t.Address); err == nil {
		// Traps come from an address, targets may be configured by name.
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip); ok {
				st.addrs = append(st.addrs, a.Unmap())
			}
		}
	}
	st.info.Store(&[2]string{st.name(), st.effectiveClass()})
	return st
}

// PollAll polls every target once, at most max_concurrency at a time,
// and hands all points to sink. It returns when every target finished or
// hit its deadline.
func (p *Poller) PollAll(ctx context.Context, sink Sink) {
	p.mu.Lock()
	targets := append([]*targetState{}, p.targets...)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, st := range targets {
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-p.sem }()
			sink.Add(p.poll(ctx, st)...)
		}()
	}
	wg.Wait()
}

// Run polls every target at its interval until ctx ends. Start times are
// spread over the interval so that 2,000 switches do not all fire at once.
// Call it once per Poller.
func (p *Poller) Run(ctx context.Context, sink Sink) error {
	var wg sync.WaitGroup
	p.mu.Lock()
	p.running = true
	n := len(p.targets)
	for i, st := range p.targets {
		wg.Add(1)
		go func(offset time.Duration) {
			defer wg.Done()
			p.loop(ctx, st, offset, sink)
		}(st.target.Interval * time.Duration(i) / time.Duration(max(n, 1)))
	}
	p.mu.Unlock()
	defer close(p.stopped)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case st := <-p.added:
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.loop(ctx, st, 0, sink)
			}()
		}
	}
}

func (p *Poller) loop(ctx context.Context, st *targetState, offset time.Duration, sink Sink) {
	select {
	case <-time.After(offset):
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(st.target.Interval)
	defer tick.Stop()
	for {
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		pts := p.poll(ctx, st)
		<-p.sem
		sink.Add(pts...)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// AddTarget starts polling a target found at runtime (discovery). It is
// ignored when a target with the same address and port exists.
func (p *Poller) AddTarget(t Target) (bool, error) {
	if err := t.fill(&p.cfg.Defaults, p.customNames()); err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.targets {
		if st.target.hostPort() == t.hostPort() {
			return false, nil
		}
	}
	st := newTargetState(t)
	p.targets = append(p.targets, st)
	if !p.running {
		return true, nil // Run will start it with the others
	}
	select {
	case p.added <- st: // Run receives without taking p.mu
	case <-p.stopped:
	}
	return true, nil
}

func (p *Poller) customNames() map[string]bool {
	m := map[string]bool{}
	for k := range p.custom {
		m[k] = true
	}
	return m
}

// Resolve names the target polled at addr, for the trap receiver.
func (p *Poller) Resolve(addr netip.Addr) (device, class string, ok bool) {
	addr = addr.Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.targets {
		if info := st.info.Load(); info != nil {
			for _, a := range st.addrs {
				if a == addr {
					return info[0], info[1], true
				}
			}
		}
	}
	return "", "", false
}

func (st *targetState) name() string {
	switch {
	case st.target.Name != "":
		return st.target.Name
	case st.device != "":
		return st.device
	}
	return st.target.Address
}

func (st *targetState) effectiveClass() string {
	switch {
	case st.target.Class != "":
		return st.target.Class
	case st.class != "":
		return st.class
	}
	return "other"
}

// classTTL: device classes are re-detected daily and after reboots
// (firmware upgrades change what a device reports).
const classTTL = 24 * time.Hour

// poll polls one target once and returns its points, always including
// one snmp_poll point.
func (p *Poller) poll(ctx context.Context, st *targetState) []metric.Point {
	st.mu.Lock()
	defer st.mu.Unlock()
	start := time.Now()
	t := &st.target
	ctx, cancel := context.WithTimeout(ctx, t.Deadline)
	defer cancel()

	b := &builder{st: st, t: start, r: &pollResult{}}
	reachable, rebooted, pollErr := p.fetch(ctx, st, b)
	if b.closeConn != nil {
		defer b.closeConn()
	}

	b.device, b.class = st.name(), st.effectiveClass()
	if reachable && pollErr == nil {
		for _, name := range p.profileNames(st, b.t) {
			if name == "endpoints" {
				st.endpointsAt = b.t
			}
			if prof := builtinProfiles[name]; prof != nil {
				prof.build(b)
			} else if cp := p.custom[name]; cp != nil {
				buildCustom(b, cp)
			}
		}
	}
	// Tags may only be known now (sysName, class): set them on every point.
	for i := range b.points {
		b.points[i].SetTag("device", b.device)
		b.points[i].SetTag("class", b.class)
	}
	sp := b.point("snmp_poll", tag("agent_host", p.agentHost), tag("target", t.hostPort()))
	sp.AddField("reachable", metric.Bool(reachable))
	sp.AddField("duration_s", metric.Float(time.Since(start).Seconds()))
	errText := ""
	if pollErr != nil {
		errText = pollErr.Error()
	}
	sp.AddField("error", metric.String(errText))
	if reachable && st.haveUptime {
		sp.AddField("sys_uptime_s", metric.Float(float64(st.lastUptime)/100))
	}
	sp.AddField("rebooted", metric.Bool(rebooted))
	if b.macs != "" {
		sp.AddField("macs", metric.String(b.macs))
	}
	if b.s != nil {
		sp.AddField("requests", metric.Int(int64(b.s.requests)))
		sp.AddField("varbinds", metric.Int(int64(b.s.varbinds)))
	}
	b.points = append(b.points, sp)

	if st.polled && st.reachable != reachable {
		if reachable {
			slog.Info("snmp target reachable again", "device", b.device, "target", t.hostPort())
		} else {
			slog.Warn("snmp target unreachable", "device", b.device, "target", t.hostPort(), "err", errText)
		}
	} else if !st.polled && !reachable {
		slog.Warn("snmp target unreachable", "device", b.device, "target", t.hostPort(), "err", errText)
	}
	st.polled, st.reachable = true, reachable
	st.info.Store(&[2]string{b.device, b.class})
	return b.points
}

// profileNames are the configured profiles or the class defaults that
// are due at now: endpoints only every endpoints_interval, because
// forwarding tables are large and end devices change slowly.
func (p *Poller) profileNames(st *targetState, now time.Time) []string {
	names := st.target.Profiles
	if len(names) == 0 {
		names = profilesFor(st.effectiveClass())
	}
	// The system group is fetched anyway (name, uptime, reachability);
	// snmp_system is only emitted when "system" is listed.
	if now.Sub(st.endpointsAt) >= st.target.EndpointsInterval {
		return names
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "endpoints" {
			out = append(out, n)
		}
	}
	return out
}

// PollError is the reason a target could not be polled. Its text names
// the target and the reason.
type PollError struct {
	Target string // "name (host:port)"
	Err    error
}

func (e *PollError) Error() string { return fmt.Sprintf("poll %s: %v", e.Target, e.Err) }
func (e *PollError) Unwrap() error { return e.Err }

// fetch runs the requests of one poll.
func (p *Poller) fetch(ctx context.Context, st *targetState, b *builder) (reachable, rebooted bool, err error) {
	t := &st.target
	tries := *t.Retries + 1
	wrap := func(e error) error {
		return &PollError{Target: fmt.Sprintf("%s (%s)", st.name(), t.hostPort()), Err: explain(e, t, tries)}
	}
	// An SNMPv3 client is kept between polls: it remembers the device's
	// engine ID, boots and time, which saves the discovery round trip.
	// After any failure the next poll starts afresh.
	g := st.g
	st.g = nil
	if g == nil {
		g = t.client()
	}
	// A device that did not answer last time gets no retries: a dead
	// device then holds a concurrency slot for one timeout per poll, not
	// (retries+1) timeouts, and one answer makes it normal again.
	g.Retries = *t.Retries
	if st.polled && !st.reachable {
		g.Retries = 0
	}
	tries = g.Retries + 1
	g.Context = ctx
	if err := g.Connect(); err != nil {
		return false, false, wrap(fmt.Errorf("connect: %w", err))
	}
	b.closeConn = g.Close // after the profiles' follow-up requests
	defer func() {
		if err == nil && t.Version == "3" {
			st.g = g
		}
	}()
	s := &session{ctx: ctx, c: g, v1: st.v1, maxReps: t.MaxRepetitions, maxVarbinds: t.MaxVarbinds}
	g.OnSent = func(*gosnmp.GoSNMP) { s.requests++ }
	b.s = s

	// 1. System scalars (and, once the class is known, every profile's
	// scalars) in one GET: its answer decides reachability.
	known := st.class != "" || t.Class != ""
	scalars := append([]string{}, systemScalars...)
	if known {
		scalars = append(scalars, p.scalarsFor(st, b.t)...)
	}
	vals, err := s.get(scalars)
	if err != nil {
		return false, false, wrap(err)
	}
	if len(vals) == 0 {
		return true, false, wrap(errors.New("agent answered but has no system group (sysDescr, sysUpTime…)"))
	}
	b.r.scalars = vals
	if v, ok := vals[oidSysName]; ok {
		if n := asString(v); n != "" {
			st.device = n
		}
	}
	if v, ok := vals[oidSysUpTime]; ok {
		if up, ok := asUint(v); ok {
			if st.haveUptime && uptimeReboot(st.lastUptime, up, b.t.Sub(st.lastPoll)) {
				rebooted = true
				// Counters restarted from zero: no rates across the reboot.
				clear(st.ifs)
				clear(st.counters)
				st.classAt = time.Time{}
			}
			st.lastUptime, st.haveUptime, st.lastPoll = up, true, b.t
		}
	}

	// 2. Class detection (first poll, daily, after reboots).
	if t.Class == "" && (st.class == "" || b.t.Sub(st.classAt) > classTTL) {
		vars, err := s.next(classMarkers)
		if err != nil {
			return true, rebooted, wrap(fmt.Errorf("detect device class: %w", err))
		}
		present, fwd := markerPresence(vars)
		services := int64(-1)
		if v, ok := vals[oidSysServices]; ok {
			services, _ = asInt(v)
		}
		st.class = classify(classifyInput{
			objectID: normOID(asString(vals[oidSysObjectID])),
			descr:    asString(vals[oidSysDescr]),
			services: services, present: present, forward: fwd,
		})
		st.classAt = b.t
		if !known {
			more, err := s.get(p.scalarsFor(st, b.t))
			if err != nil {
				return true, rebooted, wrap(err)
			}
			for k, v := range more {
				b.r.scalars[k] = v
			}
		}
	}

	// 3. All table columns of all profiles, walked together; once a day
	// also the interfaces' MAC addresses, which identify the device in
	// the inventory (a printer's MAC in a switch's forwarding table is
	// that printer, not another end device).
	cols := p.columnsFor(st, b.t)
	macsDue := rebooted || b.t.Sub(st.macsAt) > classTTL
	if macsDue {
		cols = append(cols, ifPhysAddress)
	}
	if len(cols) > 0 {
		res, err := s.columns(cols)
		if err != nil {
			return true, rebooted, wrap(fmt.Errorf("walk tables: %w", err))
		}
		b.r.cols = res
	}
	if macsDue {
		b.macs = deviceMACs(b.r.cols[ifPhysAddress])
		st.macsAt = b.t
	}
	return true, rebooted, nil
}

func (p *Poller) scalarsFor(st *targetState, now time.Time) []string {
	var out []string
	for _, n := range p.profileNames(st, now) {
		if prof := builtinProfiles[n]; prof != nil {
			out = append(out, prof.scalars...)
		} else if cp := p.custom[n]; cp != nil {
			for _, o := range cp.Scalars {
				out = append(out, normOID(o.OID))
			}
		}
	}
	return out
}

func (p *Poller) columnsFor(st *targetState, now time.Time) []string {
	var out []string
	seen := map[string]bool{}
	add := func(cs []string) {
		for _, c := range cs {
			c = normOID(c)
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	for _, n := range p.profileNames(st, now) {
		if prof := builtinProfiles[n]; prof != nil && prof.columns != nil {
			add(prof.columns(st))
		} else if cp := p.custom[n]; cp != nil {
			for _, o := range cp.Columns {
				add([]string{o.OID})
			}
		}
	}
	return out
}

// explain turns gosnmp's terse errors into what an admin can act on.
func explain(err error, t *Target, tries int) error {
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("poll took longer than its deadline %v: %w", t.Deadline, err)
	case strings.Contains(msg, "timeout"):
		hint := "wrong community, device down, or SNMP not enabled (v1/v2c agents stay silent on a wrong community)"
		if t.Version == "3" {
			hint = "device down, SNMP not enabled, or an SNMPv3 setting it silently rejects"
		}
		return fmt.Errorf("no response within %v × %d tries: %s (%w)", t.Timeout, tries, hint, err)
	case strings.Contains(msg, "unknown user") || strings.Contains(msg, "UnknownUserName"):
		return fmt.Errorf("SNMPv3 user %q unknown to the device: %w", t.User.Name, err)
	case strings.Contains(msg, "wrong digest") || strings.Contains(msg, "WrongDigest") || strings.Contains(msg, "authentic"):
		return fmt.Errorf("SNMPv3 authentication failed for user %q: the device does not know this user, or auth_password/auth_protocol is wrong: %w", t.User.Name, err)
	case strings.Contains(msg, "decrypt") || strings.Contains(msg, "DecryptionError"):
		return fmt.Errorf("SNMPv3 decryption failed for user %q (wrong priv_password or priv_protocol): %w", t.User.Name, err)
	case strings.Contains(msg, "UnsupportedSecLevel") || strings.Contains(msg, "unsupported security level"):
		return fmt.Errorf("SNMPv3 security level not allowed for user %q (check auth/priv settings): %w", t.User.Name, err)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("nothing listens on UDP port %d (ICMP port unreachable): %w", t.Port, err)
	}
	return err
}

// Run starts everything the `snmp:` section configures — the poller, the
// trap receiver and discovery — and returns when ctx ends. A bad config
// is returned at once; a trap receiver that cannot bind its port is
// logged and the polling goes on without it.
func Run(ctx context.Context, cfg Config, sink Sink, opts ...Option) error {
	if !cfg.Enabled() {
		return nil
	}
	p, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	if p.cfg.Traps.Listen != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.runTraps(ctx, sink); err != nil {
				slog.Error("snmp trap receiver stopped; polling continues", "err", err)
			}
		}()
	}
	if len(p.cfg.Discovery.Subnets) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.runDiscovery(ctx, sink); err != nil {
				slog.Error("snmp discovery stopped; polling continues", "err", err)
			}
		}()
	}
	err = p.Run(ctx, sink)
	wg.Wait()
	return err
}

// ifPhysAddress is IF-MIB's interface MAC column.
const ifPhysAddress = ifEntry + "6"

// maxDeviceMACs caps the macs field (a chassis switch has hundreds).
const maxDeviceMACs = 64

// deviceMACs lists the distinct unicast MACs of a device's interfaces.
func deviceMACs(vals []gosnmp.SnmpPDU) string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vals {
		b := asBytes(v)
		if len(b) != 6 || b[0]&1 == 1 || (b[0]|b[1]|b[2]|b[3]|b[4]|b[5]) == 0 {
			continue
		}
		m := hexColon(b)
		if !seen[m] && len(out) < maxDeviceMACs {
			seen[m] = true
			out = append(out, m)
		}
	}
	return strings.Join(out, ",")
}
