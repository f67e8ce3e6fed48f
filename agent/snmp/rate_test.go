package snmp

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/schulmon/schulmon/agent/snmp/internal/snmpsim"
)

func TestCounterDelta(t *testing.T) {
	cases := []struct {
		name      string
		prev, cur uint64
		bits      int
		max       float64
		want      uint64
		ok        bool
	}{
		{"normal", 100, 250, 64, 0, 150, true},
		{"32-bit wrap", 1<<32 - 100, 50, 32, 0, 150, true},
		{"32-bit wrap implausible for speed", 1<<32 - 100, 4_000_000_000, 32, 1e6, 0, false},
		{"64-bit decrease is a reset", 5_000_000, 10, 64, 0, 0, false},
		{"jump beyond line rate is a reset", 0, 1e12, 64, 1e9, 0, false},
		{"unchanged", 7, 7, 32, 0, 0, true},
	}
	for _, c := range cases {
		got, ok := counterDelta(c.prev, c.cur, c.bits, c.max)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d,%v want %d,%v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestIfRatesWrapAndDiscontinuity(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	prev := ifCounters{t: t0, in: 1<<32 - 1_000_000, out: 0, bits: 32, valid: true}
	cur := ifCounters{t: t0.Add(10 * time.Second), in: 24_000_000, out: 1_250_000, bits: 32, valid: true}
	in, out, ok := ifRates(prev, cur, 1e9)
	// 25,000,000 bytes in 10 s = 20 Mbit/s across the wrap.
	if !ok || in != 20e6 || out != 1e6 {
		t.Fatalf("wrap: %v %v %v", in, out, ok)
	}
	cur.discontinuity = 12345
	if _, _, ok := ifRates(prev, cur, 1e9); ok {
		t.Fatal("a changed ifCounterDiscontinuityTime must suppress the rate")
	}
	if _, _, ok := ifRates(ifCounters{}, cur, 0); ok {
		t.Fatal("no rate without a previous sample")
	}
}

func TestUptimeReboot(t *testing.T) {
	min := time.Minute
	cases := []struct {
		name      string
		prev, cur uint64
		elapsed   time.Duration
		want      bool
	}{
		{"normal", 100_000, 106_000, min, false},
		{"went back", 500_000, 3_000, min, true},
		{"timeticks wrap after 497 days", 1<<32 - 2000, 4000, min, false},
		{"rebooted during a long gap and already up longer", 10_000, 30_000, 30 * min, true},
		{"long gap, no reboot", 10_000, 10_000 + 180_000, 30 * min, false},
	}
	for _, c := range cases {
		if got := uptimeReboot(c.prev, c.cur, c.elapsed); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

// setCounter returns a copy of pdus with one value replaced.
func setValue(pdus []gosnmp.SnmpPDU, oid string, v any) []gosnmp.SnmpPDU {
	out := append([]gosnmp.SnmpPDU{}, pdus...)
	for i := range out {
		if normOID(out[i].Name) == oid {
			out[i].Value = v
		}
	}
	return out
}

// Two polls through the real poller: rates appear on the second poll,
// and disappear (instead of spiking) when the device reboots between
// polls and its counters start again from zero.
func TestPollerRatesAndReboot(t *testing.T) {
	base, err := snmpsim.ParseWalkFile("testdata/aruba-2930f.walk")
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[snmpsim.Device]
	set := func(pdus []gosnmp.SnmpPDU) {
		d, err := snmpsim.NewDevice(pdus)
		if err != nil {
			t.Fatal(err)
		}
		cur.Store(d)
	}
	set(base)
	srv := &snmpsim.Server{Lookup: func(c string) *snmpsim.Device {
		if c == "sw" {
			return cur.Load()
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); srv.Close() }()
	if err := srv.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	p := newPoller(t, Config{Targets: []Target{simTarget(srv, "sw")}})
	st := p.targets[0]
	first := pollOnce(t, p, 0)
	up0, _ := find(first, "snmp_if", "ifName", "25")
	in0 := pointFields(up0)["ifHCInOctets"].(uint64)
	uptime0 := pointFields(byMeas(first, "snmp_system")[0])["sysUpTime"].(uint64)

	// Pretend the first poll was 10 s ago; the uplink received 125 MB since.
	st.lastPoll = st.lastPoll.Add(-10 * time.Second)
	for k, c := range st.ifs {
		c.t = c.t.Add(-10 * time.Second)
		st.ifs[k] = c
	}
	next := setValue(base, ifHCInOctets+".25", in0+125_000_000)
	next = setValue(next, oidSysUpTime, uint32(uptime0+1000))
	next = setValue(next, ifLastChange+".7", uint32(uptime0+500)) // port 7 flapped in between
	set(next)
	second := pollOnce(t, p, 0)
	p7, _ := find(second, "snmp_if", "ifName", "7")
	if f := pointFields(p7); f["status_changed"] != int64(1) || f["last_change_s"] != 5.0 {
		t.Fatalf("flapped port 7: %v", f)
	}
	up1, _ := find(second, "snmp_if", "ifName", "25")
	f := pointFields(up1)
	bps, ok := f["in_bps"].(float64)
	if !ok || bps < 95e6 || bps > 101e6 {
		t.Fatalf("uplink in_bps = %v, want about 100 Mbit/s", f["in_bps"])
	}
	if u := f["in_util_pct"].(float64); u < 0.9 || u > 1.02 {
		t.Fatalf("utilisation of 10 Gbit/s uplink = %v %%, want about 1", u)
	}
	if pointFields(up1)["status_changed"] != int64(0) {
		t.Fatalf("uplink did not change: %v", pointFields(up1))
	}
	if pointFields(byMeas(second, "snmp_poll")[0])["rebooted"] != false {
		t.Fatal("no reboot happened")
	}

	// Reboot: uptime back to 5 s, counters restarted low.
	reb := setValue(base, ifHCInOctets+".25", uint64(1000))
	reb = setValue(reb, oidSysUpTime, uint32(500))
	set(reb)
	third := pollOnce(t, p, 0)
	if pointFields(byMeas(third, "snmp_poll")[0])["rebooted"] != true {
		t.Fatal("reboot not detected from sysUpTime going back")
	}
	up2, _ := find(third, "snmp_if", "ifName", "25")
	if _, has := pointFields(up2)["in_bps"]; has {
		t.Fatal("a rate across a reboot must not be reported")
	}
}

// A device without 64-bit counters: the poller falls back to the 32-bit
// ones, stops asking for the 64-bit columns, and computes the rate across
// a 32-bit wrap.
func TestPoller32BitFallbackAndWrap(t *testing.T) {
	all, err := snmpsim.ParseWalkFile("testdata/aruba-2930f.walk")
	if err != nil {
		t.Fatal(err)
	}
	var base []gosnmp.SnmpPDU
	for _, v := range all {
		n := normOID(v.Name)
		hc := false
		for _, c := range ifHCCols {
			hc = hc || strings.HasPrefix(n, c+".")
		}
		if !hc {
			base = append(base, v)
		}
	}
	var cur atomic.Pointer[snmpsim.Device]
	set := func(pdus []gosnmp.SnmpPDU) {
		d, err := snmpsim.NewDevice(pdus)
		if err != nil {
			t.Fatal(err)
		}
		cur.Store(d)
	}
	set(setValue(base, ifInOctets+".25", uint(1<<32-50_000_000)))
	srv := &snmpsim.Server{Lookup: func(string) *snmpsim.Device { return cur.Load() }}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); srv.Close() }()
	if err := srv.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	tg := simTarget(srv, "old-switch")
	tg.Profiles = []string{"interfaces"}
	p := newPoller(t, Config{Targets: []Target{tg}})
	first := pollOnce(t, p, 0)
	up, _ := find(first, "snmp_if", "ifName", "25")
	if f := pointFields(up); f["counter_bits"] != int64(32) || f["ifSpeed"] == nil {
		t.Fatalf("32-bit fallback: %v", f)
	}
	if p.targets[0].hc != -1 {
		t.Fatalf("hc = %d, want -1 after a poll without 64-bit counters", p.targets[0].hc)
	}
	req1 := pointFields(byMeas(first, "snmp_poll")[0])["requests"].(int64)

	st := p.targets[0]
	st.lastPoll = st.lastPoll.Add(-10 * time.Second)
	for k, c := range st.ifs {
		c.t = c.t.Add(-10 * time.Second)
		st.ifs[k] = c
	}
	next := setValue(base, ifInOctets+".25", uint(75_000_000)) // wrapped: +125 MB
	next = setValue(next, oidSysUpTime, uint32(123456789+1000))
	set(next)
	second := pollOnce(t, p, 0)
	up, _ = find(second, "snmp_if", "ifName", "25")
	f := pointFields(up)
	if bps, ok := f["in_bps"].(float64); !ok || bps < 95e6 || bps > 101e6 {
		t.Fatalf("rate across a 32-bit wrap: %v", f["in_bps"])
	}
	if req2 := pointFields(byMeas(second, "snmp_poll")[0])["requests"].(int64); req2 >= req1 {
		t.Fatalf("second poll must not ask for 64-bit columns again: %d requests, first %d", req2, req1)
	}
}

func TestRepetitions(t *testing.T) {
	for _, c := range []struct{ budget, n, max, want int }{
		{60, 20, 25, 3}, {60, 21, 25, 3}, {60, 23, 25, 2}, {60, 50, 25, 1}, {60, 80, 25, 1}, {60, 1, 25, 25}, {60, 2, 25, 25},
	} {
		if got := repetitions(c.budget, c.n, c.max); got != c.want {
			t.Errorf("repetitions(%d, %d, %d) = %d, want %d", c.budget, c.n, c.max, got, c.want)
		}
	}
}
