// Package trap receives SNMP traps (v1, v2c, v3) and informs (v2c, v3)
// from the school's devices and turns each into an `snmp_trap` point.
// linkDown, linkUp, coldStart, warmStart and authenticationFailure are
// decoded into named fields; any other trap is forwarded with its OID and
// varbinds.
package trap

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
	"golang.org/x/time/rate"

	"github.com/schulmon/schulmon/agent/snmp/usm"
	"github.com/schulmon/schulmon/metric"
)

// Config is the `snmp.traps:` section.
type Config struct {
	// Listen is the UDP address, e.g. "0.0.0.0:162" (needs
	// CAP_NET_BIND_SERVICE or root) or "0.0.0.0:1162"; empty disables the
	// receiver. See README for the port 162 options.
	Listen string `yaml:"listen"`
	// Communities accepted for v1/v2c traps; empty accepts any.
	Communities []string `yaml:"communities"`
	// Users accepted for v3 traps and informs.
	Users []usm.User `yaml:"users"`
	// EngineID is this receiver's engine ID in hex, which v3 informs
	// senders discover; default: derived from the host name.
	EngineID string `yaml:"engine_id"`
	// MaxPerSecond limits the traps accepted from one sender (default 20,
	// bursts of twice that): a flapping port or a trap storm must not
	// flood the outbox. Excess traps are counted and dropped.
	MaxPerSecond float64 `yaml:"max_per_second"`
}

// Validate checks the section.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q is not host:port (e.g. 0.0.0.0:1162): %w", c.Listen, err)
	}
	if c.MaxPerSecond < 0 {
		return fmt.Errorf("max_per_second must not be negative, got %v", c.MaxPerSecond)
	}
	for i, u := range c.Users {
		if err := u.Validate(); err != nil {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
	}
	return nil
}

// Sink receives the trap points.
type Sink interface{ Add(points ...metric.Point) }

// Resolver names the device that sent a trap; ok is false for unknown
// senders, which are then named by their address with class "other".
type Resolver func(addr netip.Addr) (device, class string, ok bool)

// Receiver is a running trap listener.
type Receiver struct {
	cfg      Config
	sink     Sink
	resolve  Resolver
	listener *gosnmp.TrapListener
	// Received and Dropped count traps, for the agent's self-metrics.
	Received atomic.Int64
	Dropped  atomic.Int64
	ready    chan struct{}

	limMu    sync.Mutex
	limiters map[netip.Addr]*rate.Limiter
}

// maxSenders bounds the per-sender limiter table (spoofed sources).
const maxSenders = 4096

// allow applies the per-sender rate limit.
func (r *Receiver) allow(src netip.Addr) bool {
	perSec := r.cfg.MaxPerSecond
	if perSec == 0 {
		perSec = 20
	}
	r.limMu.Lock()
	defer r.limMu.Unlock()
	l := r.limiters[src]
	if l == nil {
		if len(r.limiters) >= maxSenders {
			clear(r.limiters)
		}
		l = rate.NewLimiter(rate.Limit(perSec), int(2*perSec)+1)
		r.limiters[src] = l
	}
	return l.Allow()
}

// Ready is closed once the receiver listens.
func (r *Receiver) Ready() <-chan struct{} { return r.ready }

// New builds a receiver; Run starts it.
func New(cfg Config, sink Sink, resolve Resolver) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if resolve == nil {
		resolve = func(netip.Addr) (string, string, bool) { return "", "", false }
	}
	r := &Receiver{cfg: cfg, sink: sink, resolve: resolve, ready: make(chan struct{}), limiters: map[netip.Addr]*rate.Limiter{}}
	// Traps with many varbinds exceed gosnmp's default 4 KiB buffer.
	tl := gosnmp.NewTrapListener().WithBufferSize(65535)
	params := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil), Timeout: 2 * time.Second}
	if len(cfg.Users) > 0 {
		engineID := cfg.EngineID
		if engineID == "" {
			engineID = defaultEngineID()
		}
		_, local := usm.User{EngineID: engineID}.Params()
		params.Version = gosnmp.Version3
		params.SecurityModel = gosnmp.UserSecurityModel
		params.SecurityParameters = &gosnmp.UsmSecurityParameters{
			AuthoritativeEngineID:  local.AuthoritativeEngineID,
			AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv,
		}
		table := gosnmp.NewSnmpV3SecurityParametersTable(gosnmp.NewLogger(nil))
		for _, u := range cfg.Users {
			_, sp := u.Params()
			if sp.AuthoritativeEngineID == "" {
				// Informs are sent to us, the authoritative engine.
				sp.AuthoritativeEngineID = local.AuthoritativeEngineID
			}
			if err := table.Add(u.Name, sp); err != nil {
				return nil, fmt.Errorf("trap user %q: %w", u.Name, err)
			}
		}
		// Engine ID discovery requests of inform senders carry no user.
		_ = table.Add("", &gosnmp.UsmSecurityParameters{AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv, AuthoritativeEngineID: local.AuthoritativeEngineID})
		params.SetTrapSecurityParametersTable(table)
	}
	tl.Params = params
	tl.OnNewTrap = r.handle
	r.listener = tl
	return r, nil
}

