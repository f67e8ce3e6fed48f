package snmp

import (
	"net/netip"
	"strconv"

	"github.com/schulmon/schulmon/agent/snmp/discovery"
	"github.com/schulmon/schulmon/metric"
)

const (
	dot1dBasePortIfIndex = "1.3.6.1.2.1.17.1.4.1.2"
	dot1dTpFdbPort       = "1.3.6.1.2.1.17.4.3.1.2"
	dot1dTpFdbStatus     = "1.3.6.1.2.1.17.4.3.1.3"
	dot1qTpFdbPort       = "1.3.6.1.2.1.17.7.1.2.2.1.2"
	dot1qTpFdbStatus     = "1.3.6.1.2.1.17.7.1.2.2.1.3"
	ipNetToMediaPhys     = "1.3.6.1.2.1.4.22.1.2"
	ipNetToPhysicalPhys  = "1.3.6.1.2.1.4.35.1.4"
)

var endpointCols = []string{dot1dBasePortIfIndex, dot1dTpFdbPort, dot1dTpFdbStatus, dot1qTpFdbPort, dot1qTpFdbStatus, ipNetToMediaPhys, ipNetToPhysicalPhys}

// macFromIndex reads the last six components of a table index as a MAC.
func macFromIndex(ix []int) string {
	if len(ix) < 6 {
		return ""
	}
	b := make([]byte, 6)
	for i, v := range ix[len(ix)-6:] {
		if v < 0 || v > 255 {
			return ""
		}
		b[i] = byte(v)
	}
	return hexColon(b)
}

// ipFromIndex decodes ipNetToMedia (ifIndex.a.b.c.d) and ipNetToPhysical
// (ifIndex.type.len.bytes) indexes.
func ipFromIndex(ix []int, physical bool) string {
	var raw []int
	switch {
	case !physical && len(ix) == 5:
		raw = ix[1:]
	case physical && len(ix) >= 3 && len(ix) == 3+ix[2] && (ix[2] == 4 || ix[2] == 16):
		raw = ix[3:]
	default:
		return ""
	}
	b := make([]byte, len(raw))
	for i, v := range raw {
		if v < 0 || v > 255 {
			return ""
		}
		b[i] = byte(v)
	}
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return ""
	}
	return a.String()
}

// bridgeTables gathers the switch's tables for discovery.Endpoints.
func (b *builder) bridgeTables() discovery.BridgeTables {
	t := discovery.BridgeTables{Ports: map[int]discovery.Port{}, BridgePorts: map[int]int{}, Uplinks: b.st.target.Uplinks}
	names := b.ifNames()
	for _, rw := range b.r.rows(ifType) {
		idx, err := strconv.Atoi(rw.index)
		if err != nil {
			continue
		}
		typ, _ := rw.int(0)
		t.Ports[idx] = discovery.Port{IfIndex: idx, Name: names[idx], Type: int(typ)}
	}
	for idx, n := range names {
		if _, ok := t.Ports[idx]; !ok {
			t.Ports[idx] = discovery.Port{IfIndex: idx, Name: n}
		}
	}
	for _, v := range b.r.cols[dot1dBasePortIfIndex] {
		bp, err := strconv.Atoi(indexOf(v.Name, dot1dBasePortIfIndex))
		if ix, ok := asInt(v); ok && err == nil {
			t.BridgePorts[bp] = int(ix)
		}
	}
	for _, pair := range [][2]string{{dot1dTpFdbPort, dot1dTpFdbStatus}, {dot1qTpFdbPort, dot1qTpFdbStatus}} {
		for _, rw := range b.r.rows(pair[0], pair[1]) {
			port, ok := rw.int(0)
			if !ok {
				continue
			}
			st, _ := rw.int(1)
			if mac := macFromIndex(rw.indexInts()); mac != "" {
				t.FDB = append(t.FDB, discovery.FDBEntry{MAC: mac, BridgePort: int(port), Status: int(st)})
			}
		}
	}
	for _, c := range []string{ipNetToMediaPhys, ipNetToPhysicalPhys} {
		for _, rw := range b.r.rows(c) {
			mac := macString(asBytes(rw.v[0]))
			ip := ipFromIndex(rw.indexInts(), c == ipNetToPhysicalPhys)
			if mac != "" && ip != "" {
				t.ARP = append(t.ARP, discovery.ARPEntry{MAC: mac, IP: ip})
			}
		}
	}
	for _, n := range b.lldpNeighbours() {
		if n.ifIndex != 0 {
			t.LLDPPorts = append(t.LLDPPorts, n.ifIndex)
		}
		if n.chassisMAC {
			t.LLDPMACs = append(t.LLDPMACs, n.chassis)
		}
	}
	return t
}

func buildEndpoints(b *builder) {
	eps := discovery.Endpoints(b.bridgeTables())
	for _, e := range eps {
		// The endpoint tag keeps one series per device: several points of
		// one switch share a timestamp and would overwrite each other in
		// InfluxDB otherwise.
		p := b.point("discovered_endpoint", tag("endpoint", e.MAC))
		p.Fields = append(p.Fields,
			metric.Field{Key: "ip", Value: metric.String(e.IP)},
			metric.Field{Key: "mac", Value: metric.String(e.MAC)},
			metric.Field{Key: "port", Value: metric.String(e.Port)},
		)
		b.add(p)
	}
	p := b.point("snmp_endpoints")
	p.AddField("count", metric.Int(int64(len(eps))))
	b.add(p)
}
