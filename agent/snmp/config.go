package snmp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/schulmon/schulmon/agent/snmp/discovery"
	"github.com/schulmon/schulmon/agent/snmp/trap"
	"github.com/schulmon/schulmon/agent/snmp/usm"
)

// Config is the `snmp:` section of the agent configuration.
type Config struct {
	// Targets are the devices to poll.
	Targets []Target `yaml:"targets"`
	// Defaults apply to every target (and to discovered devices) where the
	// target leaves a setting empty.
	Defaults Defaults `yaml:"defaults"`
	// MaxConcurrency bounds how many targets are polled at the same time
	// (default 64). A dead target holds one slot for at most its own
	// timeout × (retries+1).
	MaxConcurrency int `yaml:"max_concurrency"`
	// Custom defines extra profiles with OIDs of your own; name them in a
	// target's profiles list.
	Custom []CustomProfile `yaml:"custom"`
	// Traps configures the trap receiver (off unless listen is set).
	Traps trap.Config `yaml:"traps"`
	// Discovery configures the subnet scan (off unless subnets are set).
	Discovery DiscoveryConfig `yaml:"discovery"`
}

// Defaults are settings shared by all targets.
type Defaults struct {
	Credentials `yaml:",inline"`
	Port        int           `yaml:"port"`     // default 161
	Timeout     time.Duration `yaml:"timeout"`  // per request, default 2s
	Retries     *int          `yaml:"retries"`  // default 1
	Interval    time.Duration `yaml:"interval"` // default 60s
	// MaxRepetitions is the GETBULK max-repetitions budget per request
	// (default 25): with several columns fetched together, each request
	// asks for about max_varbinds ÷ columns rows.
	MaxRepetitions int `yaml:"max_repetitions"`
	// MaxVarbinds is the varbinds asked for in one GETBULK (default 60;
	// exceeded by at most 10 % where that saves a request), which keeps
	// responses near the usual 1,500-byte path MTU on most devices. Raise
	// it for fast devices, lower it for old printers.
	MaxVarbinds int `yaml:"max_varbinds"`
	// EndpointsInterval is how often the endpoints profile walks the
	// forwarding and ARP tables (default 15m).
	EndpointsInterval time.Duration `yaml:"endpoints_interval"`
}

// Credentials select the SNMP version and how to authenticate.
type Credentials struct {
	// Version is "1", "2c" (default) or "3".
	Version string `yaml:"version"`
	// Community for v1/v2c (default "public").
	Community string `yaml:"community"`
	// V3 user (version "3").
	usm.User `yaml:",inline"`
	// ContextName for v3 (rarely needed).
	ContextName string `yaml:"context_name"`
}

// Target is one device to poll.
type Target struct {
	// Name is the device name used in the `device` tag; default: the
	// device's sysName, else its address.
	Name string `yaml:"name"`
	// Address is a host name or IP, optionally "udp://host:port" or "host:port".
	Address string `yaml:"address"`
	// Port defaults to 161.
	Port        int `yaml:"port"`
	Credentials `yaml:",inline"`
	// Timeout per request, Retries per request, Interval between polls.
	Timeout  time.Duration `yaml:"timeout"`
	Retries  *int          `yaml:"retries"`
	Interval time.Duration `yaml:"interval"`
	// Deadline bounds one whole poll of this target (default: the interval).
	Deadline time.Duration `yaml:"deadline"`
	// Profiles to poll; empty selects the defaults for the device class
	// (see README). Names: system, interfaces, host, poe, printer, ups,
	// lldp, sensors, endpoints, and the names of custom profiles.
	Profiles []string `yaml:"profiles"`
	// Class overrides auto-detection: server, switch, access_point, router,
	// printer, ups, endpoint, display, other.
	Class string `yaml:"class"`
	// Uplinks names ports (ifName) whose MAC addresses are not end devices
	// (endpoints profile); ports with LLDP neighbours are excluded anyway.
	Uplinks []string `yaml:"uplinks"`
	// MaxRepetitions, MaxVarbinds and EndpointsInterval override the defaults.
	MaxRepetitions    int           `yaml:"max_repetitions"`
	MaxVarbinds       int           `yaml:"max_varbinds"`
	EndpointsInterval time.Duration `yaml:"endpoints_interval"`
}

// DiscoveryConfig configures the subnet scan.
type DiscoveryConfig struct {
	// Subnets to scan, in CIDR notation ("10.20.1.0/24"); nothing else is
	// ever probed. At most 65,536 addresses per subnet.
	Subnets []string `yaml:"subnets"`
	// Rate is the number of probes per second (default 20).
	Rate float64 `yaml:"rate"`
	// Interval between scans (default 6h).
	Interval time.Duration `yaml:"interval"`
	// Timeout of one probe (default 1s, no retries).
	Timeout time.Duration `yaml:"timeout"`
	// Credentials to try, in order (default: the defaults' credentials).
	Credentials []Credentials `yaml:"credentials"`
	// Poll adds every responder as a poll target with the credentials that
	// worked (default true).
	Poll *bool `yaml:"poll"`
}

