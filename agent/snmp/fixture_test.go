package snmp

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/agent/snmp/internal/snmpsim"
	"github.com/schulmon/schulmon/metric"
)

// collect is a Sink for tests.
type collect struct {
	mu  sync.Mutex
	pts []metric.Point
}

func (c *collect) Add(p ...metric.Point) {
	c.mu.Lock()
	c.pts = append(c.pts, p...)
	c.mu.Unlock()
}

func (c *collect) all() []metric.Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]metric.Point{}, c.pts...)
}

// serveFixtures serves every testdata/*.walk under its file name as
// community, like snmpsim does with .snmprec files.
func serveFixtures(t testing.TB, devices map[string]*snmpsim.Device) *snmpsim.Server {
	t.Helper()
	if devices == nil {
		devices = map[string]*snmpsim.Device{}
		files, _ := filepath.Glob("testdata/*.walk")
		for _, f := range files {
			d, err := snmpsim.LoadDevice(f)
			if err != nil {
				t.Fatal(err)
			}
			devices[strings.TrimSuffix(filepath.Base(f), ".walk")] = d
		}
	}
	var mu sync.RWMutex
	srv := &snmpsim.Server{Lookup: func(c string) *snmpsim.Device {
		mu.RLock()
		defer mu.RUnlock()
		return devices[c]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); srv.Close() })
	if err := srv.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return srv
}

func simTarget(srv *snmpsim.Server, community string) Target {
	return Target{Address: "127.0.0.1", Port: srv.Addr().Port, Credentials: Credentials{Community: community}, Timeout: 2 * time.Second}
}

func pollOnce(t *testing.T, p *Poller, i int) []metric.Point {
	t.Helper()
	return p.poll(context.Background(), p.targets[i])
}

