package availability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"
)

// TestSkippedSyncChangesNothing runs random histories (live agents and
// polled switches, failures, silences, replays of the past) through two
// engines, one skipping the sync of signals that only extend good
// evidence and of due objects whose evidence only grew, and one syncing
// every signal and every due object: after every tick both have the
// same stored spans, and in the end the same events.
func TestSkippedSyncChangesNothing(t *testing.T) {
	defer func() { skipSync = true }()
	objs := []ObjectInfo{info("srv1", "server"), info("srv2", "server"), info("sw1", "switch"), info("sw2", "switch")}
	kinds := []SignalKind{SignalHeartbeat, SignalHeartbeat, SignalPoll, SignalPoll}
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		fast, slow := newHarness(t, t0, Config{}), newHarness(t, t0, Config{})
		both := func(f func(h *harness)) {
			skipSync = true
			f(fast)
			skipSync = false
			f(slow)
		}
		quietUntil := make([]int, len(objs)) // step until which an object is silent
		failing := make([]bool, len(objs))
		now := t0
		for step := 0; step < 400; step++ {
			now = now.Add(time.Duration(1+rng.IntN(12)) * time.Second)
			if rng.IntN(100) == 0 { // a collector restart: a gap of unknown time
				both(func(h *harness) {
					h.tick() // the server's last run of its jobs
					if err := h.e.Close(context.Background()); err != nil {
						t.Fatal(err)
					}
				})
				now = now.Add(time.Duration(30+rng.IntN(300)) * time.Second)
				both(func(h *harness) { h.clk.Set(now); h.open() })
			}
			both(func(h *harness) { h.clk.Set(now) })
			var sigs []Signal
			for i, o := range objs {
				switch r := rng.IntN(100); {
				case r < 2:
					quietUntil[i] = step + 3 + rng.IntN(30) // a stretch of silence
				case r < 4:
					failing[i] = !failing[i]
				}
				if step < quietUntil[i] {
					continue
				}
				ts := now
				if rng.IntN(100) < 3 { // a replay from the outbox
					ts = now.Add(-time.Duration(rng.IntN(600)) * time.Second)
				}
				if kinds[i] == SignalHeartbeat || rng.IntN(100) < 20 {
					sigs = append(sigs, Signal{Object: o, Time: ts, Kind: kinds[i], OK: !failing[i] || kinds[i] == SignalHeartbeat})
				}
			}
			if len(sigs) > 0 {
				both(func(h *harness) { h.observe(sigs...) })
			}
			if rng.IntN(2) == 0 {
				both(func(h *harness) { h.tick() })
				for _, o := range objs {
					if a, b := fast.spans(o.Device), slow.spans(o.Device); !reflect.DeepEqual(a, b) {
						t.Fatalf("seed %d step %d %s:\nskipping: %+v\nsyncing:  %+v", seed, step, o.Device, a, b)
					}
				}
			}
		}
		// Let every hold time pass, so that both announced everything.
		for i := 0; i < 60; i++ {
			now = now.Add(10 * time.Second)
			both(func(h *harness) { h.clk.Set(now); h.tick() })
		}
		if a, b := eventKeys(fast.rec), eventKeys(slow.rec); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: events differ:\nonly skipping: %v\nonly syncing:  %v", seed, minus(a, b), minus(b, a))
		}
	}
}

func eventKeys(r *recorder) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, fmt.Sprintf("%s %s %d-%d", e.Kind, e.Object.Device, e.Span.Start, e.Span.End))
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	n := map[string]int{}
	for _, x := range b {
		n[x]++
	}
	var out []string
	for _, x := range a {
		if n[x] > 0 {
			n[x]--
			continue
		}
		out = append(out, x)
	}
	return out
}