// CustomProfile is a user-defined set of OIDs.
type CustomProfile struct {
	// Name is what targets list under profiles.
	Name string `yaml:"name"`
	// Measurement of the points (default "snmp_" + name).
	Measurement string `yaml:"measurement"`
	// Scalars become fields of one point per poll.
	Scalars []CustomOID `yaml:"scalars"`
	// Columns of one table (same index) become one point per row, tagged
	// with "index" and with every column marked tag: true.
	Columns []CustomOID `yaml:"columns"`
}

// CustomOID is one value of a custom profile.
type CustomOID struct {
	Name string `yaml:"name"`
	// OID in numeric form: scalars with their instance (".0"), columns
	// without an index.
	OID string `yaml:"oid"`
	// Tag makes a table column a tag instead of a field.
	Tag bool `yaml:"tag"`
	// Scale multiplies numeric values (e.g. 0.1 for tenths of a volt).
	Scale float64 `yaml:"scale"`
	// Rate also emits <name>_per_s computed from a counter.
	Rate bool `yaml:"rate"`
}

// Classes are the device classes schulmon knows.
var Classes = []string{"server", "switch", "access_point", "router", "printer", "ups", "endpoint", "display", "other"}

// ErrNoTargets is returned by Validate when nothing is configured; the
// agent then simply does not start the SNMP subsystem.
var ErrNoTargets = errors.New("snmp: no targets, traps or discovery configured")

// Enabled reports whether the section configures anything.
func (c *Config) Enabled() bool {
	return len(c.Targets) > 0 || c.Traps.Listen != "" || len(c.Discovery.Subnets) > 0
}

// Validate checks the configuration and fills in defaults. Errors say
// which target and which setting is wrong.
func (c *Config) Validate() error {
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = 64
	}
	if c.MaxConcurrency < 0 {
		return fmt.Errorf("snmp.max_concurrency must be positive, got %d", c.MaxConcurrency)
	}
	d := &c.Defaults
	if d.Port == 0 {
		d.Port = 161
	}
	if d.Timeout == 0 {
		d.Timeout = 2 * time.Second
	}
	if d.Retries == nil {
		one := 1
		d.Retries = &one
	}
	if d.Interval == 0 {
		d.Interval = 60 * time.Second
	}
	if d.MaxRepetitions == 0 {
		d.MaxRepetitions = 25
	}
	if d.MaxVarbinds == 0 {
		d.MaxVarbinds = 60
	}
	if d.EndpointsInterval == 0 {
		d.EndpointsInterval = 15 * time.Minute
	}
	if d.Version == "" {
		d.Version = "2c"
	}
	custom := map[string]bool{}
	for i, cp := range c.Custom {
		if cp.Name == "" {
			return fmt.Errorf("snmp.custom[%d]: name is empty", i)
		}
		if builtinProfiles[cp.Name] != nil || custom[cp.Name] {
			return fmt.Errorf("snmp.custom[%d]: profile name %q is already taken", i, cp.Name)
		}
		custom[cp.Name] = true
		if len(cp.Scalars)+len(cp.Columns) == 0 {
			return fmt.Errorf("snmp.custom %q: no scalars or columns", cp.Name)
		}
		for _, o := range append(append([]CustomOID{}, cp.Scalars...), cp.Columns...) {
			if o.Name == "" {
				return fmt.Errorf("snmp.custom %q: an OID has no name", cp.Name)
			}
			if !validOID(o.OID) {
				return fmt.Errorf("snmp.custom %q: %s: OID %q is not numeric (write it like 1.3.6.1.2.1.1.3.0; MIB names are not resolved)", cp.Name, o.Name, o.OID)
			}
		}
		if c.Custom[i].Measurement == "" {
			c.Custom[i].Measurement = "snmp_" + cp.Name
		}
	}
	for i := range c.Targets {
		if err := c.Targets[i].fill(d, custom); err != nil {
			name := c.Targets[i].Address
			if c.Targets[i].Name != "" {
				name = c.Targets[i].Name
			}
			return fmt.Errorf("snmp.targets[%d] (%s): %w", i, name, err)
		}
	}
	if err := c.Traps.Validate(); err != nil {
		return fmt.Errorf("snmp.traps: %w", err)
	}
	dc := &c.Discovery
	if dc.Rate == 0 {
		dc.Rate = 20
	}
	if dc.Interval == 0 {
		dc.Interval = 6 * time.Hour
	}
	if dc.Timeout == 0 {
		dc.Timeout = time.Second
	}
	if dc.Poll == nil {
		t := true
		dc.Poll = &t
	}
	if len(dc.Credentials) == 0 {
		dc.Credentials = []Credentials{d.Credentials}
	}
	for i := range dc.Credentials {
		if err := dc.Credentials[i].fill(&d.Credentials); err != nil {
			return fmt.Errorf("snmp.discovery.credentials[%d]: %w", i, err)
		}
	}
	if _, err := discovery.ParseSubnets(dc.Subnets); err != nil {
		return fmt.Errorf("snmp.discovery.subnets: %w", err)
	}
	return nil
}

