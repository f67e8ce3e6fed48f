package trap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/agent/snmp/usm"
	"github.com/schulmon/schulmon/metric"
)

type collect struct {
	mu  sync.Mutex
	pts []metric.Point
}

func (c *collect) Add(p ...metric.Point) {
	c.mu.Lock()
	c.pts = append(c.pts, p...)
	c.mu.Unlock()
}

func (c *collect) wait(t *testing.T, n int) []metric.Point {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		if len(c.pts) >= n {
			out := append([]metric.Point{}, c.pts...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("want %d traps, got %d", n, len(c.pts))
	return nil
}

func snmptrapBin(t *testing.T, prog string) string {
	t.Helper()
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	if os.Getenv("SCHULMON_QUICK") == "1" {
		t.Skipf("%s not installed (SCHULMON_QUICK=1)", prog)
	}
	t.Fatalf("%s not found: install net-snmp tools with `make deps` (Debian package snmp)", prog)
	return ""
}

func freePort(t *testing.T) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS=/nonexistent", "SNMP_PERSISTENT_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
}

func fields(p metric.Point) map[string]any {
	m := map[string]any{}
	for _, f := range p.Fields {
		m[f.Key] = f.Value.Any()
	}
	return m
}

func tagOf(p metric.Point, k string) string { v, _ := p.Tag(k); return v }

func TestReceiveRealTraps(t *testing.T) {
	snmptrap := snmptrapBin(t, "snmptrap")
	snmpinform := snmptrapBin(t, "snmpinform")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	sink := &collect{}
	resolve := func(a netip.Addr) (string, string, bool) {
		if a == netip.MustParseAddr("127.0.0.1") {
			return "gs-nord-sw01", "switch", true
		}
		return "", "", false
	}
	r, err := New(Config{
		Listen:      addr,
		Communities: []string{"traps"},
		Users:       []usm.User{{Name: "trapuser", AuthProtocol: "SHA", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"}},
		EngineID:    "80001f88040102030405",
	}, sink, resolve)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatal(err)
	}

	// v2c linkDown of port 7 with the standard varbinds.
	run(t, snmptrap, "-v2c", "-c", "traps", addr, "", "1.3.6.1.6.3.1.1.5.3",
		"1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.7.7", "i", "1", "1.3.6.1.2.1.2.2.1.8.7", "i", "2",
		"1.3.6.1.2.1.31.1.1.1.1.7", "s", "Gi1/0/7")
	// A wrong community is dropped.
	run(t, snmptrap, "-v2c", "-c", "wrong", addr, "", "1.3.6.1.6.3.1.1.5.1")
	// v1 linkUp (generic 3).
	run(t, snmptrap, "-v1", "-c", "traps", addr, "1.3.6.1.4.1.8072.3.2.10", "127.0.0.1", "3", "0", "", "1.3.6.1.2.1.2.2.1.1.3", "i", "3")
	// v3 authPriv coldStart (the sender is the authoritative engine).
	run(t, snmptrap, "-v3", "-e", "0x8000000001020304", "-u", "trapuser", "-l", "authPriv", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123",
		addr, "", "1.3.6.1.6.3.1.1.5.1")
	// v3 with a wrong password is not accepted.
	run(t, snmptrap, "-v3", "-e", "0x8000000001020305", "-u", "trapuser", "-l", "authPriv", "-a", "SHA", "-A", "wrongpass123", "-x", "AES", "-X", "privpass123",
		addr, "", "1.3.6.1.6.3.1.1.5.5")
	// An enterprise trap is forwarded with its varbinds.
	run(t, snmptrap, "-v2c", "-c", "traps", addr, "", "1.3.6.1.4.1.99999.0.1", "1.3.6.1.4.1.99999.1.1", "s", "Lüfter defekt")
	// A v3 inform: snmpinform discovers our engine ID and waits for the ack.
	run(t, snmpinform, "-v3", "-u", "trapuser", "-l", "authPriv", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X", "privpass123", "-t", "2", "-r", "1",
		addr, "", "1.3.6.1.6.3.1.1.5.2")

	pts := sink.wait(t, 5)
	time.Sleep(200 * time.Millisecond) // nothing else may arrive
	if n := len(sink.wait(t, 5)); n != 5 {
		t.Fatalf("want exactly 5 accepted traps, got %d", n)
	}
	byTrap := map[string]metric.Point{}
	for _, p := range pts {
		byTrap[tagOf(p, "trap")] = p
		if p.Measurement != "snmp_trap" || tagOf(p, "device") != "gs-nord-sw01" || tagOf(p, "class") != "switch" {
			t.Fatalf("trap point: %s %v", p.Measurement, p.Tags)
		}
	}
	down := fields(byTrap["linkDown"])
	if down["if_index"] != int64(7) || down["if_oper_status"] != int64(2) || down["if_name"] != "Gi1/0/7" || down["version"] != "2c" {
		t.Fatalf("linkDown: %v", down)
	}
	if !strings.Contains(down["message"].(string), "Gi1/0/7 went down") {
		t.Fatalf("message: %v", down["message"])
	}
	up := fields(byTrap["linkUp"])
	if up["version"] != "1" || up["if_index"] != int64(3) {
		t.Fatalf("v1 linkUp: %v", up)
	}
	cold := fields(byTrap["coldStart"])
	if cold["version"] != "3" || cold["user"] != "trapuser" {
		t.Fatalf("v3 coldStart: %v", cold)
	}
	ent := fields(byTrap["1.3.6.1.4.1.99999.0.1"])
	if !strings.Contains(ent["varbinds"].(string), "1.3.6.1.4.1.99999.1.1=Lüfter defekt") {
		t.Fatalf("enterprise trap varbinds: %v", ent)
	}
	warm := fields(byTrap["warmStart"])
	if warm["inform"] != true || warm["version"] != "3" {
		t.Fatalf("v3 inform: %v", warm)
	}
	if r.Dropped.Load() != 1 {
		t.Fatalf("dropped = %d, want 1 (wrong community)", r.Dropped.Load())
	}
}

func TestConfigValidate(t *testing.T) {
	bad := Config{Listen: "162"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Fatalf("want host:port hint, got %v", err)
	}
	bad = Config{Listen: ":1162", Users: []usm.User{{Name: "u", AuthProtocol: "SHA", AuthPassword: "short"}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "8 characters") {
		t.Fatalf("want password length error, got %v", err)
	}
}

func TestPerSenderRateLimit(t *testing.T) {
	snmptrap := snmptrapBin(t, "snmptrap")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	sink := &collect{}
	r, err := New(Config{Listen: addr, MaxPerSecond: 0.01}, sink, nil) // burst of 1
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-r.Ready()
	for i := 0; i < 3; i++ {
		run(t, snmptrap, "-v2c", "-c", "public", addr, "", "1.3.6.1.6.3.1.1.5.3")
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Received.Load()+r.Dropped.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r.Received.Load() != 1 || r.Dropped.Load() != 2 {
		t.Fatalf("received %d, dropped %d; want 1 and 2", r.Received.Load(), r.Dropped.Load())
	}
	if p := sink.wait(t, 1)[0]; tagOf(p, "device") != "127.0.0.1" || tagOf(p, "class") != "other" {
		t.Fatalf("unknown sender tags: %v", p.Tags)
	}
}
