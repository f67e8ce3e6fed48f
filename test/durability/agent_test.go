package durability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// agentProc is a real schulmon-agent with a 1 s interval.
type agentProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	config string
	log    *syncBuf
}

// newAgent writes the agent's config; extra is appended YAML.
func newAgent(t *testing.T, url, token, device, stateDir, extra string) *agentProc {
	t.Helper()
	cfg := fmt.Sprintf(`collector:
  url: %s
  token: %s
  flush_interval: 1s
  timeout: 5s
interval: 1s
device: %s
state_dir: %s
inputs: [cpu, mem]
%s`, url, token, device, stateDir, extra)
	path := filepath.Join(stateDir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &agentProc{t: t, config: path, log: &syncBuf{}}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log.String())
		}
	})
	return a
}

func (a *agentProc) start() {
	a.t.Helper()
	a.cmd = exec.Command(filepath.Join(testenv.Binaries(a.t), "schulmon-agent"), "--config", a.config)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		a.t.Fatalf("start agent: %v", err)
	}
}

func (a *agentProc) stop() {
	if a.cmd == nil || a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

func (a *agentProc) kill9() {
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
}

// heartbeats returns the times of the device's stored heartbeats, read
// through the collector's API (the agent token reads its own site).
func heartbeats(t *testing.T, c *testenv.Collector, token, device string) []time.Time {
	t.Helper()
	s := seriesSamples(t, c, token, device, "schulmon_agent", "uptime_s")
	out := make([]time.Time, 0, len(s))
	for _, x := range s {
		out = append(out, x.T)
	}
	return out
}

type sample struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

func seriesSamples(t *testing.T, c *testenv.Collector, token, device, measurement, field string) []sample {
	t.Helper()
	req, _ := http.NewRequest("GET", c.URL+"/api/v1/series?device="+device+"&measurement="+measurement+"&field="+field+"&from=-1h", nil)
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil // collector down: nothing seen
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil // e.g. the device is not registered yet
	}
	var got []struct {
		Samples []sample `json:"samples"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decode series: %v", err)
	}
	var all []sample
	for _, s := range got {
		all = append(all, s.Samples...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].T.Before(all[j].T) })
	return all
}

// waitFor polls cond every 250 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// covers reports whether hb holds one heartbeat for every whole second
// from 'from' to 'to' (both truncated to seconds); missing lists the gaps.
func covers(hb []time.Time, from, to time.Time) (missing []time.Time) {
	have := map[int64]bool{}
	for _, t := range hb {
		have[t.Unix()] = true
	}
	for s := from.Truncate(time.Second).Unix(); s <= to.Truncate(time.Second).Unix(); s++ {
		if !have[s] {
			missing = append(missing, time.Unix(s, 0))
		}
	}
	return missing
}

func noDuplicates(t *testing.T, hb []time.Time) {
	t.Helper()
	for i := 1; i < len(hb); i++ {
		if hb[i].Equal(hb[i-1]) {
			t.Fatalf("heartbeat at %v stored twice", hb[i])
		}
	}
}

// TestCollectorOutageLosesNothing: the collector is down for 20 s (a
// compressed ten-minute outage) while the agent keeps collecting every
// second; after the restart every heartbeat of the outage is there, once,
// with its original time.
func TestCollectorOutageLosesNothing(t *testing.T) {
	t.Parallel()
	c := testenv.StartCollector(t, "")
	token := c.Token("gs-outage", "Kommune")
	a := newAgent(t, c.URL, token, "srv-outage", t.TempDir(), "")
	a.start()
	waitFor(t, 20*time.Second, "the first heartbeats", func() bool { return len(heartbeats(t, c, token, "srv-outage")) >= 2 })
	first := heartbeats(t, c, token, "srv-outage")[0]

	c.Stop()
	down := time.Now()
	time.Sleep(20 * time.Second)
	c.Start()
	up := time.Now()

	// Everything from the first heartbeat to shortly after the restart.
	waitFor(t, 60*time.Second, "the outbox to be replayed", func() bool {
		return len(covers(heartbeats(t, c, token, "srv-outage"), first, up.Add(2*time.Second))) == 0
	})
	hb := heartbeats(t, c, token, "srv-outage")
	noDuplicates(t, hb)
	if m := covers(hb, first, up.Add(2*time.Second)); len(m) > 0 {
		t.Fatalf("%d heartbeats missing, first %v (outage %v to %v)", len(m), m[0], down, up)
	}
	during := 0
	for _, h := range hb {
		if h.After(down) && h.Before(up) {
			during++
		}
	}
	if during < 18 {
		t.Fatalf("only %d heartbeats stamped during the 20 s outage", during)
	}
	if !strings.Contains(a.log.String(), "sending to the collector failed") {
		t.Fatalf("the agent did not notice the outage; log:\n%s", a.log.String())
	}

	// Availability: the buffered heartbeats prove the server was up while
	// the collector was away; no down or unknown time may remain recorded
	// for it over the cut once they are in (the engine may need a tick).
	var bad []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		bad = availabilityGaps(t, c, token, down, up)
		if len(bad) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(bad) > 0 {
		t.Errorf("availability after the replay: %s", strings.Join(bad, "; "))
	}
}

// availabilityGaps lists down or unknown periods of srv-outage that
// overlap [down, up).
func availabilityGaps(t *testing.T, c *testenv.Collector, token string, down, up time.Time) []string {
	t.Helper()
	var bad []string
	for _, state := range []string{"down", "unknown"} {
		var outs []struct {
			Start time.Time  `json:"start"`
			End   *time.Time `json:"end"`
		}
		req, _ := http.NewRequest("GET", c.URL+"/api/v1/outages?site=gs-outage&device=srv-outage&state="+state, nil)
		req.Header.Set("Authorization", "Token "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			t.Fatalf("outages API: %d (is the availability engine attached?)", resp.StatusCode)
		}
		json.NewDecoder(resp.Body).Decode(&outs)
		resp.Body.Close()
		for _, o := range outs {
			end, ongoing := time.Now(), true
			if o.End != nil {
				end, ongoing = *o.End, false
			}
			if o.Start.Before(up) && end.After(down) {
				bad = append(bad, fmt.Sprintf("%s from %s to %s (ongoing %v) during the collector outage %s–%s", state,
					o.Start.Format("15:04:05"), end.Format("15:04:05"), ongoing, down.Format("15:04:05"), up.Format("15:04:05")))
			}
		}
	}
	return bad
}

// TestAgentKill9WhileSendingLosesNothing kills the agent with SIGKILL
// while it replays a backlog (paced to 20 points/s so that the kill lands
// mid-replay), restarts it, and checks that everything it had gathered is
// delivered exactly once.
func TestAgentKill9WhileSendingLosesNothing(t *testing.T) {
	t.Parallel()
	c := testenv.StartCollector(t, "")
	token := c.Token("gs-kill9", "Kommune")
	state := t.TempDir()
	a := newAgent(t, c.URL, token, "srv-kill9", state, "")
	// Pace the replay: 10-point batches, 20 points per second.
	cfg, _ := os.ReadFile(a.config)
	cfg = bytes.Replace(cfg, []byte("  timeout: 5s\n"), []byte("  timeout: 5s\n  batch_size: 10\n  max_points_per_second: 20\n"), 1)
	os.WriteFile(a.config, cfg, 0o600)
	a.start()
	waitFor(t, 20*time.Second, "the first heartbeats", func() bool { return len(heartbeats(t, c, token, "srv-kill9")) >= 1 })
	first := heartbeats(t, c, token, "srv-kill9")[0]

	// Build a backlog, then let the agent send it and kill it mid-way.
	c.Stop()
	time.Sleep(8 * time.Second)
	c.Start()
	var killed time.Time
	waitFor(t, 30*time.Second, "the replay to start", func() bool {
		return len(heartbeats(t, c, token, "srv-kill9")) > 1+2
	})
	a.kill9()
	killed = time.Now()
	before := len(heartbeats(t, c, token, "srv-kill9"))
	time.Sleep(2 * time.Second)
	a.start()
	restarted := time.Now()

	waitFor(t, 60*time.Second, "the rest of the backlog", func() bool {
		return len(covers(heartbeats(t, c, token, "srv-kill9"), first, killed.Add(-2*time.Second))) == 0 &&
			len(covers(heartbeats(t, c, token, "srv-kill9"), restarted.Add(2*time.Second), restarted.Add(4*time.Second))) == 0
	})
	hb := heartbeats(t, c, token, "srv-kill9")
	noDuplicates(t, hb)
	if m := covers(hb, first, killed.Add(-2*time.Second)); len(m) > 0 {
		t.Fatalf("%d heartbeats gathered before the kill are missing, first %v", len(m), m[0])
	}
	if before >= len(covers(nil, first, killed.Add(-2*time.Second))) {
		t.Fatalf("the kill did not land during the replay: %d heartbeats were already stored", before)
	}
	if !strings.Contains(a.log.String(), "outbox holds points from before") {
		t.Fatalf("the restarted agent did not report its backlog; log:\n%s", a.log.String())
	}
}

// TestOutboxLimitDropsOldestAndReports fills a small outbox while the
// collector is down: the oldest points are dropped, and the drops reach the
// collector as schulmon_outbox_drop points and in the heartbeat.
func TestOutboxLimitDropsOldestAndReports(t *testing.T) {
	t.Parallel()
	c := testenv.StartCollector(t, "")
	token := c.Token("gs-full", "Kommune")
	c.Stop()
	// The smallest outbox (16 KiB, four 4 KiB segments) fills in ~15 s.
	a := newAgent(t, c.URL, token, "srv-full", t.TempDir(), "outbox:\n  max_bytes: 16384\n")
	started := time.Now()
	a.start()
	waitFor(t, 90*time.Second, "the outbox to overflow", func() bool { return strings.Contains(a.log.String(), "outbox full") })
	time.Sleep(2 * time.Second)
	c.Start()
	up := time.Now()
	var drops []sample
	waitFor(t, 60*time.Second, "drop reports and current heartbeats", func() bool {
		drops = seriesSamples(t, c, token, "srv-full", "schulmon_outbox_drop", "dropped_points")
		hb := heartbeats(t, c, token, "srv-full")
		return len(drops) > 0 && len(hb) > 0 && hb[len(hb)-1].After(up)
	})
	total := 0.0
	for _, d := range drops {
		total += d.V
	}
	if total <= 0 {
		t.Fatalf("drop reports say %v points dropped", total)
	}
	hb := heartbeats(t, c, token, "srv-full")
	noDuplicates(t, hb)
	// Oldest first: the first seconds are gone, the newest are there.
	if len(covers(hb, started.Add(time.Second), started.Add(2*time.Second))) == 0 {
		t.Fatalf("the oldest heartbeats survived a full outbox; the drops took newer ones")
	}
	// What is left is one unbroken run up to the newest: drops only ever
	// take the oldest end (a hole would be a whole segment, several
	// seconds; a slow gather on a busy machine may skip one second).
	for i := 1; i < len(hb); i++ {
		if gap := hb[i].Sub(hb[i-1]); gap > 2*time.Second {
			t.Fatalf("hole of %s between %v and %v: not oldest-first", gap, hb[i-1], hb[i])
		}
	}
	if last := hb[len(hb)-1]; last.Before(up) {
		t.Fatalf("newest heartbeat %v is older than the collector restart %v", last, up)
	}
	// The heartbeat counts the drops too.
	pd := seriesSamples(t, c, token, "srv-full", "schulmon_agent", "points_dropped")
	if len(pd) == 0 || pd[len(pd)-1].V <= 0 {
		t.Fatalf("heartbeat points_dropped = %v, want > 0", pd)
	}
}
