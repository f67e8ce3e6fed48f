// Package snmpsim serves recorded SNMP walks: it parses the output of
// `snmpwalk -On`, answers GET, GETNEXT and GETBULK from memory, and runs a
// UDP SNMP v1/v2c agent built on gosnmp's packet encoding that multiplexes
// many simulated devices by community. Tests use it to run the real poller
// against captured walks of school devices, and the load benchmark uses it
// to simulate thousands of switches on one loopback port.
package snmpsim

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// ParseWalkFile reads a file written by `snmpwalk -On`.
func ParseWalkFile(path string) ([]gosnmp.SnmpPDU, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open walk: %w", err)
	}
	defer f.Close()
	pdus, err := ParseWalk(f)
	if err != nil {
		return nil, fmt.Errorf("parse walk %s: %w", path, err)
	}
	return pdus, nil
}

// ParseWalk parses `snmpwalk -On` output: lines ".1.3.6… = TYPE: value",
// where long strings continue on the following lines.
func ParseWalk(r io.Reader) ([]gosnmp.SnmpPDU, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	var pdus []gosnmp.SnmpPDU
	var cur []string // the lines of the entry being read
	lineNo := 0
	flush := func() error {
		if cur == nil {
			return nil
		}
		pdu, err := parseEntry(strings.Join(cur, "\n"))
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo, err)
		}
		if pdu.Type != gosnmp.NoSuchObject && pdu.Type != gosnmp.NoSuchInstance && pdu.Type != gosnmp.EndOfMibView {
			pdus = append(pdus, pdu)
		}
		cur = nil
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.HasPrefix(line, ".") && strings.Contains(line, " = ") {
			if err := flush(); err != nil {
				return nil, err
			}
			cur = []string{line}
			continue
		}
		if cur != nil {
			cur = append(cur, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return pdus, nil
}

func parseEntry(s string) (gosnmp.SnmpPDU, error) {
	name, rest, _ := strings.Cut(s, " = ")
	pdu := gosnmp.SnmpPDU{Name: name}
	typ, val, ok := strings.Cut(rest, ": ")
	if !ok {
		switch {
		case rest == `""`:
			pdu.Type, pdu.Value = gosnmp.OctetString, []byte{}
			return pdu, nil
		case strings.HasPrefix(rest, "No Such Instance"):
			pdu.Type = gosnmp.NoSuchInstance
			return pdu, nil
		case strings.HasPrefix(rest, "No Such Object"):
			pdu.Type = gosnmp.NoSuchObject
			return pdu, nil
		case strings.HasPrefix(rest, "No more variables"):
			pdu.Type = gosnmp.EndOfMibView
			return pdu, nil
		case strings.HasSuffix(rest, ":"): // "STRING:" with an empty value
			pdu.Type, pdu.Value = gosnmp.OctetString, []byte{}
			return pdu, nil
		}
		return pdu, fmt.Errorf("%s: no type in %q", name, rest)
	}
	var err error
	switch typ {
	case "STRING":
		pdu.Type = gosnmp.OctetString
		v := strings.TrimSuffix(strings.TrimPrefix(val, `"`), `"`)
		v = strings.ReplaceAll(v, `\"`, `"`)
		pdu.Value = []byte(v)
	case "Hex-STRING":
		pdu.Type = gosnmp.OctetString
		pdu.Value, err = hex.DecodeString(strings.Join(strings.Fields(val), ""))
	case "INTEGER":
		pdu.Type = gosnmp.Integer
		// Without MIBs enums print as numbers; with them as "name(3)".
		if i := strings.IndexByte(val, '('); i >= 0 {
			val = strings.TrimSuffix(val[i+1:], ")")
		}
		pdu.Value, err = strconv.Atoi(strings.TrimSpace(val))
	case "Counter32", "Gauge32":
		pdu.Type = gosnmp.Counter32
		if typ == "Gauge32" {
			pdu.Type = gosnmp.Gauge32
		}
		var u uint64
		u, err = strconv.ParseUint(strings.TrimSpace(val), 10, 32)
		pdu.Value = uint(u)
	case "Counter64":
		pdu.Type = gosnmp.Counter64
		pdu.Value, err = strconv.ParseUint(strings.TrimSpace(val), 10, 64)
	case "Timeticks":
		pdu.Type = gosnmp.TimeTicks
		v := strings.TrimPrefix(val, "(")
		v, _, _ = strings.Cut(v, ")")
		var u uint64
		u, err = strconv.ParseUint(v, 10, 32)
		pdu.Value = uint32(u)
	case "OID":
		pdu.Type = gosnmp.ObjectIdentifier
		pdu.Value = strings.TrimSpace(val)
	case "IpAddress":
		pdu.Type = gosnmp.IPAddress
		pdu.Value = strings.TrimSpace(val)
	default:
		return pdu, fmt.Errorf("%s: unsupported type %q", name, typ)
	}
	if err != nil {
		return pdu, fmt.Errorf("%s: %s value %q: %w", name, typ, val, err)
	}
	return pdu, nil
}

// OID is a parsed object identifier.
type OID []uint32

// ParseOID parses ".1.3.6…" or "1.3.6…".
func ParseOID(s string) (OID, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, fmt.Errorf("empty OID")
	}
	parts := strings.Split(s, ".")
	o := make(OID, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("OID %q: %w", s, err)
		}
		o[i] = uint32(n)
	}
	return o, nil
}

