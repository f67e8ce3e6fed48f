package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startSnmpdForCLI runs a real net-snmp agent on a free loopback port.
func startSnmpdForCLI(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("snmpd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/snmpd"); err != nil {
			if os.Getenv("SCHULMON_QUICK") == "1" {
				t.Skip("snmpd not installed (SCHULMON_QUICK=1)")
			}
			t.Fatal("snmpd not found: install net-snmp with `make deps` (Debian package snmpd)")
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(conf, []byte("rocommunity schule 127.0.0.1\nsysName cli-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	cmd := exec.Command(bin, "-f", "-Lo", "-C", "-c", conf, "-p", filepath.Join(dir, "pid"), fmt.Sprintf("udp:127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "MIBS=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return port
}

func runCLI(args ...string) (string, error) {
	root := newSNMPCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestSNMPPollCommand(t *testing.T) {
	port := startSnmpdForCLI(t)
	addr := fmt.Sprintf("udp://127.0.0.1:%d", port)
	var out string
	var err error
	for i := 0; i < 50; i++ { // snmpd needs a moment to bind
		out, err = runCLI("poll", addr, "--community", "schule", "--profile", "system", "--timeout", "200ms", "--retries", "0")
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("poll: %v\n%s", err, out)
	}
	if !strings.Contains(out, "snmp_system,class=server,device=cli-test ") || !strings.Contains(out, "reachable=t") {
		t.Fatalf("output:\n%s", out)
	}
	if strings.Contains(out, "snmp_if,") {
		t.Fatal("--profile system must not poll interfaces")
	}
	out, err = runCLI("poll", addr, "--community", "falsch", "--timeout", "200ms", "--retries", "0")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) || !strings.Contains(err.Error(), "no response") {
		t.Fatalf("wrong community: err=%v\n%s", err, out)
	}
	if !strings.Contains(out, "reachable=f") {
		t.Fatalf("wrong community: the snmp_poll line must still be printed:\n%s", out)
	}
	if _, err := runCLI("poll", addr, "--user", "u", "--auth-proto", "SHA-3", "--auth-pass", "12345678"); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("bad auth protocol must list the valid ones: %v", err)
	}
	out, err = runCLI("sample-config")
	if err != nil || !strings.Contains(out, "snmp:") || !strings.Contains(out, "max_concurrency") {
		t.Fatalf("sample-config: %v\n%s", err, out)
	}
}
