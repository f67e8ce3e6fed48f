package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/internal/testenv"
	"github.com/schulmon/schulmon/internal/testservers"
)

// TestEveryPluginThroughRealAgent runs every bundled check (http against
// an HTTPS server whose certificate expires in 10 days, tcp, ping, dns)
// and every kind of misbehaving plugin (panic, hangs before the handshake
// and in each call, wrong checksum, wrong handshake) in the real agent
// against the real collector. The good checks' results arrive with status
// and message; each bad plugin arrives as unknown with a message naming it
// and the reason; the good checks keep reporting meanwhile.
func TestEveryPluginThroughRealAgent(t *testing.T) {
	bin := testenv.Binaries(t)
	plugins := checkPlugins(t)
	web, caFile := testservers.TLS(t, 10*24*time.Hour, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<title>Moodle Lernplattform</title>")
	}))
	tcpAddr := testservers.TCP(t)
	dnsAddr := testservers.DNS(t)

	colCfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(colCfg, []byte("availability:\n  check: {interval: 1s, missed: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCollector(t, "", "--config", colCfg)
	tok := c.Token("gs-all", "Stadt-All")
	dir := t.TempDir()
	zeros := strings.Repeat("00", 32)
	cfg := fmt.Sprintf(`collector:
  url: %s
  token: %s
  flush_interval: 1s
interval: 1s
device: srv-all
state_dir: %s
plugins:
  dir: %s
  restart_backoff: 300ms
  restart_backoff_max: 3s
  start_timeout: 2s
  instances:
    - {name: lernplattform, plugin: http, interval: 1s, timeout: 1s, device: moodle, class: server,
       config: {url: "%s/login", contains: Moodle, ca_file: "%s"}}
    - {name: smb, plugin: tcp, interval: 1s, timeout: 1s, config: {address: "%s"}}
    - {name: resolver, plugin: dns, interval: 1s, timeout: 1s, config: {server: "%s", name: moodle.schule.test, expect: [10.1.20.5]}}
    - {name: loopback, plugin: ping, interval: 1s, timeout: 1s, config: {host: 127.0.0.1, count: 2, interval: 50ms}}
    - {name: panicky, plugin: panic, interval: 1s, timeout: 1s}
    - {name: stuck-start, plugin: hang-start, interval: 1s, timeout: 1s}
    - {name: stuck-describe, plugin: hang-describe, interval: 1s, timeout: 1s}
    - {name: stuck-configure, plugin: hang-configure, interval: 1s, timeout: 1s}
    - {name: stuck-collect, plugin: hang, interval: 1s, timeout: 1s}
    - {name: wrongsum, plugin: tcp, sha256: %s, interval: 1s, timeout: 1s, config: {address: "%s"}}
    - {name: old, plugin: oldproto, interval: 1s, timeout: 1s}
    - {name: script, plugin: notaplugin, interval: 1s, timeout: 1s}
`, c.URL, tok, dir, plugins, web.URL, caFile, tcpAddr, dnsAddr, zeros, tcpAddr)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "schulmon-agent"), "--config", path)
	// Read only after the agent exited (Wait has copied all output then).
	log := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stopAgent := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	defer func() {
		stopAgent()
		if t.Failed() {
			t.Logf("agent log:\n%s\ncollector log:\n%s", log.String(), c.Logs())
		}
	}()

	// samples returns the check's samples of field (newest last) once cond
	// holds for them.
	samples := func(device, check, field string, cond func(vs []float64) bool) []float64 {
		t.Helper()
		var vs []float64
		deadline := time.Now().Add(45 * time.Second)
		for time.Now().Before(deadline) {
			var got []series
			getJSON(t, c.URL+"/api/v1/series?device="+device+"&measurement=check&field="+field+"&from=-5m", tok, &got)
			for _, s := range got {
				if s.Tags["check"] != check {
					continue
				}
				vs = vs[:0]
				for _, x := range s.Samples {
					vs = append(vs, x.V)
				}
				if len(vs) > 0 && cond(vs) {
					return vs
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Errorf("check %s on %s: no %s sample as expected (last: %v)", check, device, field, vs)
		return nil
	}
	last := func(cond func(v float64) bool) func([]float64) bool {
		return func(vs []float64) bool { return cond(vs[len(vs)-1]) }
	}
	is := func(want float64) func([]float64) bool { return last(func(v float64) bool { return v == want }) }

	// Good checks. A good plugin's very first start may fail on a loaded
	// machine; wait for its result from a running plugin.
	samples("moodle", "lernplattform", "status", is(1)) // warning: certificate
	if d := samples("moodle", "lernplattform", "cert_days_left", last(func(v float64) bool { return v > 0 })); len(d) > 0 && (d[len(d)-1] < 9.9 || d[len(d)-1] > 10.01) {
		t.Errorf("cert_days_left %v, want ~10", d[len(d)-1])
	}
	samples("srv-all", "smb", "status", is(0))
	samples("srv-all", "resolver", "status", is(0))
	pingStatus := samples("srv-all", "loopback", "status", last(func(v float64) bool { return v == 0 || v == 3 }))

	// Misbehaving plugins: unknown, each on its own.
	bad := map[string][]string{
		"panicky":         {`plugin "panic" (check "panicky")`, "crashed during collect: panic: boom in collect"},
		"stuck-start":     {`plugin "hang-start" (check "stuck-start")`, "handshake failed", "did not start within 2s (plugins.start_timeout)"},
		"stuck-describe":  {`plugin "hang-describe" (check "stuck-describe")`, "hung: describe did not answer within the timeout of 1s; killed"},
		"stuck-configure": {`plugin "hang-configure" (check "stuck-configure")`, "hung: configure did not answer within the timeout of 1s; killed"},
		"stuck-collect":   {`plugin "hang" (check "stuck-collect")`, "hung: collect did not answer within the timeout of 1s; killed"},
		"wrongsum":        {`plugin "tcp" (check "wrongsum")`, "checksum mismatch", "pins " + zeros},
		"old":             {`plugin "oldproto" (check "old")`, "handshake failed", "this agent speaks version 1"},
		"script":          {`plugin "notaplugin" (check "script")`, "handshake failed", "did not answer as a schulmon check plugin"},
	}
	for check := range bad {
		samples("srv-all", check, "status", is(3))
	}

	// Isolation: after every bad plugin has failed at least once, the good
	// checks still deliver fresh results and the agent still runs.
	for _, c := range []struct {
		device, check string
		status        float64
	}{{"srv-all", "smb", 0}, {"moodle", "lernplattform", 1}, {"srv-all", "resolver", 0}} {
		n := len(samples(c.device, c.check, "status", is(c.status)))
		samples(c.device, c.check, "status", func(vs []float64) bool { return len(vs) >= n+3 && vs[len(vs)-1] == c.status })
	}
	select {
	case <-exited:
		t.Fatalf("the agent exited")
	default:
	}

	// Messages are string fields, which the read API does not serve: read
	// them back from the collector's store once both have stopped.
	stopAgent()
	c.Stop()
	msgs := storedCheckMessages(t, c.DataDir)
	want := map[string][]string{
		"lernplattform": {"HTTP 200", "certificate expires in 10 days"},
		"smb":           {tcpAddr + " open"},
		"resolver":      {"10.1.20.5"},
	}
	for check, subs := range bad {
		want[check] = subs
	}
	for check, subs := range want {
		found := false
		for _, m := range msgs[check] {
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(m, s)
			}
			found = found || ok
		}
		if !found {
			t.Errorf("check %s: no stored message containing %q; stored: %q", check, subs, msgs[check])
		}
	}
	if len(pingStatus) > 0 && pingStatus[len(pingStatus)-1] == 3 {
		// No ICMP permission here: the documented fallback message.
		if !anyContains(msgs["loopback"], "net.ipv4.ping_group_range") {
			t.Errorf("ping unknown without the documented hint: %q", msgs["loopback"])
		}
	}
	for check := range bad {
		if !strings.Contains(log.String(), "check="+check) || !strings.Contains(log.String(), "plugin failed") {
			t.Errorf("check %s: no 'plugin failed' line in the agent log", check)
		}
	}
}

// storedCheckMessages reads the message of every stored check point from
// the collector's embedded store (stopped), by check name, oldest first.
func storedCheckMessages(t *testing.T, dataDir string) map[string][]string {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), server.PointsDBPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT s.tags, p.fields FROM points p JOIN series s ON s.id = p.series_id WHERE s.measurement = 'check' ORDER BY p.time`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var tagsJSON string
		var blob []byte
		if err := rows.Scan(&tagsJSON, &blob); err != nil {
			t.Fatal(err)
		}
		var tags map[string]string
		if err := json.Unmarshal([]byte(tagsJSON), &tags); err != nil {
			t.Fatal(err)
		}
		out[tags["check"]] = append(out[tags["check"]], stringField(blob, "message"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stringField finds a string field in the store's field blob, relying
// only on this much of its layout: the key, one kind byte, the length as
// a uvarint, the bytes. Without the key it returns the whole blob as text,
// so that a failing assertion still shows what was stored.
func stringField(blob []byte, key string) string {
	i := bytes.Index(blob, []byte(key))
	if i < 0 || i+len(key)+1 > len(blob) {
		return string(blob)
	}
	rest := blob[i+len(key)+1:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || uint64(len(rest)-k) < n {
		return string(blob)
	}
	return string(rest[k : k+int(n)])
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
