package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/agent/hostmetrics"
)

// heartbeatLine gathers one round at now and returns its schulmon_agent
// line.
func heartbeatLine(t *testing.T, a *Agent, q *MemoryQueue, now time.Time) string {
	t.Helper()
	a.Gather(context.Background(), now)
	lines, _, err := q.Next(1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(lines), "\n") {
		if strings.HasPrefix(l, "schulmon_agent,") {
			return l
		}
	}
	t.Fatalf("no heartbeat in %q", lines)
	return ""
}

func TestHeartbeatCarriesIdentityFirstThenHourly(t *testing.T) {
	a, q := newTestAgent(t, &scriptedSender{})
	reads := 0
	a.readIdentity = func(context.Context) (hostmetrics.Identity, error) {
		reads++
		return hostmetrics.Identity{MACs: []string{"00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"}, Serial: "CZ1234ABC"}, nil
	}
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	first := heartbeatLine(t, a, q, t0)
	if !strings.Contains(first, `macs="00:1a:2b:3c:4d:5e,00:1a:2b:3c:4d:5f"`) || !strings.Contains(first, `serial="CZ1234ABC"`) {
		t.Fatalf("first heartbeat lacks the identity: %s", first)
	}
	for _, d := range []time.Duration{10 * time.Second, 59 * time.Minute} {
		if l := heartbeatLine(t, a, q, t0.Add(d)); strings.Contains(l, "macs=") || strings.Contains(l, "serial=") {
			t.Errorf("heartbeat after %v repeats the identity: %s", d, l)
		}
	}
	if l := heartbeatLine(t, a, q, t0.Add(time.Hour)); !strings.Contains(l, "macs=") || !strings.Contains(l, "serial=") {
		t.Errorf("heartbeat an hour later lacks the identity: %s", l)
	}
	if reads != 2 {
		t.Errorf("identity read %d times, want 2 (not every interval)", reads)
	}
}

func TestHeartbeatWithoutIdentityOmitsFields(t *testing.T) {
	a, q := newTestAgent(t, &scriptedSender{})
	a.readIdentity = func(context.Context) (hostmetrics.Identity, error) {
		return hostmetrics.Identity{}, errors.New("no interfaces")
	}
	l := heartbeatLine(t, a, q, time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC))
	if strings.Contains(l, "macs=") || strings.Contains(l, "serial=") || !strings.Contains(l, "uptime_s=") {
		t.Errorf("heartbeat = %s, want the usual fields and no empty identity", l)
	}
}
