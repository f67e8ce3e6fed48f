package staffing

import (
	"context"
	"testing"
)

func TestDedupAgentAndARPSameMAC(t *testing.T) {
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 7, Municipality: "Moers", Name: "GS Nord"})
	// The agent's own host, with two NICs.
	b.AddDevice(s, Device{Class: ClassServer, Source: SourceAgent, Hostname: "srv-gsnord", MACs: []string{"00:1A:2B:3C:4D:5E", "00:1a:2b:3c:4d:5f"}})
	// The same host in the switch's ARP table: other spelling of the MAC,
	// no hostname; discovery assumes "endpoint".
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceDiscovery, MACs: []string{"001a.2b3c.4d5e"}})
	// And in the bridge table of a second switch (Cisco style, bare hex).
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceDiscovery, MACs: []string{"001A2B3C4D5F"}})
	// Two other endpoints only discovery sees.
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceDiscovery, MACs: []string{"02:00:00:00:00:01"}})
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceDiscovery, MACs: []string{"02:00:00:00:00:02"}})
	counts := b.Build().Count()
	c := counts[0]
	if c.Devices[ClassServer] != 1 || c.Devices[ClassEndpoint] != 2 || c.Total() != 3 {
		t.Fatalf("counts = %v, want 1 server (agent) + 2 endpoints", c.Devices)
	}
	var srv, ep *Provenance
	for i := range c.Provenance {
		switch c.Provenance[i].Class {
		case ClassServer:
			srv = &c.Provenance[i]
		case ClassEndpoint:
			ep = &c.Provenance[i]
		}
	}
	if srv == nil || srv.SeenBy()["agent+discovery"] != 1 || srv.Merged != 2 {
		t.Errorf("server provenance = %+v, want seen by agent+discovery, 2 records merged", srv)
	}
	if ep == nil || ep.SeenBy()["discovery"] != 2 || ep.Records()["discovery"] != 4 {
		t.Errorf("endpoint provenance = %+v, want 2 seen by discovery only out of 4 discovery records", ep)
	}
}

func TestDedupSerialAndHostname(t *testing.T) {
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Name: "S"})
	// A printer polled by SNMP and listed in the CSV with its serial.
	b.AddDevice(s, Device{Class: ClassPrinter, Source: SourceSNMP, Serial: "CNB1234567", Hostname: "drucker-lehrer"})
	b.AddDevice(s, Device{Class: ClassPrinter, Source: SourceCSV, Serial: " cnb1234567 "})
	// A PC named in the CSV and found by DNS name during discovery.
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceCSV, Hostname: "PC-101"})
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceDiscovery, Hostname: "pc-101.schule.local", MACs: []string{"02:00:00:00:01:01"}})
	// Three tablets all called "iPad" with different MACs are three tablets.
	for _, m := range []string{"02:00:00:00:02:01", "02:00:00:00:02:02", "02:00:00:00:02:03"} {
		b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceDiscovery, Hostname: "iPad", MACs: []string{m}})
	}
	// Vendor placeholder serials merge nothing.
	b.AddDevice(s, Device{Class: ClassServer, Source: SourceAgent, Serial: "To Be Filled By O.E.M."})
	b.AddDevice(s, Device{Class: ClassServer, Source: SourceAgent, Serial: "To Be Filled By O.E.M."})
	// 30 tablets in a cupboard, counted by hand.
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceCSV, Count: 30})
	inv := b.Build()
	c := inv.Count()[0]
	if c.Devices[ClassPrinter] != 1 || c.Devices[ClassEndpoint] != 1+3+30 || c.Devices[ClassServer] != 2 {
		t.Fatalf("counts = %v, want 1 printer, 34 endpoints, 2 servers", c.Devices)
	}
	// Counting is repeatable: it does not change the inventory.
	if again := inv.Count()[0]; again.Devices != c.Devices {
		t.Fatalf("second count %v differs from first %v", again.Devices, c.Devices)
	}
}

func TestDiscoveredClassLosesToTrustedSource(t *testing.T) {
	// Discovery sees the access point's MAC before SNMP is set up; once
	// SNMP polls it, the device is one access point, not an endpoint more.
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Name: "S"})
	b.AddDevice(s, Device{Class: ClassEndpoint, Source: SourceDiscovery, MACs: []string{"aa:bb:cc:00:00:01"}})
	b.AddDevice(s, Device{Class: ClassAccessPoint, Source: SourceSNMP, Hostname: "ap-aula", MACs: []string{"AA-BB-CC-00-00-01"}})
	c := b.Build().Count()[0]
	if c.Devices[ClassAccessPoint] != 1 || c.Devices[ClassEndpoint] != 0 {
		t.Fatalf("counts = %v, want one access point", c.Devices)
	}
}

func TestCountManySitesInParallelMatchesSerial(t *testing.T) {
	inv := syntheticInventory(300, 200_000)
	par := inv.count(4)
	ser := inv.count(1)
	for i := range par {
		if par[i].Devices != ser[i].Devices {
			t.Fatalf("site %d: parallel %v, serial %v", i, par[i].Devices, ser[i].Devices)
		}
	}
	total := 0
	for i := range par {
		total += par[i].Total()
	}
	// syntheticInventory sees every 5th endpoint twice (agent + ARP).
	if want := 200_000 - 200_000/5/2; total < want-300 || total > want+300 {
		t.Fatalf("total = %d, want about %d", total, want)
	}
	r, err := Compute(context.Background(), inv, par, DefaultParams(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total.Devices.Total() != total || r.Total.Sites != 300 {
		t.Fatalf("report total %d devices / %d sites, counted %d", r.Total.Devices.Total(), r.Total.Sites, total)
	}
}

func TestKeyTableResetForgetsPreviousSite(t *testing.T) {
	var kt keyTable
	kt.reset(1000)
	for i := range 1000 {
		if _, ok := kt.getOrPut(uint64(i)*7919, int32(i)); ok {
			t.Fatalf("key %d found before it was put", i)
		}
	}
	for i := range 1000 {
		if v, ok := kt.getOrPut(uint64(i)*7919, -1); !ok || v != int32(i) {
			t.Fatalf("key %d: %d %v", i, v, ok)
		}
	}
	kt.reset(3) // the next, small site reuses the slots
	if _, ok := kt.getOrPut(7919, 5); ok {
		t.Fatal("a key of the previous site survived reset")
	}
	if v, ok := kt.getOrPut(7919, 6); !ok || v != 5 {
		t.Fatalf("got %d %v, want 5", v, ok)
	}
}
