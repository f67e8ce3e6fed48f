package snmpsim

import (
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"
)

const sample = `.1.3.6.1.2.1.1.1.0 = STRING: "Cisco IOS Software, C3750
Technical Support: http://www.cisco.com/techsupport
Copyright (c) 1986-2015 by Cisco Systems, Inc."
.1.3.6.1.2.1.1.3.0 = Timeticks: (697202257) 80 days, 16:40:22.57
.1.3.6.1.2.1.1.4.0 = ""
.1.3.6.1.2.1.2.2.1.6.1 = Hex-STRING: 00 1A 2B 3C 4D 5E 
.1.3.6.1.2.1.2.2.1.8.1 = INTEGER: up(1)
.1.3.6.1.2.1.2.2.1.10.1 = Counter32: 4294967295
.1.3.6.1.2.1.31.1.1.1.6.1 = Counter64: 18446744073709551615
.1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.9.1.516
.1.3.6.1.2.1.4.20.1.1.10.0.0.1 = IpAddress: 10.0.0.1
.1.3.6.1.2.1.1.7.0 = No Such Instance currently exists at this OID
`

func TestParseWalk(t *testing.T) {
	pdus, err := ParseWalk(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(pdus) != 9 {
		t.Fatalf("want 9 values (noSuchInstance dropped), got %d", len(pdus))
	}
	d, _ := NewDevice(pdus)
	if v := d.Get("1.3.6.1.2.1.1.1.0"); !strings.Contains(string(v.Value.([]byte)), "\nCopyright (c) 1986-2015") {
		t.Fatalf("multi-line string: %q", v.Value)
	}
	if v := d.Get(".1.3.6.1.2.1.2.2.1.6.1"); string(v.Value.([]byte)) != "\x00\x1a\x2b\x3c\x4d\x5e" {
		t.Fatalf("hex: %x", v.Value)
	}
	if v := d.Get("1.3.6.1.2.1.2.2.1.8.1"); v.Value != 1 {
		t.Fatalf("enum: %v", v.Value)
	}
	if v := d.Get("1.3.6.1.2.1.1.3.0"); v.Type != gosnmp.TimeTicks || v.Value != uint32(697202257) {
		t.Fatalf("timeticks: %v", v)
	}
	if v := d.Get("1.3.6.1.2.1.31.1.1.1.6.1"); v.Value != uint64(18446744073709551615) {
		t.Fatalf("counter64: %v", v)
	}
	if v := d.Get("1.3.6.1.2.1.1.4.0"); v.Type != gosnmp.OctetString || len(v.Value.([]byte)) != 0 {
		t.Fatalf("empty string: %v", v)
	}
	if _, err := ParseWalk(strings.NewReader(".1.3.6 = Float: 1.5\n")); err == nil || !strings.Contains(err.Error(), "unsupported type") {
		t.Fatalf("unknown type must fail clearly: %v", err)
	}
}

func TestBulkInterleavesAndTruncates(t *testing.T) {
	pdus, _ := ParseWalk(strings.NewReader(sample))
	d, _ := NewDevice(pdus)
	// Numeric order, not string order: .1.2.0 comes before .1.3.0 and
	// .2.2.1.10.1 after .2.2.1.8.1.
	got := d.Bulk([]string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.2.2.1"}, 0, 3, 100)
	var names []string
	for _, v := range got {
		names = append(names, v.Name)
	}
	want := ".1.3.6.1.2.1.1.2.0 .1.3.6.1.2.1.2.2.1.6.1 .1.3.6.1.2.1.1.3.0 .1.3.6.1.2.1.2.2.1.8.1 .1.3.6.1.2.1.1.4.0 .1.3.6.1.2.1.2.2.1.10.1"
	if strings.Join(names, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(names, " "), want)
	}
	if n := len(d.Bulk([]string{"1.3", "1.3.6"}, 0, 10, 5)); n != 5 {
		t.Fatalf("limit: %d varbinds", n)
	}
	if v := d.Next("1.3.6.1.2.1.31.1.1.1.6.1"); v.Type != gosnmp.EndOfMibView {
		t.Fatalf("end of MIB: %v", v)
	}
}
