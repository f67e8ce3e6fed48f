package snmp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gosnmp/gosnmp"

	"github.com/schulmon/schulmon/agent/snmp/trap"
	"github.com/schulmon/schulmon/agent/snmp/usm"
)

func TestConfigYAMLAndDefaults(t *testing.T) {
	src := `
max_concurrency: 16
defaults:
  community: schule
  timeout: 3s
targets:
  - address: udp://10.20.1.2:1161
    name: sw01
  - address: 10.20.1.30
    version: "3"
    user: monitor
    auth_protocol: SHA-256
    auth_password: geheim1234
    priv_protocol: AES-256
    priv_password: geheim5678
    profiles: [system, printer]
    class: printer
    interval: 5m
traps:
  listen: 0.0.0.0:1162
  communities: [traps]
discovery:
  subnets: [10.20.1.0/24]
  rate: 5
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	a, b := c.Targets[0], c.Targets[1]
	if a.Address != "10.20.1.2" || a.Port != 1161 || a.Community != "schule" || a.Timeout != 3*time.Second || a.Interval != time.Minute || *a.Retries != 1 || a.Version != "2c" {
		t.Fatalf("target 0: %+v", a)
	}
	if b.Port != 161 || b.Version != "3" || b.Interval != 5*time.Minute || b.Deadline != 5*time.Minute || b.User.Name != "monitor" {
		t.Fatalf("target 1: %+v", b)
	}
	g := b.client()
	sp := g.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if g.MsgFlags != gosnmp.AuthPriv || sp.AuthenticationProtocol != gosnmp.SHA256 || sp.PrivacyProtocol != gosnmp.AES256 {
		t.Fatalf("v3 params: flags %v %+v", g.MsgFlags, sp)
	}
	if c.Discovery.Rate != 5 || c.Discovery.Credentials[0].Community != "schule" || !*c.Discovery.Poll {
		t.Fatalf("discovery: %+v", c.Discovery)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate must be idempotent: %v", err)
	}
}

func TestConfigErrorsNameTargetAndFix(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Targets: []Target{{Address: ""}}}, "address is empty"},
		{Config{Targets: []Target{{Name: "sw1", Address: "10.0.0.1", Credentials: Credentials{Version: "4"}}}}, "snmp.targets[0] (sw1): version \"4\""},
		{Config{Targets: []Target{{Address: "10.0.0.1", Profiles: []string{"ifmib"}}}}, "unknown profile \"ifmib\""},
		{Config{Targets: []Target{{Address: "10.0.0.1", Class: "beamer"}}}, "class \"beamer\" is not one of"},
		{Config{Targets: []Target{{Address: "10.0.0.1", Credentials: Credentials{Version: "3", User: usm.User{Name: "u", AuthProtocol: "SHA", AuthPassword: "kurz"}}}}}, "at least 8 characters"},
		{Config{Targets: []Target{{Address: "10.0.0.1", Credentials: Credentials{Version: "3", User: usm.User{Name: "u", AuthProtocol: "SHA-3", AuthPassword: "12345678"}}}}}, "unknown SNMPv3 auth protocol \"SHA-3\""},
		{Config{Targets: []Target{{Address: "10.0.0.1", Credentials: Credentials{Version: "3", User: usm.User{Name: "u", PrivProtocol: "AES", PrivPassword: "12345678"}}}}}, "needs authentication"},
		{Config{Targets: []Target{{Address: "tcp://10.0.0.1"}}}, "only udp://"},
		{Config{Targets: []Target{{Address: "10.0.0.1:99999"}}}, "bad port"},
		{Config{Discovery: DiscoveryConfig{Subnets: []string{"10.0.0.0/8"}}}, "/16 or smaller"},
		{Config{Traps: trapsListen("1162")}, "host:port"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error containing %q, got %v", c.want, err)
		}
	}
}

func TestUSMProtocolNames(t *testing.T) {
	for name, want := range map[string]gosnmp.SnmpV3AuthProtocol{"md5": gosnmp.MD5, "SHA": gosnmp.SHA, "sha-224": gosnmp.SHA224, "SHA256": gosnmp.SHA256, "SHA-384": gosnmp.SHA384, "sha512": gosnmp.SHA512} {
		if got, err := usm.ParseAuth(name); err != nil || got != want {
			t.Errorf("auth %q: %v %v", name, got, err)
		}
	}
	for name, want := range map[string]gosnmp.SnmpV3PrivProtocol{"des": gosnmp.DES, "AES": gosnmp.AES, "aes-128": gosnmp.AES, "AES-192": gosnmp.AES192, "aes256": gosnmp.AES256, "AES-256-C": gosnmp.AES256C, "aes192c": gosnmp.AES192C} {
		if got, err := usm.ParsePriv(name); err != nil || got != want {
			t.Errorf("priv %q: %v %v", name, got, err)
		}
	}
}

func TestClassify(t *testing.T) {
	p := func(m ...string) map[string]bool {
		out := map[string]bool{}
		for _, x := range m {
			out[x] = true
		}
		return out
	}
	cases := []struct {
		in   classifyInput
		want string
	}{
		{classifyInput{objectID: "1.3.6.1.4.1.9.1.516", descr: "Cisco IOS Software, C3750", services: 6, present: p("1.3.6.1.2.1.17.1.2")}, "switch"},
		{classifyInput{objectID: "1.3.6.1.4.1.8072.3.2.10", descr: "Linux nas 5.10", services: 72, present: p("1.3.6.1.2.1.25.1")}, "server"},
		{classifyInput{objectID: "1.3.6.1.4.1.8072.3.2.10", descr: "UAP-AC-Pro-Gen2 6.5.62", services: -1, present: p("1.3.6.1.2.1.25.1")}, "access_point"},
		{classifyInput{objectID: "1.3.6.1.4.1.2356.11.1", descr: "LANCOM LW-600 12.10", services: 2}, "access_point"},
		{classifyInput{objectID: "1.3.6.1.4.1.1347.41", descr: "KYOCERA Document Solutions Printing System", services: 72, present: p("1.3.6.1.2.1.43", "1.3.6.1.2.1.25.1")}, "printer"},
		{classifyInput{objectID: "1.3.6.1.4.1.318.1.3.27", descr: "APC Web/SNMP Management Card", services: 72}, "ups"},
		{classifyInput{objectID: "1.3.6.1.4.1.12356.101.1.1", descr: "FortiGate-60F", services: 78}, "router"},
		{classifyInput{objectID: "1.3.6.1.4.1.99999.1", descr: "router", services: 4, forward: 1}, "router"},
		{classifyInput{objectID: "1.3.6.1.4.1.1.1", descr: "Epson EB-695Wi projector", services: 72}, "display"},
		{classifyInput{objectID: "1.3.6.1.4.1.1.1", descr: "something", services: -1}, "other"},
	}
	for _, c := range cases {
		if got := classify(c.in); got != c.want {
			t.Errorf("%s: got %s, want %s", c.in.descr, got, c.want)
		}
	}
}

// SNMPv1 (GETNEXT instead of GETBULK, 32-bit counters only) against the
// real snmpd.
func TestSnmpdV1(t *testing.T) {
	port := startSnmpd(t)
	p := newPoller(t, Config{Targets: []Target{{Address: "127.0.0.1", Port: port, Credentials: Credentials{Version: "1", Community: "schule"}, Profiles: []string{"system", "interfaces"}}}})
	pts := pollOnce(t, p, 0)
	if f := pointFields(byMeas(pts, "snmp_poll")[0]); f["reachable"] != true || f["error"] != "" {
		t.Fatalf("v1 poll: %v", f)
	}
	if c := tagOf(byMeas(pts, "snmp_poll")[0], "class"); c != "server" {
		t.Fatalf("v1 class detection: %q", c)
	}
	lo, ok := find(pts, "snmp_if", "ifName", "lo")
	if !ok || pointFields(lo)["counter_bits"] != int64(32) || pointFields(lo)["ifInOctets"] == nil {
		t.Fatalf("v1 interface: %v", pointFields(lo))
	}
}

// Run with a target, the trap receiver and discovery of 127.0.0.1: the
// trap sent by the polled device carries the polled device's name.
func TestRunPollsReceivesTrapsAndDiscovers(t *testing.T) {
	port := startSnmpd(t)
	snmptrap := need(t, "snmptrap")
	trapPort := freeUDPPort(t)
	retries := 0
	cfg := Config{
		Defaults: Defaults{Port: port, Credentials: Credentials{Community: "schule"}, Retries: &retries, Interval: time.Hour},
		Targets:  []Target{{Name: "server-snmp", Address: "127.0.0.1"}},
		Traps:    trapsListen(fmt.Sprintf("127.0.0.1:%d", trapPort)),
		Discovery: DiscoveryConfig{
			Subnets: []string{"127.0.0.1/32"}, Rate: 10, Interval: time.Hour,
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &collect{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, sink, WithAgentHost("t")) }()
	defer func() { cancel(); <-done }()
	waitFor(t, sink, func(c *collect) bool {
		return len(byMeas(c.all(), "snmp_poll")) > 0 && len(byMeas(c.all(), "snmp_discovery")) > 0
	})
	// Trap receiver: send until it is up (it starts concurrently).
	waitFor(t, sink, func(c *collect) bool {
		cmd := exec.Command(snmptrap, "-v2c", "-c", "public", fmt.Sprintf("127.0.0.1:%d", trapPort), "", "1.3.6.1.6.3.1.1.5.1")
		cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+t.TempDir())
		_ = cmd.Run()
		time.Sleep(100 * time.Millisecond)
		return len(byMeas(c.all(), "snmp_trap")) > 0
	})
	tr := byMeas(sink.all(), "snmp_trap")[0]
	if tagOf(tr, "device") != "server-snmp" || tagOf(tr, "class") != "server" || tagOf(tr, "trap") != "coldStart" {
		t.Fatalf("trap tags: %v", tr.Tags)
	}
	d := byMeas(sink.all(), "snmp_discovery")[0]
	if tagOf(d, "class") != "server" || pointFields(d)["address"] != "127.0.0.1" || pointFields(d)["added"] != false {
		t.Fatalf("discovery of the already polled device: %v %v", d.Tags, pointFields(d))
	}
}

func waitFor(t *testing.T, c *collect, cond func(*collect) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond(c) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("condition not met; have %d points", len(c.all()))
}

func trapsListen(addr string) trap.Config { return trap.Config{Listen: addr} }

func TestSampleConfigIsValid(t *testing.T) {
	var doc struct {
		SNMP Config `yaml:"snmp"`
	}
	dec := yaml.NewDecoder(strings.NewReader(SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if err := doc.SNMP.Validate(); err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if len(doc.SNMP.Targets) != 3 || doc.SNMP.Targets[1].User.PrivProtocol != "AES" || len(doc.SNMP.Custom[0].Columns) != 2 {
		t.Fatalf("sample parsed wrongly: %+v", doc.SNMP)
	}
}

// A trap port that cannot be bound must not stop the polling.
func TestRunKeepsPollingWhenTrapPortIsTaken(t *testing.T) {
	srv := serveFixtures(t, nil)
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := Config{Targets: []Target{simTarget(srv, "eaton-5px")}, Traps: trapsListen(taken.LocalAddr().String())}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &collect{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, sink) }()
	waitFor(t, sink, func(c *collect) bool { return len(byMeas(c.all(), "snmp_ups")) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

// Discovery adds what answers as a poll target, which Run then polls.
func TestDiscoveredDeviceIsPolled(t *testing.T) {
	srv := serveFixtures(t, nil)
	cfg := Config{
		Defaults:  Defaults{Port: srv.Addr().Port, Credentials: Credentials{Community: "eaton-5px"}},
		Discovery: DiscoveryConfig{Subnets: []string{"127.0.0.1/32"}, Interval: time.Hour},
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &collect{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, sink) }()
	waitFor(t, sink, func(c *collect) bool { return len(byMeas(c.all(), "snmp_ups")) > 0 })
	d := byMeas(sink.all(), "snmp_discovery")
	if len(d) != 1 || tagOf(d[0], "class") != "ups" || tagOf(d[0], "device") != "gs-nord-ups01" || pointFields(d[0])["added"] != true {
		t.Fatalf("discovery point: %v", d)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
