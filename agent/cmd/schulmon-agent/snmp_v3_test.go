package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// TestSNMPPollCommandV3 runs the real schulmon-agent binary's `snmp poll`
// with the SNMPv3 flags against a real snmpd: authPriv and authNoPriv
// users answer, a wrong passphrase fails with exit status 1 and a reason
// naming the user and what to check.
func TestSNMPPollCommandV3(t *testing.T) {
	snmpd := testenv.StartSnmpd(t, `createUser monitor SHA-256 "authpass123" AES "privpass123"
rouser monitor priv
createUser authonly SHA "authpass123"
rouser authonly auth
sysName cli-v3
`)
	bin := filepath.Join(testenv.Binaries(t), "schulmon-agent")
	poll := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args = append([]string{"snmp", "poll", "udp://" + snmpd.Addr(), "--profile", "system", "--timeout", "500ms", "--retries", "0"}, args...)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return string(out), err
	}
	out, err := poll("--user", "monitor", "--auth-proto", "SHA-256", "--auth-pass", "authpass123", "--priv-proto", "AES", "--priv-pass", "privpass123")
	if err != nil || !strings.Contains(out, "snmp_system,class=server,device=cli-v3 ") || !strings.Contains(out, "reachable=t") {
		t.Fatalf("authPriv SHA-256/AES: %v\n%s", err, out)
	}
	out, err = poll("--user", "authonly", "--auth-proto", "SHA", "--auth-pass", "authpass123")
	if err != nil || !strings.Contains(out, "device=cli-v3 ") || !strings.Contains(out, "reachable=t") {
		t.Fatalf("authNoPriv SHA: %v\n%s", err, out)
	}
	out, err = poll("--user", "monitor", "--auth-proto", "SHA-256", "--auth-pass", "wrongpass123", "--priv-proto", "AES", "--priv-pass", "privpass123")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "reachable=f") ||
		!strings.Contains(out, `"monitor"`) || !strings.Contains(strings.ToLower(out), "auth") || !strings.Contains(out, snmpd.Addr()) {
		t.Fatalf("wrong auth passphrase: want exit 1, a reachable=f line and a reason naming user, target and auth; got %v\n%s", err, out)
	}
	// The user's level is authPriv only: asking without privacy is refused.
	out, err = poll("--user", "monitor", "--auth-proto", "SHA-256", "--auth-pass", "authpass123")
	if err == nil || !strings.Contains(out, "reachable=f") {
		t.Fatalf("authNoPriv for an authPriv-only user must fail: %v\n%s", err, out)
	}
	t.Logf("authNoPriv for an authPriv user: %s", lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
