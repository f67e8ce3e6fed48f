package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/plugins/sdk"
)

// unprivilegedAllowed reports whether Linux lets this process open
// unprivileged ICMP sockets (its group is inside ping_group_range).
func unprivilegedAllowed(t *testing.T) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Skipf("no ping_group_range (%v); this test is about Linux", err)
	}
	f := strings.Fields(string(b))
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	gid := os.Getgid()
	return gid >= lo && gid <= hi
}

func collect(t *testing.T, cfg string) *sdk.Result {
	t.Helper()
	c := &pingCheck{}
	if err := c.Configure(context.Background(), "t", []byte(cfg)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func field(r *sdk.Result, key string) any {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value.Any()
		}
	}
	return nil
}

// TestUnprivilegedOrDocumentedFallback pings 127.0.0.1 with unprivileged
// sockets only. Where the kernel allows it the ping succeeds; where it
// does not, the check says so (status unknown) and how to allow it. The
// test does not change the machine's sysctl.
func TestUnprivilegedOrDocumentedFallback(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ping_group_range is Linux")
	}
	allowed := unprivilegedAllowed(t)
	res := collect(t, `{"host":"127.0.0.1","count":2,"interval":"20ms","mode":"unprivileged"}`)
	if allowed {
		if res.Status != sdk.StatusOK || field(res, "packets_received") != int64(2) || field(res, "privileged") != false {
			t.Errorf("unprivileged ping allowed but: %v %q %+v", res.Status, res.Message, res.Fields)
		}
		return
	}
	if res.Status != sdk.StatusUnknown || !strings.Contains(res.Message, "unprivileged ICMP socket") ||
		!strings.Contains(res.Message, "net.ipv4.ping_group_range") || !strings.Contains(res.Message, "setcap cap_net_raw+ep") {
		t.Errorf("unprivileged ping not allowed: want status unknown with instructions, got %v %q", res.Status, res.Message)
	}
}

// TestAutoFallsBackToRaw: in auto mode a process that may open raw sockets
// (root) pings even when unprivileged ICMP is not allowed.
func TestAutoFallsBackToRaw(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux")
	}
	allowed := unprivilegedAllowed(t)
	if !allowed && os.Geteuid() != 0 {
		t.Skip("neither unprivileged ICMP nor root: covered by TestUnprivilegedOrDocumentedFallback")
	}
	res := collect(t, `{"host":"127.0.0.1","count":3,"interval":"20ms"}`)
	if res.Status != sdk.StatusOK || field(res, "packets_sent") != int64(3) || field(res, "loss_pct") != 0.0 {
		t.Fatalf("auto: %v %q %+v", res.Status, res.Message, res.Fields)
	}
	if want := !allowed; field(res, "privileged") != want {
		t.Errorf("privileged field %v, want %v (unprivileged allowed: %v)", field(res, "privileged"), want, allowed)
	}
	if rtt, _ := field(res, "rtt_max_s").(float64); rtt <= 0 || rtt > 1 {
		t.Errorf("rtt_max_s %v", field(res, "rtt_max_s"))
	}
}

func TestPingConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{}`:                            "host missing",
		`{"host":"x","mode":"raw"}`:     `mode "raw": want auto, unprivileged or privileged`,
		`{"host":"x","count":1000}`:     "count 1000: want 1..100",
		`{"host":"x","cout":3}`:         `unknown field "cout"`,
		`{"host":"x","interval":"1ms"}`: "interval 1ms: want at least 10ms",
	} {
		err := (&pingCheck{}).Configure(context.Background(), "t", []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", cfg, err, want)
		}
	}
}