// defaultEngineID builds a stable RFC 3411 engine ID (enterprise 8072 in
// text format) from the host name, so that inform senders configured
// once keep working after a restart.
func defaultEngineID() string {
	h, _ := os.Hostname()
	sum := sha256.Sum256([]byte("schulmon-trap:" + h))
	return fmt.Sprintf("80001f8804%x", sum[:8])
}

// Run listens until ctx ends. It fails at once when the address cannot be
// bound (port 162 without privileges: see README).
func (r *Receiver) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- r.listener.Listen(r.cfg.Listen) }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen for SNMP traps on %s: %w (port 162 needs root or CAP_NET_BIND_SERVICE; or use a port above 1023)", r.cfg.Listen, err)
	case <-r.listener.Listening():
	case <-ctx.Done():
		r.listener.Close()
		return nil
	}
	close(r.ready)
	slog.Info("snmp trap receiver listening", "addr", r.cfg.Listen, "v3_users", len(r.cfg.Users))
	select {
	case <-ctx.Done():
		r.listener.Close()
		<-errc
		return nil
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("trap receiver on %s stopped: %w", r.cfg.Listen, err)
		}
		return nil
	}
}

func (r *Receiver) handle(pkt *gosnmp.SnmpPacket, from *net.UDPAddr) {
	if pkt.Version != gosnmp.Version3 && len(r.cfg.Communities) > 0 {
		ok := false
		for _, c := range r.cfg.Communities {
			if c == pkt.Community {
				ok = true
				break
			}
		}
		if !ok {
			r.Dropped.Add(1)
			slog.Warn("snmp trap with unknown community dropped", "from", from.IP.String())
			return
		}
	}
	if src, ok := netip.AddrFromSlice(from.IP); ok && !r.allow(src.Unmap()) {
		if r.Dropped.Add(1)%100 == 1 {
			slog.Warn("snmp traps dropped: sender exceeds max_per_second", "from", from.IP.String())
		}
		return
	}
	r.Received.Add(1)
	r.sink.Add(r.Point(pkt, from, time.Now()))
}

// Standard trap OIDs (SNMPv2-MIB snmpTraps and IF-MIB).
var trapNames = map[string]string{
	"1.3.6.1.6.3.1.1.5.1": "coldStart",
	"1.3.6.1.6.3.1.1.5.2": "warmStart",
	"1.3.6.1.6.3.1.1.5.3": "linkDown",
	"1.3.6.1.6.3.1.1.5.4": "linkUp",
	"1.3.6.1.6.3.1.1.5.5": "authenticationFailure",
	"1.3.6.1.6.3.1.1.5.6": "egpNeighborLoss",
}

const (
	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"
	oidSnmpTrapOID = "1.3.6.1.6.3.1.1.4.1.0"
	oidTrapAddress = "1.3.6.1.6.3.18.1.3.0" // snmpTrapAddress, set by proxies
	oidIfIndex     = "1.3.6.1.2.1.2.2.1.1."
	oidIfAdmin     = "1.3.6.1.2.1.2.2.1.7."
	oidIfOper      = "1.3.6.1.2.1.2.2.1.8."
	oidIfDescr     = "1.3.6.1.2.1.2.2.1.2."
	oidIfName      = "1.3.6.1.2.1.31.1.1.1.1."
)

