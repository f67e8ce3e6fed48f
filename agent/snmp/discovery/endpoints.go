// Package discovery finds what runs no agent: SNMP responders in the
// configured subnets (Scan, at a bounded rate, only in those subnets), and
// the end devices (tablets, displays, PCs) plugged into a school's
// switches, counted from the switches' bridge forwarding tables and
// ARP tables (Endpoints).
//
// The package holds the logic only; the SNMP poller fetches the tables and
// supplies the probe, so this package does not depend on it.
package discovery

import (
	"sort"
	"strings"
)

// FDBEntry is one learned MAC address of a bridge forwarding table
// (BRIDGE-MIB dot1dTpFdbTable or Q-BRIDGE-MIB dot1qTpFdbTable).
type FDBEntry struct {
	MAC        string // lowercase aa:bb:cc:dd:ee:ff
	BridgePort int
	// Status as in dot1dTpFdbStatus: other(1) invalid(2) learned(3)
	// self(4) mgmt(5); 0 when unknown.
	Status int
}

// ARPEntry is one IP-to-MAC mapping (IP-MIB ipNetToMediaTable or
// ipNetToPhysicalTable).
type ARPEntry struct {
	MAC string
	IP  string
}

// Port describes one interface of the switch.
type Port struct {
	IfIndex int
	Name    string // ifName, else ifDescr
	Type    int    // ifType
}

// BridgeTables is what Endpoints needs from one switch.
type BridgeTables struct {
	Ports       map[int]Port // by ifIndex
	BridgePorts map[int]int  // dot1dBasePort -> ifIndex
	FDB         []FDBEntry
	ARP         []ARPEntry
	// LLDPPorts are ifIndexes with an LLDP neighbour (another switch, an
	// access point, a phone): their MACs are infrastructure, not end devices.
	LLDPPorts []int
	// LLDPMACs are neighbour chassis MACs.
	LLDPMACs []string
	// Uplinks are port names the administrator marked as uplinks.
	Uplinks []string
	// MaxMACsPerPort: a port that learned more MACs than this is taken
	// for an uplink to the rest of the network (default 32). A classroom
	// port with a small unmanaged switch stays well below it.
	MaxMACsPerPort int
}

// Endpoint is one end device seen on an access port.
type Endpoint struct {
	MAC  string
	IP   string // "" when no ARP entry names it
	Port string // ifName of the access port
}

// ifTypes that are never access ports: propVirtual (53), l2vlan (135),
// l3ipvlan (136), ieee8023adLag (161), softwareLoopback (24),
// tunnel (131), other (1).
var nonAccessTypes = map[int]bool{1: true, 24: true, 53: true, 131: true, 135: true, 136: true, 161: true}

// Endpoints returns the distinct end devices on access ports, sorted by
// MAC. A MAC learned on several ports (moving device) counts once, at the
// port with the most specific view (fewest MACs).
func Endpoints(t BridgeTables) []Endpoint {
	limit := t.MaxMACsPerPort
	if limit <= 0 {
		limit = 32
	}
	excluded := map[int]bool{}
	for _, ix := range t.LLDPPorts {
		excluded[ix] = true
	}
	uplink := map[string]bool{}
	for _, n := range t.Uplinks {
		uplink[n] = true
	}
	infra := map[string]bool{}
	for _, m := range t.LLDPMACs {
		infra[strings.ToLower(m)] = true
	}
	perPort := map[int]map[string]bool{}
	for _, e := range t.FDB {
		if e.Status != 0 && e.Status != 3 {
			continue // self, mgmt, invalid, static "other"
		}
		ix, ok := t.BridgePorts[e.BridgePort]
		if !ok {
			ix = e.BridgePort // many switches number bridge ports like ifIndex
		}
		if ix == 0 {
			continue
		}
		if perPort[ix] == nil {
			perPort[ix] = map[string]bool{}
		}
		perPort[ix][strings.ToLower(e.MAC)] = true
	}
	ipOf := map[string]string{}
	for _, a := range t.ARP {
		m := strings.ToLower(a.MAC)
		if cur, ok := ipOf[m]; !ok || a.IP < cur {
			ipOf[m] = a.IP // deterministic when a MAC has several IPs
		}
	}
	best := map[string]Endpoint{}
	bestCount := map[string]int{}
	for ix, macs := range perPort {
		p, known := t.Ports[ix]
		if excluded[ix] || len(macs) > limit || (known && (nonAccessTypes[p.Type] || uplink[p.Name])) {
			continue
		}
		name := p.Name
		if name == "" {
			name = itoa(ix)
		}
		for m := range macs {
			if infra[m] || m == "" || isMulticast(m) {
				continue
			}
			if c, ok := bestCount[m]; ok && c <= len(macs) {
				continue
			}
			best[m] = Endpoint{MAC: m, IP: ipOf[m], Port: name}
			bestCount[m] = len(macs)
		}
	}
	out := make([]Endpoint, 0, len(best))
	for _, e := range best {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out
}

// isMulticast: the group bit of the first octet.
func isMulticast(mac string) bool {
	if len(mac) < 2 {
		return false
	}
	var v byte
	for _, c := range mac[:2] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= byte(c - '0')
		case c >= 'a' && c <= 'f':
			v |= byte(c - 'a' + 10)
		}
	}
	return v&1 == 1
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}
