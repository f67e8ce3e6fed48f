package availability

import (
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/metric"
)

func TestBatchSignals(t *testing.T) {
	ts := t0
	pt := func(meas string, tags map[string]string, fields map[string]metric.Value) metric.Point {
		return metric.NewPoint(meas, tags, fields, ts)
	}
	b := &ingest.Batch{MunicipalityID: 1, SiteID: 7, Municipality: "Moers", Site: "GS Am Park",
		Devices: []ingest.DeviceSeen{
			{DeviceID: 1, Device: "srv1", Class: "server", First: ts.Add(-time.Minute), Last: ts, Points: 40, Self: true, Beats: []time.Time{ts.Add(-time.Minute), ts}},
			// sw1's poller also wrote its interface table: 30 rows about it.
			{DeviceID: 2, Device: "sw1", Class: "switch", First: ts, Last: ts, Points: 32},
			{DeviceID: 3, Device: "router", Class: "router", First: ts, Last: ts, Points: 1},
		},
		Signals: []metric.Point{
			pt("schulmon_agent", map[string]string{"device": "srv1", "class": "server"}, map[string]metric.Value{"version": metric.String("1")}),
			pt("snmp_poll", map[string]string{"device": "sw1", "class": "switch"}, map[string]metric.Value{"reachable": metric.Bool(true), "sys_uptime_s": metric.Float(12), "rebooted": metric.Bool(true)}),
			pt("snmp_trap", map[string]string{"device": "sw1", "class": "switch", "trap": "coldStart"}, map[string]metric.Value{}),
			pt("snmp_poll", map[string]string{"device": "router", "class": "router"}, map[string]metric.Value{"reachable": metric.Bool(false), "error": metric.String("timeout")}),
			pt("check", map[string]string{"device": "srv1", "class": "server", "check": "http_moodle"}, map[string]metric.Value{"status": metric.Int(2)}),
			pt("check", map[string]string{"device": "srv1", "class": "server", "check": "disk"}, map[string]metric.Value{"status": metric.Int(1)}),
			pt("check", map[string]string{"device": "srv1", "class": "server", "check": "dns"}, map[string]metric.Value{"status": metric.Int(3)}),
		},
	}
	sigs := BatchSignals(b)
	type sig struct {
		dev, check string
		kind       SignalKind
		ok, reboot bool
	}
	var got []sig
	for _, s := range sigs {
		if s.Object.SiteID != 7 || s.Object.Site != "GS Am Park" || s.Object.Municipality != "Moers" {
			t.Fatalf("tenancy not stamped: %+v", s.Object)
		}
		got = append(got, sig{s.Object.Device, s.Object.Check, s.Kind, s.OK, s.Rebooted})
	}
	want := []sig{
		// schulmon_agent is no signal of its own: it is one of srv1's beats
		{"sw1", "", SignalPoll, true, true},
		{"sw1", "", SignalTrap, true, true},
		{"router", "", SignalPoll, false, false},
		{"srv1", "http_moodle", SignalCheck, false, false},
		{"srv1", "disk", SignalCheck, true, false}, // warning: the service works
		// dns status 3 (unknown) is no evidence
		{"srv1", "", SignalHeartbeat, true, false}, // srv1's beats
		{"srv1", "", SignalHeartbeat, true, false},
		// sw1 and router only had points written about them by the agent:
		// no heartbeat, however many
	}
	if len(got) != len(want) {
		t.Fatalf("signals %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("signal %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !sigs[0].HasUptime || sigs[0].Uptime != 12 {
		t.Fatalf("uptime not passed: %+v", sigs[0])
	}
	if !sigs[5].Time.Equal(ts.Add(-time.Minute)) || !sigs[6].Time.Equal(ts) {
		t.Fatalf("beats at %v and %v, want the data times", sigs[5].Time, sigs[6].Time)
	}
}
