package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// telegraf is a running Telegraf process (built by 'make deps-telegraf').
type telegraf struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
}

// startTelegraf runs a real Telegraf that gathers cpu, mem and system
// every second as host and writes them with outputs.influxdb_v2 to url
// with token. The client also sends site and municipality tags of its
// own, which the collector must not believe.
func startTelegraf(t *testing.T, url, token, host string) *telegraf {
	t.Helper()
	bin := testenv.NeedProgram(t, "telegraf")
	cfg := fmt.Sprintf(`[global_tags]
  site = "not-my-school"
  municipality = "Nirgendwo"

[agent]
  interval = "1s"
  round_interval = false
  collection_jitter = "0s"
  flush_interval = "1s"
  flush_jitter = "0s"
  metric_batch_size = 1000
  hostname = %q
  omit_hostname = false
  debug = true

[[outputs.influxdb_v2]]
  urls = [%q]
  token = %q
  organization = "schulmon"
  bucket = "schulmon"
  timeout = "5s"
  content_encoding = "gzip"

[[inputs.cpu]]
  percpu = false
  totalcpu = true

[[inputs.mem]]

[[inputs.system]]
`, host, url, token)
	path := filepath.Join(t.TempDir(), "telegraf.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := &telegraf{log: &lockedBuffer{}, done: make(chan struct{})}
	tg.cmd = exec.Command(bin, "--config", path)
	tg.cmd.Stdout, tg.cmd.Stderr = tg.log, tg.log
	if err := tg.cmd.Start(); err != nil {
		t.Fatalf("start telegraf: %v", err)
	}
	go func() { tg.err = tg.cmd.Wait(); close(tg.done) }()
	t.Cleanup(func() {
		tg.stop(t)
		if t.Failed() {
			t.Logf("telegraf (%s) log:\n%s", host, tg.log.String())
		}
	})
	return tg
}

// stop ends Telegraf with SIGTERM (it flushes its buffer first) and
// returns its exit error.
func (tg *telegraf) stop(t *testing.T) error {
	t.Helper()
	select {
	case <-tg.done:
		return tg.err
	default:
	}
	_ = tg.cmd.Process.Signal(os.Interrupt)
	select {
	case <-tg.done:
	case <-time.After(15 * time.Second):
		_ = tg.cmd.Process.Kill()
		<-tg.done
		t.Errorf("telegraf did not stop within 15 s of SIGINT")
	}
	return tg.err
}

// waitFor polls cond until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	return cond()
}