func newPoller(t testing.TB, cfg Config) *Poller {
	t.Helper()
	p, err := New(cfg, WithAgentHost("schulserver"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func byMeas(pts []metric.Point, m string) []metric.Point {
	var out []metric.Point
	for _, p := range pts {
		if p.Measurement == m {
			out = append(out, p)
		}
	}
	return out
}

func tagOf(p metric.Point, k string) string { v, _ := p.Tag(k); return v }

func find(pts []metric.Point, m, k, v string) (metric.Point, bool) {
	for _, p := range pts {
		if p.Measurement == m && tagOf(p, k) == v {
			return p, true
		}
	}
	return metric.Point{}, false
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

var _ = strconv.Itoa

func TestFixtureSwitchAruba(t *testing.T) {
	srv := serveFixtures(t, nil)
	p := newPoller(t, Config{Targets: []Target{simTarget(srv, "aruba-2930f")}})
	pts := pollOnce(t, p, 0)
	poll := byMeas(pts, "snmp_poll")
	if len(poll) != 1 {
		t.Fatalf("want one snmp_poll, got %d", len(poll))
	}
	f := pointFields(poll[0])
	if f["reachable"] != true || f["error"] != "" {
		t.Fatalf("poll failed: %v", f)
	}
	if tagOf(poll[0], "device") != "gs-nord-sw01" || tagOf(poll[0], "class") != "switch" {
		t.Fatalf("device/class tags: %v", poll[0].Tags)
	}
	if tagOf(poll[0], "agent_host") != "schulserver" || !strings.HasPrefix(tagOf(poll[0], "target"), "127.0.0.1:") {
		t.Fatalf("poll tags: %v", poll[0].Tags)
	}
	ifs := byMeas(pts, "snmp_if")
	if len(ifs) != 29 {
		t.Fatalf("want 29 interfaces, got %d", len(ifs))
	}
	up, ok := find(pts, "snmp_if", "ifName", "25")
	if !ok {
		t.Fatal("no uplink port 25")
	}
	uf := pointFields(up)
	if uf["ifAlias"] != "Uplink Schulnetz" || uf["ifHighSpeed"] != uint64(10000) || uf["counter_bits"] != int64(64) {
		t.Fatalf("uplink fields: %v", uf)
	}
	if _, has := uf["in_bps"]; has {
		t.Fatal("first poll must not have a rate")
	}
	p7, _ := find(pts, "snmp_if", "ifName", "7")
	if pointFields(p7)["ifInErrors"] != uint64(1532) {
		t.Fatalf("port 7 errors: %v", pointFields(p7))
	}
	// PoE: 4 ports delivering, 38 of 370 W.
	poe := byMeas(pts, "snmp_poe")
	if len(poe) != 1 || pointFields(poe[0])["power_consumption_w"] != uint64(38) || pointFields(poe[0])["power_budget_w"] != uint64(370) {
		t.Fatalf("poe: %v", poe)
	}
	delivering := 0
	for _, pp := range byMeas(pts, "snmp_poe_port") {
		if pointFields(pp)["delivering"] == true {
			delivering++
		}
	}
	if delivering != 4 {
		t.Fatalf("want 4 PoE ports delivering, got %d", delivering)
	}
	// LLDP: core switch on 25, AP on 20.
	ap, ok := find(pts, "snmp_lldp", "remote_sysname", "gs-nord-ap-r120")
	if !ok || tagOf(ap, "local_port") != "20" || pointFields(ap)["remote_chassis_id"] != "e0:63:da:7a:1b:2c" {
		t.Fatalf("lldp AP neighbour: %v %v", ap.Tags, pointFields(ap))
	}
	// Sensors with names from ENTITY-MIB.
	temp, ok := find(pts, "snmp_sensor", "sensor", "Chassis Temperature Sensor")
	if !ok || pointFields(temp)["value"] != 41.0 || tagOf(temp, "type") != "celsius" {
		t.Fatalf("temperature sensor: %v %v", temp.Tags, pointFields(temp))
	}
	psu, _ := find(pts, "snmp_sensor", "sensor", "Power Supply 1")
	if v := pointFields(psu)["value"]; v != 54.0 {
		t.Fatalf("PSU voltage with precision 1: %v", v)
	}
	// Endpoints: ports 1..20 minus 9 and 14 have one device each, port 3
	// four (small switch); the AP on port 20 is an LLDP neighbour, the 30
	// MACs behind uplink 25 are not end devices.
	eps := byMeas(pts, "discovered_endpoint")
	if len(eps) != 20 {
		for _, e := range eps {
			t.Log(pointFields(e))
		}
		t.Fatalf("want 20 end devices, got %d", len(eps))
	}
	ports := map[string]int{}
	withIP := 0
	for _, e := range eps {
		ef := pointFields(e)
		ports[ef["port"].(string)]++
		if ef["ip"] != "" {
			withIP++
		}
		if tagOf(e, "device") != "gs-nord-sw01" || tagOf(e, "class") != "switch" {
			t.Fatalf("endpoint tags: %v", e.Tags)
		}
		if m := ef["mac"].(string); len(m) != 17 || strings.ToLower(m) != m {
			t.Fatalf("mac format %q", m)
		}
	}
	if ports["3"] != 4 || ports["25"] != 0 || ports["9"] != 0 {
		t.Fatalf("endpoints per port: %v", ports)
	}
	if withIP == 0 || withIP == len(eps) {
		t.Fatalf("some but not all endpoints have an ARP entry; got %d of %d", withIP, len(eps))
	}
	// Efficiency: GETBULK over many columns at once.
	if req := pointFields(poll[0])["requests"].(int64); req > 60 {
		t.Fatalf("too many requests for one switch: %d", req)
	}
}

func pollFixture(t *testing.T, community string) []metric.Point {
	t.Helper()
	srv := serveFixtures(t, nil)
	p := newPoller(t, Config{Targets: []Target{simTarget(srv, community)}})
	pts := pollOnce(t, p, 0)
	if f := pointFields(byMeas(pts, "snmp_poll")[0]); f["reachable"] != true || f["error"] != "" {
		t.Fatalf("poll %s failed: %v", community, f)
	}
	return pts
}

func TestFixtureAccessPoint(t *testing.T) {
	pts := pollFixture(t, "unifi-uap-ac-pro")
	// sysObjectID is plain net-snmp; the UniFi MIB marks it as an AP.
	if c := tagOf(byMeas(pts, "snmp_poll")[0], "class"); c != "access_point" {
		t.Fatalf("class %q, want access_point", c)
	}
	if len(byMeas(pts, "snmp_if")) != 7 {
		t.Fatalf("want 7 interfaces, got %d", len(byMeas(pts, "snmp_if")))
	}
	root, ok := find(pts, "snmp_hr_storage", "storage", "/")
	if !ok || pointFields(root)["size_bytes"] != int64(2048*4096) || pointFields(root)["type"] != nil || tagOf(root, "type") != "fixed_disk" {
		t.Fatalf("root fs: %v %v", root.Tags, pointFields(root))
	}
	cpu := byMeas(pts, "snmp_hr_cpu")
	if len(cpu) != 1 || pointFields(cpu[0])["load_avg_pct"] != 7.0 {
		t.Fatalf("cpu: %v", cpu)
	}
}

func TestFixturePrinter(t *testing.T) {
	pts := pollFixture(t, "hp-color-laserjet-m479")
	if c := tagOf(byMeas(pts, "snmp_poll")[0], "class"); c != "printer" {
		t.Fatalf("class %q, want printer", c)
	}
	// The printer's own MAC identifies it in the inventory (first poll).
	if m := pointFields(byMeas(pts, "snmp_poll")[0])["macs"]; m != "30:24:a9:7a:2b:3c" {
		t.Fatalf("macs = %v", m)
	}
	pr := byMeas(pts, "snmp_printer")
	if len(pr) != 1 {
		t.Fatalf("want one snmp_printer, got %d", len(pr))
	}
	f := pointFields(pr[0])
	if f["page_count"] != uint64(48213) || f["status_text"] != "idle" || f["device_status_text"] != "warning" || f["errors"] != "" {
		t.Fatalf("printer: %v", f)
	}
	// Magenta is at 360/6000 = 6 %: low. The waste toner box reports
	// "some remaining" (-3).
	mag, ok := find(pts, "snmp_printer_supply", "supply", "Magenta Cartridge HP W2033X")
	if mf := pointFields(mag); !ok || mf["level_pct"] != 6.0 || mf["state"] != "low" || mf["colorant"] != "magenta" || mf["type_name"] != "toner" {
		t.Fatalf("magenta: %v", mf)
	}
	waste, _ := find(pts, "snmp_printer_supply", "supply", "Toner Collection Unit HP 3WT90A")
	if wf := pointFields(waste); wf["state"] != "some_remaining" || wf["supply_class"] != "filled" {
		t.Fatalf("waste toner: %v", wf)
	}
	if f["supplies_attention"] != int64(1) {
		t.Fatalf("supplies needing attention: %v", f["supplies_attention"])
	}
}

func TestFixtureUPS(t *testing.T) {
	pts := pollFixture(t, "eaton-5px")
	if c := tagOf(byMeas(pts, "snmp_poll")[0], "class"); c != "ups" {
		t.Fatalf("class %q, want ups", c)
	}
	u := byMeas(pts, "snmp_ups")
	if len(u) != 1 {
		t.Fatalf("want one snmp_ups, got %d", len(u))
	}
	f := pointFields(u[0])
	want := map[string]any{"battery_status_text": "normal", "charge_pct": int64(100), "minutes_remaining": int64(38), "on_battery": false,
		"battery_voltage_v": 54.3, "input_voltage_v": 231.0, "output_voltage_v": 230.0, "output_load_pct": 26.0, "output_power_w": 371.0,
		"input_frequency_hz": 50.0, "model": "Eaton 5PX 1500"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, f[k], f[k], v)
		}
	}
}

func TestFixtureCiscoAndServer(t *testing.T) {
	pts := pollFixture(t, "cisco-c3750")
	if c := tagOf(byMeas(pts, "snmp_poll")[0], "class"); c != "switch" {
		t.Fatalf("Cisco 3750 class %q, want switch", c)
	}
	if n := len(byMeas(pts, "snmp_if")); n != 59 {
		t.Fatalf("Cisco 3750: want 59 interfaces, got %d", n)
	}
	pts = pollFixture(t, "linux-server-netsnmp")
	if c := tagOf(byMeas(pts, "snmp_poll")[0], "class"); c != "server" {
		t.Fatalf("net-snmp Linux class %q, want server", c)
	}
	// This container's snmpd has no hrProcessorTable: no CPU point, but
	// memory and file systems.
	mem, ok := find(pts, "snmp_hr_storage", "storage", "Physical memory")
	if !ok || tagOf(mem, "type") != "ram" || pointFields(mem)["used_pct"] == nil {
		t.Fatalf("server memory: %v %v", mem.Tags, pointFields(mem))
	}
	if len(byMeas(pts, "snmp_hr_cpu")) != 0 {
		t.Fatal("CPU point without hrProcessorLoad values")
	}
}

// Custom OIDs: a scalar with scale and rate, a table with a tag column.
func TestCustomProfile(t *testing.T) {
	srv := serveFixtures(t, nil)
	tg := simTarget(srv, "eaton-5px")
	tg.Profiles = []string{"system", "usv"}
	p := newPoller(t, Config{Targets: []Target{tg}, Custom: []CustomProfile{{
		Name:    "usv",
		Scalars: []CustomOID{{Name: "battery_v", OID: "1.3.6.1.2.1.33.1.2.5.0", Scale: 0.1}, {Name: "line_bads", OID: ".1.3.6.1.2.1.33.1.3.1.0", Rate: true}},
		Columns: []CustomOID{{Name: "line", OID: "1.3.6.1.2.1.33.1.4.4.1.2", Tag: false}, {Name: "watts", OID: "1.3.6.1.2.1.33.1.4.4.1.4"}},
	}}})
	pts := pollOnce(t, p, 0)
	sc := byMeas(pts, "snmp_usv")
	if len(sc) != 2 {
		t.Fatalf("want scalar and one row point, got %d", len(sc))
	}
	f := pointFields(sc[0])
	if f["battery_v"] != 54.300000000000004 && f["battery_v"] != 54.3 {
		t.Fatalf("scaled scalar: %v", f)
	}
	if f["line_bads"] != uint64(3) {
		t.Fatalf("counter scalar: %v", f)
	}
	if tagOf(sc[1], "index") != "1" || pointFields(sc[1])["watts"] != 371.0 {
		t.Fatalf("row: %v %v", sc[1].Tags, pointFields(sc[1]))
	}
	if len(byMeas(pts, "snmp_if")) != 0 {
		t.Fatal("interfaces polled although not listed")
	}
	if _, err := New(Config{Custom: []CustomProfile{{Name: "x", Scalars: []CustomOID{{Name: "a", OID: "sysUpTime.0"}}}}}); err == nil || !strings.Contains(err.Error(), "not numeric") {
		t.Fatalf("MIB name must be refused with a hint, got %v", err)
	}
}

// Line protocol consumers split on newlines: no field may contain one,
// even where the device's sysDescr has several lines (Cisco).
func TestNoNewlinesInOutput(t *testing.T) {
	pts := pollFixture(t, "cisco-c3750")
	var buf []byte
	for i := range pts {
		buf = metric.AppendLine(buf[:0], &pts[i])
		if strings.Count(string(buf), "\n") != 1 {
			t.Fatalf("point spans several lines: %q", buf)
		}
	}
	d := pointFields(byMeas(pts, "snmp_system")[0])["sysDescr"].(string)
	if !strings.HasPrefix(d, "Cisco IOS Software, C3750") || !strings.Contains(d, "Technical Support") {
		t.Fatalf("sysDescr: %q", d)
	}
}

// pointFields returns a point's fields as a map.
func pointFields(p metric.Point) map[string]any {
	m := map[string]any{}
	for _, f := range p.Fields {
		m[f.Key] = f.Value.Any()
	}
	return m
}

// SNMPv1 through the simulator: probe OIDs past the printer's last object
// make the v1 agent answer noSuchName; detection must still work.
func TestFixturePrinterV1(t *testing.T) {
	srv := serveFixtures(t, nil)
	tg := simTarget(srv, "hp-color-laserjet-m479")
	tg.Version = "1"
	p := newPoller(t, Config{Targets: []Target{tg}})
	pts := pollOnce(t, p, 0)
	poll := byMeas(pts, "snmp_poll")[0]
	if f := pointFields(poll); f["reachable"] != true || f["error"] != "" || tagOf(poll, "class") != "printer" {
		t.Fatalf("v1 printer: %v %v", poll.Tags, f)
	}
	if n := len(byMeas(pts, "snmp_printer_supply")); n != 6 {
		t.Fatalf("v1 printer supplies: %d", n)
	}
}

// Forwarding tables are walked every endpoints_interval, not every poll.
func TestEndpointsInterval(t *testing.T) {
	srv := serveFixtures(t, nil)
	p := newPoller(t, Config{Targets: []Target{simTarget(srv, "aruba-2930f")}})
	first := pollOnce(t, p, 0)
	second := pollOnce(t, p, 0)
	if len(byMeas(first, "discovered_endpoint")) != 20 || len(byMeas(second, "discovered_endpoint")) != 0 {
		t.Fatalf("endpoints: first poll %d, second %d", len(byMeas(first, "discovered_endpoint")), len(byMeas(second, "discovered_endpoint")))
	}
	p.targets[0].endpointsAt = p.targets[0].endpointsAt.Add(-16 * time.Minute)
	if n := len(byMeas(pollOnce(t, p, 0), "discovered_endpoint")); n != 20 {
		t.Fatalf("endpoints after the interval: %d", n)
	}
}
