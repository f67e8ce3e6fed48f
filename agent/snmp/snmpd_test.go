package snmp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/schulmon/schulmon/agent/snmp/usm"
	"github.com/schulmon/schulmon/metric"
)

// need returns the path of a net-snmp program or fails (skips with
// SCHULMON_QUICK=1) with how to install it.
func need(t testing.TB, prog string) string {
	t.Helper()
	for _, p := range []string{prog, "/usr/sbin/" + prog, "/usr/bin/" + prog} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("SCHULMON_QUICK") == "1" {
		t.Skipf("%s not installed (SCHULMON_QUICK=1)", prog)
	}
	t.Fatalf("%s not found: install net-snmp with `make deps` (Debian packages snmpd and snmp)", prog)
	return ""
}

const (
	v3User = "schulmon"
	v3Auth = "authpass123"
	v3Priv = "privpass123"
)

// startSnmpd runs a real net-snmp agent on a free loopback port with a
// v2c community and a v3 authPriv user (SHA/AES).
func startSnmpd(t testing.TB) int {
	t.Helper()
	bin := need(t, "snmpd")
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmpd.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`rocommunity schule 127.0.0.1
createUser %s SHA "%s" AES "%s"
rouser %s priv
createUser umd5des MD5 "authpass123" DES "privpass123"
createUser usha224 SHA-224 "authpass123" AES "privpass123"
createUser usha384 SHA-384 "authpass123" AES-192 "privpass123"
createUser usha512 SHA-512 "authpass123" AES-256 "privpass123"
createUser usha256auth SHA-256 "authpass123"
createUser unoauth
rouser umd5des priv
rouser usha224 priv
rouser usha384 priv
rouser usha512 priv
rouser usha256auth auth
rouser unoauth noauth
sysName schulserver01
sysLocation Serverraum
sysContact it@example.invalid
sysServices 72
`, v3User, v3Auth, v3Priv, v3User)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := freeUDPPort(t)
		cmd := exec.Command(bin, "-f", "-Lo", "-C", "-c", conf, "-p", filepath.Join(dir, "snmpd.pid"), fmt.Sprintf("udp:127.0.0.1:%d", port))
		cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "MIBS=", "MIBDIRS=/nonexistent")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start snmpd: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		// Ready when it answers a GET.
		g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(port), Community: "schule", Version: gosnmp.Version2c, Timeout: 200 * time.Millisecond, Retries: 0}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				t.Logf("snmpd exited (port %d taken?): %s", port, out.String())
				deadline = time.Time{}
				continue
			default:
			}
			if g.Connect() == nil {
				_, err := g.Get([]string{oidSysName})
				g.Conn.Close()
				if err == nil {
					return port
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Fatal("snmpd did not start")
	return 0
}

func TestSnmpdV2cAndV3AuthPriv(t *testing.T) {
	port := startSnmpd(t)
	retries := 0
	v2 := Target{Name: "srv-v2c", Address: fmt.Sprintf("udp://127.0.0.1:%d", port), Credentials: Credentials{Version: "2c", Community: "schule"}, Timeout: time.Second, Retries: &retries}
	v3 := Target{Address: "127.0.0.1", Port: port, Credentials: Credentials{Version: "3", User: usm.User{Name: v3User, AuthProtocol: "SHA", AuthPassword: v3Auth, PrivProtocol: "AES", PrivPassword: v3Priv}}, Timeout: time.Second, Retries: &retries}
	p := newPoller(t, Config{Targets: []Target{v2, v3}})
	for i, name := range []string{"srv-v2c", "schulserver01"} {
		pts := pollOnce(t, p, i)
		poll := byMeas(pts, "snmp_poll")[0]
		f := pointFields(poll)
		if f["reachable"] != true || f["error"] != "" {
			t.Fatalf("%s: %v", name, f)
		}
		if tagOf(poll, "device") != name {
			t.Fatalf("device tag %q, want %q", tagOf(poll, "device"), name)
		}
		// net-snmp on Linux has HOST-RESOURCES: a server.
		if tagOf(poll, "class") != "server" {
			t.Fatalf("%s class %q", name, tagOf(poll, "class"))
		}
		sys := byMeas(pts, "snmp_system")
		if len(sys) != 1 || pointFields(sys[0])["sysLocation"] != "Serverraum" {
			t.Fatalf("%s system: %v", name, sys)
		}
		if _, ok := find(pts, "snmp_if", "ifName", "lo"); !ok {
			t.Fatalf("%s: loopback interface missing", name)
		}
		if len(byMeas(pts, "snmp_hr_storage")) == 0 {
			t.Fatalf("%s: no storage", name)
		}
	}
	// The v3 client keeps the engine ID: the second poll needs no
	// discovery round trip (and no class detection).
	p.targets[1].g = nil // as after a failed poll
	fresh := pointFields(byMeas(pollOnce(t, p, 1), "snmp_poll")[0])["requests"].(int64)
	reused := pointFields(byMeas(pollOnce(t, p, 1), "snmp_poll")[0])
	if reused["reachable"] != true || reused["requests"].(int64) != fresh-1 {
		t.Fatalf("v3 packets: with engine discovery %d, with the kept client %v (want one less)", fresh, reused["requests"])
	}
}

func TestSnmpdWrongCredentialsDoNotDelayOthers(t *testing.T) {
	port := startSnmpd(t)
	retries := 0
	good := Target{Name: "good", Address: "127.0.0.1", Port: port, Credentials: Credentials{Community: "schule"}, Timeout: time.Second, Retries: &retries}
	badComm := Target{Name: "bad-community", Address: "127.0.0.1", Port: port, Credentials: Credentials{Community: "falsch"}, Timeout: 300 * time.Millisecond, Retries: &retries}
	badAuth := Target{Name: "bad-v3-auth", Address: "127.0.0.1", Port: port, Credentials: Credentials{Version: "3", User: usm.User{Name: v3User, AuthProtocol: "SHA", AuthPassword: "wrongpassword", PrivProtocol: "AES", PrivPassword: v3Priv}}, Timeout: 300 * time.Millisecond, Retries: &retries}
	badUser := Target{Name: "bad-v3-user", Address: "127.0.0.1", Port: port, Credentials: Credentials{Version: "3", User: usm.User{Name: "nobody", AuthProtocol: "SHA", AuthPassword: v3Auth, PrivProtocol: "AES", PrivPassword: v3Priv}}, Timeout: 300 * time.Millisecond, Retries: &retries}
	// A "device" that swallows requests and never answers.
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	dead := Target{Name: "dead", Address: "127.0.0.1", Port: hole.LocalAddr().(*net.UDPAddr).Port, Credentials: Credentials{Community: "schule"}, Timeout: 2 * time.Second, Retries: &retries}

	p := newPoller(t, Config{MaxConcurrency: 8, Targets: []Target{dead, badComm, badAuth, badUser, good}})
	c := &collect{}
	p.PollAll(context.Background(), c)
	polls := map[string]metric.Point{}
	for _, pt := range byMeas(c.all(), "snmp_poll") {
		polls[tagOf(pt, "device")] = pt
	}
	g := pointFields(polls["good"])
	if g["reachable"] != true || g["error"] != "" {
		t.Fatalf("good target affected: %v", g)
	}
	// The good target finished long before the dead one's 2 s timeout.
	if d := g["duration_s"].(float64); d > 1.5 {
		t.Fatalf("good target took %.2fs: delayed by others", d)
	}
	for name, want := range map[string]string{
		"bad-community": "wrong community",
		"bad-v3-auth":   "",
		"bad-v3-user":   "",
		"dead":          "no response",
	} {
		f := pointFields(polls[name])
		msg, _ := f["error"].(string)
		if f["reachable"] != false || !strings.Contains(msg, name) || !strings.Contains(msg, want) {
			t.Errorf("%s: reachable=%v error=%q", name, f["reachable"], msg)
		}
		t.Logf("%s: %s", name, msg)
	}
	if msg := pointFields(polls["bad-v3-user"])["error"].(string); !strings.Contains(strings.ToLower(msg), "user") {
		t.Errorf("unknown v3 user not named as the reason: %q", msg)
	}
	if msg := pointFields(polls["bad-v3-auth"])["error"].(string); !strings.Contains(strings.ToLower(msg), "auth") {
		t.Errorf("wrong v3 password not named as the reason: %q", msg)
	}
}

// A device that stays silent is asked without retries from its second
// failed poll on, so it holds its concurrency slot for one timeout only.
func TestDeadDeviceNoRetriesAfterFirstFailure(t *testing.T) {
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	retries := 2
	p := newPoller(t, Config{Targets: []Target{{Name: "dead", Address: "127.0.0.1", Port: hole.LocalAddr().(*net.UDPAddr).Port, Timeout: 100 * time.Millisecond, Retries: &retries}}})
	first := pointFields(byMeas(pollOnce(t, p, 0), "snmp_poll")[0])
	second := pointFields(byMeas(pollOnce(t, p, 0), "snmp_poll")[0])
	if first["reachable"] != false || first["requests"] != int64(3) || second["requests"] != int64(1) {
		t.Fatalf("packets sent: first poll %v (want 3), second %v (want 1)", first["requests"], second["requests"])
	}
}

// Every auth and privacy protocol family against the real snmpd.
func TestSnmpdV3ProtocolMatrix(t *testing.T) {
	port := startSnmpd(t)
	cases := []usm.User{
		{Name: "umd5des", AuthProtocol: "MD5", AuthPassword: "authpass123", PrivProtocol: "DES", PrivPassword: "privpass123"},
		{Name: "usha224", AuthProtocol: "SHA-224", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"},
		{Name: "usha384", AuthProtocol: "SHA-384", AuthPassword: "authpass123", PrivProtocol: "AES-192", PrivPassword: "privpass123"},
		{Name: "usha512", AuthProtocol: "SHA-512", AuthPassword: "authpass123", PrivProtocol: "AES-256", PrivPassword: "privpass123"},
		{Name: "usha256auth", AuthProtocol: "SHA-256", AuthPassword: "authpass123"}, // authNoPriv
		{Name: "unoauth"}, // noAuthNoPriv
	}
	retries := 0
	var targets []Target
	for _, u := range cases {
		targets = append(targets, Target{Name: u.Name, Address: "127.0.0.1", Port: port, Class: "server", Profiles: []string{"system"},
			Credentials: Credentials{Version: "3", User: u}, Timeout: time.Second, Retries: &retries})
	}
	p := newPoller(t, Config{Targets: targets})
	c := &collect{}
	p.PollAll(context.Background(), c)
	for _, pt := range byMeas(c.all(), "snmp_poll") {
		if f := pointFields(pt); f["reachable"] != true || f["error"] != "" {
			t.Errorf("%s: %v", tagOf(pt, "device"), f)
		}
	}
	if n := len(byMeas(c.all(), "snmp_system")); n != len(cases) {
		t.Fatalf("want %d system points, got %d", len(cases), n)
	}
}
