package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Snmpd is a real net-snmp agent on a loopback UDP port.
type Snmpd struct {
	Port int
	Conf string // the snmpd.conf it runs with
	dir  string
	bin  string
	cmd  *exec.Cmd
	done chan struct{}
	out  *strings.Builder
	t    testing.TB
}

// Addr is "127.0.0.1:PORT".
func (s *Snmpd) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// StartSnmpd runs net-snmp's snmpd on a free loopback UDP port with conf
// as its configuration (communities, v3 users, sysName …; not the
// address) and waits until it answers. It is stopped when the test ends.
func StartSnmpd(t testing.TB, conf string) *Snmpd {
	t.Helper()
	s := &Snmpd{bin: NeedProgram(t, "snmpd"), dir: t.TempDir(), t: t}
	s.Conf = filepath.Join(s.dir, "snmpd.conf")
	if err := os.WriteFile(s.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for attempt := 0; attempt < 5; attempt++ {
		s.Port = freeUDPPort(t)
		if s.start() {
			return s
		}
	}
	t.Fatalf("snmpd did not start:\n%s", s.out)
	return nil
}

// Restart starts snmpd again on the same port after Stop.
func (s *Snmpd) Restart() {
	s.t.Helper()
	if !s.start() {
		s.t.Fatalf("snmpd did not start again on port %d:\n%s", s.Port, s.out)
	}
}

func (s *Snmpd) start() bool {
	s.cmd = exec.Command(s.bin, "-f", "-Lo", "-C", "-c", s.Conf, "-p", filepath.Join(s.dir, "snmpd.pid"), fmt.Sprintf("udp:127.0.0.1:%d", s.Port))
	// No MIB files are installed: keep net-snmp from looking for them.
	s.cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+s.dir, "MIBS=", "MIBDIRS=/nonexistent")
	s.out = &strings.Builder{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start snmpd: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return false // port taken or bad config; the caller says so
		default:
		}
		if snmpdAnswers(s.Port) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return false
}

// Stop kills snmpd and waits until it has exited.
func (s *Snmpd) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// snmpdAnswers reports whether an SNMP agent answers on port. It sends
// an SNMPv3 engine-ID discovery request, which net-snmp answers with a
// Report whatever communities and users it has (a wrong community gets
// no answer at all).
func snmpdAnswers(port int) bool {
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	defer c.Close()
	_, _ = c.Write(v3DiscoveryPacket)
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	return err == nil && n > 0
}

// v3DiscoveryPacket is an SNMPv3 GetRequest with the reportable flag,
// USM with empty engine ID and user, and no varbinds (RFC 3414 4.).
var v3DiscoveryPacket = ber(0x30,
	ber(0x02, []byte{3}), // msgVersion
	ber(0x30, // msgGlobalData
		ber(0x02, []byte{0x01}),       // msgID
		ber(0x02, []byte{0x05, 0xdc}), // msgMaxSize 1500
		ber(0x04, []byte{0x04}),       // msgFlags: reportable
		ber(0x02, []byte{3})),         // msgSecurityModel: USM
	ber(0x04, ber(0x30, // msgSecurityParameters
		ber(0x04, nil), ber(0x02, []byte{0}), ber(0x02, []byte{0}),
		ber(0x04, nil), ber(0x04, nil), ber(0x04, nil))),
	ber(0x30, // scopedPDU
		ber(0x04, nil), ber(0x04, nil),
		ber(0xa0, // GetRequest
			ber(0x02, []byte{0x01}), ber(0x02, []byte{0}), ber(0x02, []byte{0}),
			ber(0x30, nil))))

// ber encodes one BER element with short-form length (all < 128 here).
func ber(tag byte, content ...[]byte) []byte {
	var body []byte
	for _, c := range content {
		body = append(body, c...)
	}
	return append([]byte{tag, byte(len(body))}, body...)
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
