package snmp

import (
	"context"
	"errors"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowProxy relays UDP between one client and the real snmpd, holding
// every request back for delay: a device that answers, but slowly.
func slowProxy(t *testing.T, snmpdPort int, delay time.Duration) int {
	t.Helper()
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: snmpdPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close(); back.Close() })
	var mu sync.Mutex
	var client net.Addr
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			client = from
			mu.Unlock()
			req := append([]byte(nil), buf[:n]...)
			time.AfterFunc(delay, func() { _, _ = back.Write(req) })
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, err := back.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP errors of a closed port are not fatal here
			}
			mu.Lock()
			to := client
			mu.Unlock()
			_, _ = front.WriteTo(buf[:n], to)
		}
	}()
	return front.LocalAddr().(*net.UDPAddr).Port
}

// A slow device's poll ends at its own deadline, with a reason, even
// though each of its requests would be answered within the timeout; a
// fast target polled beside it is not held up.
func TestSlowDeviceEndsAtItsDeadline(t *testing.T) {
	port := startSnmpd(t)
	slow := slowProxy(t, port, 150*time.Millisecond)
	retries := 0
	p := newPoller(t, Config{Targets: []Target{
		{Name: "slow", Address: "127.0.0.1", Port: slow, Credentials: Credentials{Community: "schule"}, Class: "server",
			Profiles: []string{"system", "interfaces", "host"}, Timeout: time.Second, Retries: &retries, Deadline: 400 * time.Millisecond},
		{Name: "fast", Address: "127.0.0.1", Port: port, Credentials: Credentials{Community: "schule"}, Class: "server",
			Profiles: []string{"system", "interfaces"}, Timeout: time.Second, Retries: &retries},
	}})
	c := &collect{}
	start := time.Now()
	p.PollAll(context.Background(), c)
	took := time.Since(start)
	polls := map[string]map[string]any{}
	for _, pt := range byMeas(c.all(), "snmp_poll") {
		polls[tagOf(pt, "device")] = pointFields(pt)
	}
	s := polls["slow"]
	msg, _ := s["error"].(string)
	if !strings.Contains(msg, "deadline") || !strings.Contains(msg, "slow") {
		t.Errorf("slow target: error %q, want it to name the target and its deadline", msg)
	}
	// It answered the first request: reachable, but cut off.
	if s["reachable"] != true {
		t.Errorf("slow target answered its first request and is reachable, got %v", s["reachable"])
	}
	if d := s["duration_s"].(float64); d < 0.35 || d > 0.7 {
		t.Errorf("slow target's poll took %.2fs, want about its 0.4s deadline", d)
	}
	if took > time.Second {
		t.Errorf("PollAll took %s: the deadline did not end the slow poll", took)
	}
	if f := polls["fast"]; f["reachable"] != true || f["error"] != "" || f["duration_s"].(float64) > 0.3 {
		t.Errorf("fast target affected by the slow one: %v", f)
	}
	// Without the deadline the same device completes (the proxy only delays).
	p2 := newPoller(t, Config{Targets: []Target{{Name: "slow", Address: "127.0.0.1", Port: slow, Credentials: Credentials{Community: "schule"}, Class: "server",
		Profiles: []string{"system", "interfaces", "host"}, Timeout: time.Second, Retries: &retries, Deadline: 10 * time.Second}}})
	if f := pointFields(byMeas(pollOnce(t, p2, 0), "snmp_poll")[0]); f["error"] != "" || f["duration_s"].(float64) < 0.4 {
		t.Errorf("slow target without a tight deadline: %v", f)
	}
}

// max_concurrency bounds the targets in flight: six silent devices with
// a 300 ms timeout and max_concurrency 2 are asked two at a time.
func TestMaxConcurrencyBoundsTargetsInFlight(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	retries := 0
	var targets []Target
	for i := 0; i < 6; i++ {
		hole, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer hole.Close()
		go func() {
			buf := make([]byte, 1500)
			first := true
			for {
				if _, _, err := hole.ReadFrom(buf); err != nil {
					return
				}
				if first { // one poll's start per device
					mu.Lock()
					arrivals = append(arrivals, time.Now())
					mu.Unlock()
					first = false
				}
			}
		}()
		targets = append(targets, Target{Name: "dead", Address: "127.0.0.1", Port: hole.LocalAddr().(*net.UDPAddr).Port,
			Class: "switch", Profiles: []string{"system"}, Timeout: 300 * time.Millisecond, Retries: &retries})
	}
	p := newPoller(t, Config{MaxConcurrency: 2, Targets: targets})
	start := time.Now()
	p.PollAll(context.Background(), &collect{})
	took := time.Since(start)
	// Three waves of two: at least 3 × 300 ms (six at once would take 300 ms).
	if took < 850*time.Millisecond || took > 3*time.Second {
		t.Errorf("PollAll of 6 silent devices with max_concurrency 2 took %s, want about 900ms", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 6 {
		t.Fatalf("%d devices were asked, want 6", len(arrivals))
	}
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].Before(arrivals[j]) })
	// No three polls started within one timeout of each other.
	for i := 2; i < len(arrivals); i++ {
		if gap := arrivals[i].Sub(arrivals[i-2]); gap < 250*time.Millisecond {
			t.Errorf("polls %d and %d started %s apart: more than 2 in flight", i-2, i, gap)
		}
	}
}