func TestTelegrafWritesThroughV2API(t *testing.T) {
	c := testenv.StartCollector(t, "")
	tok := c.Token("gs-telegraf", "Stadt-T")
	tg := startTelegraf(t, c.URL, tok, "tg-srv")

	// Each wanted field: measurement, field, a tag that must match.
	type want struct{ measurement, field, tagKey, tagValue string }
	wants := []want{
		{"cpu", "usage_idle", "cpu", "cpu-total"},
		{"mem", "used_percent", "", ""},
		{"mem", "total", "", ""},
		{"system", "load1", "", ""},
		{"system", "n_cpus", "", ""},
		// uptime comes as a metric of its own with the same series and
		// time as load1: both must be kept, as InfluxDB keeps them.
		{"system", "uptime", "", ""},
	}
	query := func(w want) []series {
		var got []series
		getJSON(t, fmt.Sprintf("%s/api/v1/series?device=tg-srv&measurement=%s&field=%s&from=-5m", c.URL, w.measurement, w.field), tok, &got)
		return got
	}
	// At least three flushes of every input, then Telegraf stops.
	var missing want
	ok := waitFor(30*time.Second, func() bool {
		for _, w := range wants {
			got := query(w)
			if len(got) == 0 || len(got[0].Samples) < 3 {
				missing = w
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("Telegraf's %s.%s did not arrive three times within 30 s\ncollector log:\n%s", missing.measurement, missing.field, c.Logs())
	}
	if err := tg.stop(t); err != nil {
		t.Errorf("telegraf exited with %v", err)
	}
	// No write was refused (a timeout on a loaded machine is retried and
	// does not count here).
	log := tg.log.String()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " E! ") && (strings.Contains(line, "will be dropped") || strings.Contains(line, "Unauthorized") ||
			strings.Contains(line, "Forbidden") || strings.Contains(line, "Unsupported Media Type") || strings.Contains(line, "too large")) {
			t.Errorf("the collector refused a Telegraf write: %s", line)
		}
	}
	if !strings.Contains(log, "[outputs.influxdb_v2] Wrote batch of") {
		t.Errorf("telegraf's log does not show a written batch")
	}

	for _, w := range wants {
		got := query(w)
		var s *series
		for i := range got {
			if w.tagKey == "" || got[i].Tags[w.tagKey] == w.tagValue {
				s = &got[i]
			}
		}
		if s == nil {
			t.Errorf("%s.%s: no series with %s=%s in %+v", w.measurement, w.field, w.tagKey, w.tagValue, got)
			continue
		}
		// The token decides the site; Telegraf's own site and
		// municipality tags are dropped, its host is the device.
		if s.Tags["site"] != "gs-telegraf" || s.Tags["device"] != "tg-srv" || s.Tags["host"] != "tg-srv" || s.Tags["municipality"] != "" {
			t.Errorf("%s.%s tags = %v, want site gs-telegraf, device and host tg-srv, no municipality", w.measurement, w.field, s.Tags)
		}
		// Telegraf's timestamps (ns precision) land in the last minutes.
		for _, smp := range s.Samples {
			if age := time.Since(smp.T); age < -5*time.Second || age > 5*time.Minute {
				t.Errorf("%s.%s sample at %v: not a current timestamp", w.measurement, w.field, smp.T)
				break
			}
		}
		v := s.Samples[len(s.Samples)-1].V
		switch w.field {
		case "usage_idle", "used_percent":
			// Telegraf computes percentages from tick deltas: an idle
			// core can come out a rounding error above 100.
			if v < 0 || v > 100+1e-6 {
				t.Errorf("%s.%s = %v, want a percentage", w.measurement, w.field, v)
			}
		case "total", "n_cpus", "uptime":
			if v <= 0 {
				t.Errorf("%s.%s = %v, want > 0", w.measurement, w.field, v)
			}
		case "load1":
			if v < 0 {
				t.Errorf("system.load1 = %v", v)
			}
		}
	}

	var devs []device
	getJSON(t, c.URL+"/api/v1/sites/gs-telegraf/devices", tok, &devs)
	if len(devs) != 1 || devs[0].Name != "tg-srv" || devs[0].Class != "server" || devs[0].Site != "gs-telegraf" {
		t.Errorf("devices of gs-telegraf = %+v, want only tg-srv (server)", devs)
	}
}

func TestTelegrafRejectedTokenStoresNothing(t *testing.T) {
	c := testenv.StartCollector(t, "")
	c.Token("gs-telegraf", "Stadt-T")
	op := c.Token("", "", "--role", "operator")
	cases := []struct {
		name, token, host, status, message string
	}{
		{"unknown token", "not-a-schulmon-token", "tg-intruder", "401 Unauthorized", "send 'Authorization: Token <site token>'"},
		// An operator token may read everything but is bound to no site.
		{"token without site", op, "tg-operator", "403 Forbidden", "this token is not bound to a site and cannot write"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := startTelegraf(t, c.URL, tc.token, tc.host)
			// Telegraf reports the collector's status and message.
			if !waitFor(20*time.Second, func() bool { return strings.Contains(tg.log.String(), tc.status) }) {
				t.Fatalf("telegraf's log does not mention %q within 20 s", tc.status)
			}
			tg.stop(t)
			log := tg.log.String()
			if !strings.Contains(log, tc.message) {
				t.Errorf("telegraf's log does not carry the collector's explanation %q", tc.message)
			}
			if strings.Contains(log, "Wrote batch of") {
				t.Errorf("telegraf claims to have written a batch")
			}
		})
	}

	// Nothing was stored: no site has a device, no series exists.
	var sites []struct {
		Name    string `json:"name"`
		Devices int    `json:"devices"`
	}
	if code := getJSON(t, c.URL+"/api/v1/sites", op, &sites); code != http.StatusOK {
		t.Fatalf("list sites: status %d", code)
	}
	for _, s := range sites {
		if s.Devices != 0 {
			t.Errorf("site %s has %d devices after rejected writes, want 0", s.Name, s.Devices)
		}
	}
	for _, host := range []string{"tg-intruder", "tg-operator"} {
		if code := getJSON(t, c.URL+"/api/v1/series?site=gs-telegraf&device="+host+"&measurement=cpu&field=usage_idle&from=-5m", op, nil); code != http.StatusNotFound {
			t.Errorf("series of %s: status %d, want 404 (no such device)", host, code)
		}
	}
}