// Compare orders OIDs lexicographically, as SNMP does.
func (a OID) Compare(b OID) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// Device is one simulated SNMP agent: a sorted, read-only table of values.
type Device struct {
	oids []OID
	pdus []gosnmp.SnmpPDU
}

// NewDevice builds a device from recorded values (any order).
func NewDevice(pdus []gosnmp.SnmpPDU) (*Device, error) {
	d := &Device{oids: make([]OID, len(pdus)), pdus: make([]gosnmp.SnmpPDU, len(pdus))}
	idx := make([]int, len(pdus))
	parsed := make([]OID, len(pdus))
	for i, p := range pdus {
		o, err := ParseOID(p.Name)
		if err != nil {
			return nil, err
		}
		parsed[i] = o
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return parsed[idx[a]].Compare(parsed[idx[b]]) < 0 })
	for i, j := range idx {
		d.oids[i] = parsed[j]
		d.pdus[i] = pdus[j]
		if !strings.HasPrefix(d.pdus[i].Name, ".") {
			d.pdus[i].Name = "." + d.pdus[i].Name
		}
	}
	return d, nil
}

// LoadDevice reads a walk file into a device.
func LoadDevice(path string) (*Device, error) {
	pdus, err := ParseWalkFile(path)
	if err != nil {
		return nil, err
	}
	return NewDevice(pdus)
}

// PDUs returns the device's values in OID order.
func (d *Device) PDUs() []gosnmp.SnmpPDU { return d.pdus }

// Get answers a GET for one OID.
func (d *Device) Get(name string) gosnmp.SnmpPDU {
	o, err := ParseOID(name)
	if err != nil {
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.NoSuchObject}
	}
	i := sort.Search(len(d.oids), func(i int) bool { return d.oids[i].Compare(o) >= 0 })
	if i < len(d.oids) && d.oids[i].Compare(o) == 0 {
		return d.pdus[i]
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.NoSuchInstance}
}

// Next answers a GETNEXT for one OID.
func (d *Device) Next(name string) gosnmp.SnmpPDU {
	o, err := ParseOID(name)
	if err != nil {
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}
	}
	i := sort.Search(len(d.oids), func(i int) bool { return d.oids[i].Compare(o) > 0 })
	if i < len(d.oids) {
		return d.pdus[i]
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}
}

// Bulk answers a GETBULK (RFC 3416 4.2.3): non-repeaters get one next
// value each, the rest maxReps values each, interleaved by repetition.
// limit caps the number of varbinds, as an agent does to fit its message size.
func (d *Device) Bulk(names []string, nonRepeaters, maxReps, limit int) []gosnmp.SnmpPDU {
	if nonRepeaters > len(names) {
		nonRepeaters = len(names)
	}
	out := make([]gosnmp.SnmpPDU, 0, min(limit, nonRepeaters+(len(names)-nonRepeaters)*maxReps))
	for _, n := range names[:nonRepeaters] {
		out = append(out, d.Next(n))
	}
	rep := names[nonRepeaters:]
	pos := make([]int, len(rep))
	for j, n := range rep {
		o, err := ParseOID(n)
		if err != nil {
			pos[j] = len(d.oids)
			continue
		}
		pos[j] = sort.Search(len(d.oids), func(i int) bool { return d.oids[i].Compare(o) > 0 })
	}
	for r := 0; r < maxReps; r++ {
		allEnd := true
		for j := range rep {
			if len(out) >= limit {
				return out
			}
			if pos[j] < len(d.oids) {
				out = append(out, d.pdus[pos[j]])
				pos[j]++
				allEnd = false
			} else {
				out = append(out, gosnmp.SnmpPDU{Name: rep[j], Type: gosnmp.EndOfMibView})
			}
		}
		if allEnd {
			break
		}
	}
	return out
}
