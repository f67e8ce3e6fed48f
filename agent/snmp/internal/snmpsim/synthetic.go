package snmpsim

import (
	"fmt"

	"github.com/gosnmp/gosnmp"
)

// SyntheticSwitch returns the system group, ifTable and ifXTable of an
// access switch with the given number of gigabit ports, with counters
// varying by seed, in the shape of the recorded Aruba walk. The load
// benchmark serves thousands of these.
func SyntheticSwitch(name string, ports int, seed uint64) []gosnmp.SnmpPDU {
	var out []gosnmp.SnmpPDU
	add := func(oid string, t gosnmp.Asn1BER, v any) {
		out = append(out, gosnmp.SnmpPDU{Name: "." + oid, Type: t, Value: v})
	}
	add("1.3.6.1.2.1.1.1.0", gosnmp.OctetString, []byte("Aruba JL261A 2930F-48G-PoE+-4SFP Switch, revision WC.16.10.0012"))
	add("1.3.6.1.2.1.1.2.0", gosnmp.ObjectIdentifier, ".1.3.6.1.4.1.11.2.3.7.11.181.10")
	add("1.3.6.1.2.1.1.3.0", gosnmp.TimeTicks, uint32(123456789+seed))
	add("1.3.6.1.2.1.1.4.0", gosnmp.OctetString, []byte("it@schultraeger.example"))
	add("1.3.6.1.2.1.1.5.0", gosnmp.OctetString, []byte(name))
	add("1.3.6.1.2.1.1.6.0", gosnmp.OctetString, []byte("Serverraum"))
	add("1.3.6.1.2.1.1.7.0", gosnmp.Integer, 6)
	x := seed*2654435761 + 1
	rnd := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	for p := 1; p <= ports; p++ {
		in, outOct := rnd()%(1<<40), rnd()%(1<<40)
		e := func(col int, t gosnmp.Asn1BER, v any) { add(fmt.Sprintf("1.3.6.1.2.1.2.2.1.%d.%d", col, p), t, v) }
		e(1, gosnmp.Integer, p)
		e(2, gosnmp.OctetString, []byte(fmt.Sprint(p)))
		e(3, gosnmp.Integer, 6)
		e(5, gosnmp.Gauge32, uint(1000000000))
		e(7, gosnmp.Integer, 1)
		e(8, gosnmp.Integer, 1+int(p%3/2))
		e(9, gosnmp.TimeTicks, uint32(1000+p))
		e(10, gosnmp.Counter32, uint(in%(1<<32)))
		e(11, gosnmp.Counter32, uint((in/700)%(1<<32)))
		e(13, gosnmp.Counter32, uint(rnd()%100))
		e(14, gosnmp.Counter32, uint(rnd()%10))
		e(16, gosnmp.Counter32, uint(outOct%(1<<32)))
		e(17, gosnmp.Counter32, uint((outOct/700)%(1<<32)))
		e(19, gosnmp.Counter32, uint(rnd()%100))
		e(20, gosnmp.Counter32, uint(0))
		x1 := func(col int, t gosnmp.Asn1BER, v any) { add(fmt.Sprintf("1.3.6.1.2.1.31.1.1.1.%d.%d", col, p), t, v) }
		x1(1, gosnmp.OctetString, []byte(fmt.Sprint(p)))
		x1(6, gosnmp.Counter64, in)
		x1(7, gosnmp.Counter64, in/700)
		x1(8, gosnmp.Counter64, in/35000)
		x1(9, gosnmp.Counter64, in/14000)
		x1(10, gosnmp.Counter64, outOct)
		x1(11, gosnmp.Counter64, outOct/700)
		x1(12, gosnmp.Counter64, outOct/35000)
		x1(13, gosnmp.Counter64, outOct/14000)
		x1(15, gosnmp.Gauge32, uint(1000))
		x1(18, gosnmp.OctetString, []byte(fmt.Sprintf("Raum %d", 100+p)))
		x1(19, gosnmp.TimeTicks, uint32(0))
	}
	return out
}