// Point converts a received trap.
func (r *Receiver) Point(pkt *gosnmp.SnmpPacket, from *net.UDPAddr, now time.Time) metric.Point {
	src, _ := netip.AddrFromSlice(from.IP)
	src = src.Unmap()
	trapOID := ""
	var uptime float64
	haveUptime := false
	version := map[gosnmp.SnmpVersion]string{gosnmp.Version1: "1", gosnmp.Version2c: "2c", gosnmp.Version3: "3"}[pkt.Version]
	if pkt.PDUType == gosnmp.Trap { // SNMPv1
		if a, err := netip.ParseAddr(pkt.AgentAddress); err == nil && !a.IsUnspecified() {
			src = a
		}
		ent := strings.TrimPrefix(pkt.Enterprise, ".")
		if pkt.GenericTrap >= 0 && pkt.GenericTrap <= 5 {
			trapOID = "1.3.6.1.6.3.1.1.5." + strconv.Itoa(pkt.GenericTrap+1)
		} else {
			trapOID = ent + ".0." + strconv.Itoa(pkt.SpecificTrap)
		}
		uptime, haveUptime = float64(pkt.Timestamp)/100, true
	}
	var rest []string
	var ifIndex, admin, oper int64 = -1, -1, -1
	ifName := ""
	for _, v := range pkt.Variables {
		name := strings.TrimPrefix(v.Name, ".")
		switch {
		case name == oidSysUpTime:
			if u, ok := v.Value.(uint32); ok {
				uptime, haveUptime = float64(u)/100, true
			}
			continue
		case name == oidSnmpTrapOID:
			if s, ok := v.Value.(string); ok {
				trapOID = strings.TrimPrefix(s, ".")
			}
			continue
		case name == oidTrapAddress:
			if s, ok := v.Value.(string); ok {
				if a, err := netip.ParseAddr(s); err == nil {
					src = a
				}
			}
		case strings.HasPrefix(name, oidIfIndex):
			ifIndex = toInt(v.Value)
		case strings.HasPrefix(name, oidIfAdmin):
			admin = toInt(v.Value)
			if ifIndex < 0 {
				ifIndex, _ = strconv.ParseInt(name[len(oidIfAdmin):], 10, 64)
			}
		case strings.HasPrefix(name, oidIfOper):
			oper = toInt(v.Value)
			if ifIndex < 0 {
				ifIndex, _ = strconv.ParseInt(name[len(oidIfOper):], 10, 64)
			}
		case strings.HasPrefix(name, oidIfName), strings.HasPrefix(name, oidIfDescr) && ifName == "":
			ifName = valueString(v)
		}
		rest = append(rest, name+"="+valueString(v))
	}
	kind := trapNames[trapOID]
	if kind == "" {
		kind = trapOID
	}
	if kind == "" {
		kind = "unknown"
	}
	device, class, ok := r.resolve(src)
	if !ok || device == "" {
		device, class = src.String(), "other"
	}
	p := metric.Point{Measurement: "snmp_trap", Time: now, Tags: []metric.Tag{
		{Key: "class", Value: class}, {Key: "device", Value: device}, {Key: "trap", Value: kind},
	}}
	metric.SortTags(p.Tags)
	p.AddField("trap_oid", metric.String(trapOID))
	p.AddField("source", metric.String(src.String()))
	p.AddField("version", metric.String(version))
	if pkt.Version == gosnmp.Version3 {
		if sp, ok := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok {
			p.AddField("user", metric.String(sp.UserName))
		}
	}
	p.AddField("inform", metric.Bool(pkt.PDUType == gosnmp.InformRequest))
	if haveUptime {
		p.AddField("uptime_s", metric.Float(uptime))
	}
	if ifIndex >= 0 {
		p.AddField("if_index", metric.Int(ifIndex))
	}
	if admin >= 0 {
		p.AddField("if_admin_status", metric.Int(admin))
	}
	if oper >= 0 {
		p.AddField("if_oper_status", metric.Int(oper))
	}
	if ifName != "" {
		p.AddField("if_name", metric.String(ifName))
	}
	sort.Strings(rest)
	p.AddField("varbinds", metric.String(strings.Join(rest, "; ")))
	p.AddField("message", metric.String(message(kind, ifName, ifIndex, device)))
	return p
}

func message(kind, ifName string, ifIndex int64, device string) string {
	port := ifName
	if port == "" && ifIndex >= 0 {
		port = "ifIndex " + strconv.FormatInt(ifIndex, 10)
	}
	switch kind {
	case "linkDown":
		return fmt.Sprintf("%s: port %s went down", device, port)
	case "linkUp":
		return fmt.Sprintf("%s: port %s came up", device, port)
	case "coldStart":
		return device + ": restarted (cold start)"
	case "warmStart":
		return device + ": restarted (warm start)"
	case "authenticationFailure":
		return device + ": SNMP authentication failure (someone used a wrong community or user)"
	}
	return device + ": trap " + kind
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case uint:
		return int64(x)
	case uint32:
		return int64(x)
	case int64:
		return x
	case uint64:
		return int64(x)
	}
	return -1
}

func valueString(v gosnmp.SnmpPDU) string {
	switch x := v.Value.(type) {
	case []byte:
		for _, c := range x {
			if c < 0x20 && c != '\t' {
				return fmt.Sprintf("%x", x)
			}
		}
		return string(x)
	case string:
		return strings.TrimPrefix(x, ".")
	case nil:
		return ""
	}
	return fmt.Sprint(v.Value)
}

// ErrDisabled is returned by Run helpers when no listen address is set.
var ErrDisabled = errors.New("snmp trap receiver disabled (snmp.traps.listen is empty)")
