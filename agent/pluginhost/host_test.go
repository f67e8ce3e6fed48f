package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testservers"
	"github.com/schulmon/schulmon/metric"
)

// TestHostRunsBundledAndMisbehavingPlugins runs the bundled plugins against
// local targets together with plugins that panic, hang, fail their
// checksum or their handshake, in one host: each failure is reported with
// the plugin's name and reason, and the good plugins keep reporting.
func TestHostRunsBundledAndMisbehavingPlugins(t *testing.T) {
	dir := buildPlugins(t)
	web, caFile := testservers.TLS(t, 10*24*time.Hour, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<title>Moodle Lernplattform</title>")
	}))
	tcpAddr := testservers.TCP(t)
	dnsAddr := testservers.DNS(t)
	backup := filepath.Join(t.TempDir(), "schule.tar.zst")
	if err := os.WriteFile(backup, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(backup, time.Now(), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}

	inst := func(name, plugin string, cfg map[string]any) Instance {
		return Instance{Name: name, Plugin: plugin, Interval: time.Second, Timeout: 800 * time.Millisecond, Config: cfg}
	}
	web1 := inst("lernplattform", "http", map[string]any{"url": web.URL + "/login", "contains": "Moodle", "ca_file": caFile})
	web1.Device, web1.Class = "moodle", "server"
	zeros := strings.Repeat("00", 32)
	pinned := inst("tcp-wrongsum", "tcp", map[string]any{"address": tcpAddr})
	pinned.SHA256 = zeros
	tcpSum := sha256File(t, filepath.Join(dir, ExecPrefix+"tcp"))
	pinnedOK := inst("tcp-pinned", "tcp", map[string]any{"address": tcpAddr})
	pinnedOK.SHA256 = tcpSum
	cfg := Config{
		Dir:               dir,
		RestartBackoff:    200 * time.Millisecond,
		RestartBackoffMax: time.Second,
		Instances: []Instance{
			web1,
			inst("web-missing-text", "http", map[string]any{"url": web.URL, "contains": "Nextcloud", "insecure_skip_verify": true}),
			inst("smb-port", "tcp", map[string]any{"address": tcpAddr}),
			inst("closed-port", "tcp", map[string]any{"address": testservers.ClosedPort(t)}),
			inst("resolver", "dns", map[string]any{"server": dnsAddr, "name": "moodle.schule.test", "expect": []string{"10.1.20.5"}}),
			inst("resolver-wrong", "dns", map[string]any{"server": dnsAddr, "name": "moodle.schule.test", "expect": []string{"10.9.9.9"}}),
			inst("loopback-ping", "ping", map[string]any{"host": "127.0.0.1", "count": 2, "interval": "50ms"}),
			inst("backup-fresh", "backupage", map[string]any{"path": backup, "max_age": "26h"}),
			inst("backup-stale", "backupage", map[string]any{"path": backup, "max_age": "1h"}),
			inst("panicky", "panic", nil),
			inst("stuck", "hang", nil),
			pinned,
			pinnedOK,
			inst("old", "oldproto", nil),
			inst("newer", "newerproto", nil),
			inst("script", "notaplugin", nil),
			inst("absent", "nosuchplugin", nil),
			inst("badconfig", "tcp", map[string]any{"adress": tcpAddr}),
		},
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(cfg, Options{Logger: logger, Device: "schulserver"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, rec) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	// latest returns the newest check point of an instance once it
	// satisfies cond.
	latest := func(check string, cond func(metric.Point) bool) metric.Point {
		t.Helper()
		var last metric.Point
		waitFor(t, "check "+check, 20*time.Second, func() bool {
			ps := rec.find(MeasurementCheck, check)
			for i := len(ps) - 1; i >= 0; i-- {
				if cond(ps[i]) {
					last = ps[i]
					return true
				}
			}
			return false
		})
		return last
	}
	status := func(p metric.Point) int64 { v, _ := p.Field("status"); return v.IntValue() }
	// A good plugin's first start may fail on a loaded machine; judge its
	// first result from a running plugin.
	any := func(p metric.Point) bool { return status(p) != 3 }
	msg := func(p metric.Point) string { v, _ := p.Field("message"); return v.StringValue() }

	// Misbehaving plugins: each a clear error naming plugin and reason.
	failures := map[string][]string{
		"panicky":      {`plugin "panic" (check "panicky")`, "crashed during collect: panic: boom in collect"},
		"stuck":        {`plugin "hang" (check "stuck")`, "hung: collect did not answer within the timeout of 800ms; killed"},
		"tcp-wrongsum": {`plugin "tcp" (check "tcp-wrongsum")`, "checksum mismatch", "has sha256 " + tcpSum, "pins " + zeros},
		"old":          {`plugin "oldproto" (check "old")`, "handshake failed", "Plugin version: 99", "this agent speaks version 1"},
		"script":       {`plugin "notaplugin" (check "script")`, "handshake failed", "did not answer as a schulmon check plugin"},
		"absent":       {`plugin "nosuchplugin" (check "absent")`, "no executable schulmon-plugin-nosuchplugin in " + dir, "installed plugins: backupage, dns, hang, http, newerproto"},
		"badconfig":    {`plugin "tcp" (check "badconfig")`, "configure: config: json: unknown field \"adress\""},
	}
	for check, wants := range failures {
		p := latest(check, func(p metric.Point) bool { return status(p) == 3 })
		for _, w := range wants {
			if !strings.Contains(msg(p), w) {
				t.Errorf("check %s: message %q does not contain %q", check, msg(p), w)
			}
		}
		if len(logs.lines("plugin failed", "check="+check)) == 0 {
			t.Errorf("check %s: no 'plugin failed' line in the agent log", check)
		}
	}

	// Good plugins.
	p := latest("lernplattform", any)
	if status(p) != 1 || !strings.Contains(msg(p), "certificate expires in 10 days") {
		t.Errorf("lernplattform: status %d %q, want warning about the certificate expiring in 10 days", status(p), msg(p))
	}
	if d, _ := field(p, "cert_days_left").(float64); d < 9.9 || d > 10.01 {
		t.Errorf("lernplattform: cert_days_left %v, want ~10", field(p, "cert_days_left"))
	}
	if field(p, "http_status_code") != int64(200) || field(p, "content_match") != true {
		t.Errorf("lernplattform: fields %+v", p.Fields)
	}
	if d, _ := p.Tag("device"); d != "moodle" {
		t.Errorf("lernplattform: device tag %q, want the configured device moodle", d)
	}
	if c, _ := p.Tag("class"); c != "server" {
		t.Errorf("lernplattform: class tag %q", c)
	}
	if pl, _ := p.Tag("plugin"); pl != "http" {
		t.Errorf("lernplattform: plugin tag %q", pl)
	}
	if ds, _ := field(p, "duration_s").(float64); ds <= 0 {
		t.Errorf("lernplattform: duration_s %v, want > 0", field(p, "duration_s"))
	}

	p = latest("web-missing-text", any)
	if status(p) != 2 || !strings.Contains(msg(p), `body does not contain "Nextcloud"`) || field(p, "content_match") != false {
		t.Errorf("web-missing-text: status %d %q", status(p), msg(p))
	}

	for _, check := range []string{"smb-port", "tcp-pinned"} {
		p = latest(check, any)
		if status(p) != 0 || field(p, "port_open") != true {
			t.Errorf("%s: status %d %q fields %+v", check, status(p), msg(p), p.Fields)
		}
		if d, _ := p.Tag("device"); d != "schulserver" {
			t.Errorf("%s: device tag %q, want the agent's host", check, d)
		}
		if ct, _ := field(p, "connect_time_s").(float64); ct <= 0 {
			t.Errorf("%s: connect_time_s %v", check, field(p, "connect_time_s"))
		}
	}
	p = latest("closed-port", any)
	if status(p) != 2 || field(p, "port_open") != false || !strings.Contains(msg(p), "refused") {
		t.Errorf("closed-port: status %d %q", status(p), msg(p))
	}

	p = latest("resolver", any)
	if status(p) != 0 || field(p, "answer_match") != true || field(p, "rcode") != "NOERROR" || !strings.Contains(msg(p), "10.1.20.5") {
		t.Errorf("resolver: status %d %q fields %+v", status(p), msg(p), p.Fields)
	}
	p = latest("resolver-wrong", any)
	if status(p) != 2 || field(p, "answer_match") != false || !strings.Contains(msg(p), `expected answer "10.9.9.9" missing`) {
		t.Errorf("resolver-wrong: status %d %q", status(p), msg(p))
	}

	p = latest("loopback-ping", func(p metric.Point) bool { return any(p) || strings.Contains(msg(p), "cannot ping") })
	switch {
	case status(p) == 0:
		if field(p, "packets_received") != int64(2) || field(p, "loss_pct") != 0.0 {
			t.Errorf("loopback-ping: fields %+v", p.Fields)
		}
		if rtt, _ := field(p, "rtt_avg_s").(float64); rtt <= 0 {
			t.Errorf("loopback-ping: rtt_avg_s %v", field(p, "rtt_avg_s"))
		}
	case os.Geteuid() == 0:
		// root may always open raw sockets: the fallback must have worked.
		t.Errorf("loopback-ping as root: status %d %q", status(p), msg(p))
	default:
		// Neither unprivileged ICMP (ping_group_range) nor raw sockets:
		// the documented fallback is status unknown with instructions.
		if status(p) != 3 || !strings.Contains(msg(p), "net.ipv4.ping_group_range") {
			t.Errorf("loopback-ping without ICMP permission: status %d %q", status(p), msg(p))
		}
	}

	// Protocol negotiation: a plugin that also speaks version 2 is talked
	// to in version 1.
	if p = latest("newer", any); status(p) != 0 || msg(p) != "spoke an older protocol for an older agent" {
		t.Errorf("newer: status %d %q", status(p), msg(p))
	}
	if len(logs.lines("plugin started", "check=newer", "version=2.0.0", "protocol=1")) == 0 {
		t.Errorf("no 'plugin started … protocol=1' line for the newer plugin")
	}

	// The README's third-party plugin.
	p = latest("backup-fresh", any)
	if age, _ := field(p, "age_s").(float64); status(p) != 0 || age < 7100 || age > 7300 || !strings.Contains(msg(p), "backup is 2h0m0s old") {
		t.Errorf("backup-fresh: status %d %q %+v", status(p), msg(p), p.Fields)
	}
	if p = latest("backup-stale", any); status(p) != 2 {
		t.Errorf("backup-stale: status %d %q", status(p), msg(p))
	}

	// Isolation over time: after the misbehaving plugins have failed and
	// been restarted, the good ones are still producing fresh results.
	waitFor(t, "panicky and stuck restarted", 20*time.Second, func() bool {
		return restarts(rec, "panicky") >= 2 && restarts(rec, "stuck") >= 1
	})
	n := len(rec.find(MeasurementCheck, "smb-port"))
	waitFor(t, "smb-port reporting on", 10*time.Second, func() bool { return len(rec.find(MeasurementCheck, "smb-port")) >= n+2 })
	p = latest("smb-port", any)
	if status(p) != 0 {
		t.Errorf("smb-port after the failures: status %d %q", status(p), msg(p))
	}

	// The plugin's own log (slog in the plugin) reaches the agent's log
	// with the plugin's name.
	if len(logs.lines("about to panic", "plugin=panic", "check=panicky", "level=WARN")) == 0 {
		t.Errorf("the panic plugin's warning is not in the agent log with its name; log:\n%s", logs.String())
	}
	if len(logs.lines(`msg="configured (a plain stderr line)"`, "plugin=panic", "level=INFO")) == 0 {
		t.Errorf("the panic plugin's plain stderr line is not in the agent log at info")
	}
	// Per-plugin metrics.
	st := rec.find(MeasurementPlugin, "smb-port")
	last := st[len(st)-1]
	if calls, _ := field(last, "calls").(int64); calls < 3 || field(last, "running") != true {
		t.Errorf("schulmon_plugin for smb-port: %+v", last.Fields)
	}
	st = rec.find(MeasurementPlugin, "panicky")
	if e, _ := field(st[len(st)-1], "errors").(int64); e < 2 {
		t.Errorf("schulmon_plugin for panicky: %+v, want errors counted", st[len(st)-1].Fields)
	}
}

func restarts(rec *recorder, check string) int64 {
	ps := rec.find(MeasurementPlugin, check)
	if len(ps) == 0 {
		return 0
	}
	v, _ := ps[len(ps)-1].Field("restarts")
	return v.IntValue()
}

func sha256File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
