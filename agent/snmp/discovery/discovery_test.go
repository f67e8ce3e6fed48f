package discovery

import (
	"context"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEndpointsExcludeUplinksAndNeighbours(t *testing.T) {
	tb := BridgeTables{
		Ports: map[int]Port{
			1: {1, "1", 6}, 2: {2, "2", 6}, 3: {3, "3", 6}, 4: {4, "4", 6}, 5: {5, "5", 6},
			48: {48, "48", 6}, 100: {100, "Trk1", 161},
		},
		BridgePorts: map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 48: 48, 60: 100},
		LLDPPorts:   []int{5},
		LLDPMACs:    []string{"E0:63:DA:00:00:05"},
		Uplinks:     []string{"48"},
		ARP:         []ARPEntry{{"aa:00:00:00:00:01", "10.0.0.11"}, {"aa:00:00:00:00:02", "10.0.0.12"}, {"aa:00:00:00:00:02", "10.0.0.9"}},
	}
	add := func(mac string, port, status int) {
		tb.FDB = append(tb.FDB, FDBEntry{MAC: mac, BridgePort: port, Status: status})
	}
	add("aa:00:00:00:00:01", 1, 3)
	add("AA:00:00:00:00:02", 2, 3)
	add("aa:00:00:00:00:02", 2, 3) // Q-BRIDGE duplicate in another VLAN
	add("aa:00:00:00:00:03", 3, 3)
	add("aa:00:00:00:00:04", 3, 3)
	add("aa:00:00:00:00:ff", 4, 4)  // the switch itself (self)
	add("01:00:5e:00:00:01", 4, 3)  // multicast
	add("e0:63:da:00:00:05", 5, 3)  // the access point (LLDP)
	add("aa:00:00:00:00:06", 5, 3)  // a client behind the AP: port has an LLDP neighbour
	add("bb:00:00:00:00:01", 48, 3) // configured uplink
	add("cc:00:00:00:00:01", 60, 3) // LAG (bridge port 60 → ifIndex 100)
	add("aa:00:00:00:00:03", 48, 3) // also seen via the uplink: counted once, at port 3
	for i := 0; i < 40; i++ {       // a port with 40 MACs is an uplink too
		add("d2:00:00:00:00:"+string("0123456789abcdef"[i/16])+string("0123456789abcdef"[i%16]), 1, 3)
	}
	got := Endpoints(tb)
	var s []string
	for _, e := range got {
		s = append(s, e.MAC+"@"+e.Port+"="+e.IP)
	}
	want := "aa:00:00:00:00:02@2=10.0.0.12 aa:00:00:00:00:03@3= aa:00:00:00:00:04@3="
	// Port 1 has 41 MACs and counts as an uplink.
	if strings.Join(s, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(s, " "), want)
	}
	tb.MaxMACsPerPort = 64
	if n := len(Endpoints(tb)); n != 44 {
		t.Fatalf("with a higher limit port 1's 41 MACs count: got %d endpoints", n)
	}
}

func TestParseSubnetsAndAddrs(t *testing.T) {
	ps, err := ParseSubnets([]string{"10.20.1.0/30", "10.20.2.7", "fd00::/126"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(Addrs(ps[0])); n != 2 {
		t.Fatalf("/30 has 2 hosts, got %d", n)
	}
	if a := Addrs(ps[1]); len(a) != 1 || a[0].String() != "10.20.2.7" {
		t.Fatalf("single address: %v", a)
	}
	if n := len(Addrs(ps[2])); n != 4 {
		t.Fatalf("IPv6 /126: %d", n)
	}
	if _, err := ParseSubnets([]string{"10.0.0.0/8"}); err == nil || !strings.Contains(err.Error(), "/16") {
		t.Fatalf("a /8 must be refused: %v", err)
	}
	if _, err := ParseSubnets([]string{"10.0.0.0/33"}); err == nil || !strings.Contains(err.Error(), "CIDR") {
		t.Fatalf("bad prefix: %v", err)
	}
}

// The scan probes every host address exactly once, never more than
// workers at a time and not faster than the rate (checked by counting
// starts, not by timing assertions on a noisy machine).
// TestScanKeepsTheRate: at 40 probes per second, the 14 addresses of a
// /28 take at least 13 intervals of 25 ms, and no 100 ms window holds
// more than the rate allows (plus the one of the burst).
func TestScanKeepsTheRate(t *testing.T) {
	ps, _ := ParseSubnets([]string{"192.0.2.0/28"}) // TEST-NET-1: the probe is fake, nothing is sent
	var mu sync.Mutex
	var starts []time.Time
	begin := time.Now()
	err := Scan(context.Background(), ps, 40, 16, func(ctx context.Context, a netip.Addr) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	if len(starts) != 14 {
		t.Fatalf("%d probes, want 14", len(starts))
	}
	if took < 13*25*time.Millisecond*9/10 || took > 3*time.Second {
		t.Fatalf("14 probes at 40/s took %s, want about 325ms", took)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	for i := range starts {
		n := 0
		for j := i; j < len(starts) && starts[j].Sub(starts[i]) < 100*time.Millisecond; j++ {
			n++
		}
		if n > 5 { // 100 ms × 40/s = 4, plus the burst of 1
			t.Fatalf("%d probes within 100ms from probe %d: faster than 40/s", n, i)
		}
	}
}

func TestScanBoundsConcurrencyAndVisitsEachAddressOnce(t *testing.T) {
	ps, _ := ParseSubnets([]string{"192.0.2.0/28"}) // TEST-NET-1: the probe is fake, nothing is sent
	var mu sync.Mutex
	seen := map[netip.Addr]int{}
	running, peak := 0, 0
	err := Scan(context.Background(), ps, 1000, 3, func(ctx context.Context, a netip.Addr) {
		mu.Lock()
		seen[a]++
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 14 || peak > 3 {
		t.Fatalf("visited %d addresses (want 14), peak concurrency %d (max 3)", len(seen), peak)
	}
	for a, n := range seen {
		if n != 1 {
			t.Fatalf("%s probed %d times", a, n)
		}
	}
	// A cancelled context stops the scan.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Scan(ctx, ps, 1, 1, func(context.Context, netip.Addr) {}); err == nil {
		t.Fatal("scan with cancelled context must fail")
	}
	if err := Scan(context.Background(), ps, 0, 1, nil); err == nil {
		t.Fatal("rate 0 must be refused")
	}
}