func validOID(s string) bool {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return false
	}
	for _, p := range strings.Split(s, ".") {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return false
		}
	}
	return true
}

func (cr *Credentials) fill(d *Credentials) error {
	if cr.Version == "" {
		cr.Version = d.Version
	}
	if cr.Version == "" {
		cr.Version = "2c"
	}
	switch strings.ToLower(strings.TrimPrefix(strings.ToLower(cr.Version), "v")) {
	case "1":
		cr.Version = "1"
	case "2", "2c":
		cr.Version = "2c"
	case "3":
		cr.Version = "3"
	default:
		return fmt.Errorf("version %q is not 1, 2c or 3", cr.Version)
	}
	if cr.Version == "3" {
		if cr.User.Name == "" && d.User.Name != "" {
			cr.User = d.User
		}
		if err := cr.User.Validate(); err != nil {
			return err
		}
		return nil
	}
	if cr.Community == "" {
		cr.Community = d.Community
	}
	if cr.Community == "" {
		cr.Community = "public"
	}
	return nil
}

func (t *Target) fill(d *Defaults, custom map[string]bool) error {
	if t.Address == "" {
		return errors.New("address is empty")
	}
	host, port, err := splitAddress(t.Address)
	if err != nil {
		return err
	}
	t.Address = host
	if port != 0 {
		if t.Port != 0 && t.Port != port {
			return fmt.Errorf("port %d contradicts the port in address %q", t.Port, t.Address)
		}
		t.Port = port
	}
	if t.Port == 0 {
		t.Port = d.Port
	}
	if err := t.Credentials.fill(&d.Credentials); err != nil {
		return err
	}
	if t.Timeout == 0 {
		t.Timeout = d.Timeout
	}
	if t.Retries == nil {
		t.Retries = d.Retries
	}
	if *t.Retries < 0 {
		return fmt.Errorf("retries must not be negative")
	}
	if t.Interval == 0 {
		t.Interval = d.Interval
	}
	if t.Interval < time.Second {
		return fmt.Errorf("interval %v is shorter than 1s", t.Interval)
	}
	if t.Deadline == 0 {
		t.Deadline = t.Interval
	}
	if t.MaxRepetitions == 0 {
		t.MaxRepetitions = d.MaxRepetitions
	}
	if t.MaxVarbinds == 0 {
		t.MaxVarbinds = d.MaxVarbinds
	}
	if t.EndpointsInterval == 0 {
		t.EndpointsInterval = d.EndpointsInterval
	}
	if t.Class != "" && !validClass(t.Class) {
		return fmt.Errorf("class %q is not one of %s", t.Class, strings.Join(Classes, ", "))
	}
	for _, p := range t.Profiles {
		if builtinProfiles[p] == nil && !custom[p] {
			return fmt.Errorf("unknown profile %q (built in: %s; or define it under snmp.custom)", p, strings.Join(ProfileNames(), ", "))
		}
	}
	return nil
}

func validClass(c string) bool {
	for _, k := range Classes {
		if k == c {
			return true
		}
	}
	return false
}

// splitAddress accepts "host", "host:port", "udp://host:port" and "[v6]:port".
func splitAddress(a string) (string, int, error) {
	if strings.Contains(a, "://") {
		u, err := url.Parse(a)
		if err != nil {
			return "", 0, fmt.Errorf("address %q: %w", a, err)
		}
		if u.Scheme != "udp" {
			return "", 0, fmt.Errorf("address %q: only udp:// is supported", a)
		}
		a = u.Host
	}
	if h, p, err := net.SplitHostPort(a); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", 0, fmt.Errorf("address %q: bad port %q", a, p)
		}
		return h, n, nil
	}
	if a == "" {
		return "", 0, errors.New("address is empty")
	}
	return strings.Trim(a, "[]"), 0, nil
}

// hostPort is the target's address as written in the `target` tag.
func (t *Target) hostPort() string {
	return net.JoinHostPort(t.Address, strconv.Itoa(t.Port))
}

// client builds an unconnected gosnmp client for the target.
func (t *Target) client() *gosnmp.GoSNMP {
	return newClient(t.Address, t.Port, &t.Credentials, t.Timeout, *t.Retries, t.MaxRepetitions)
}

func newClient(host string, port int, cr *Credentials, timeout time.Duration, retries, maxReps int) *gosnmp.GoSNMP {
	g := &gosnmp.GoSNMP{
		Target:         host,
		Port:           uint16(port),
		Transport:      "udp",
		Timeout:        timeout,
		Retries:        retries,
		MaxOids:        gosnmp.MaxOids,
		MaxRepetitions: uint32(maxReps),
	}
	switch cr.Version {
	case "1":
		g.Version = gosnmp.Version1
		g.Community = cr.Community
	case "3":
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		flags, sp := cr.User.Params()
		sp.AuthoritativeEngineID = "" // discovered per session
		g.MsgFlags = flags
		g.SecurityParameters = sp
		g.ContextName = cr.ContextName
	default:
		g.Version = gosnmp.Version2c
		g.Community = cr.Community
	}
	return g
}
