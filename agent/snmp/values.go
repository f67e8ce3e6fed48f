package snmp

import (
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// The helpers below convert gosnmp values, whose Go types depend on the
// ASN.1 type (int, uint, uint32, uint64, []byte, string), into what the
// points need.

func asUint(v gosnmp.SnmpPDU) (uint64, bool) {
	switch x := v.Value.(type) {
	case uint:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int:
		if x < 0 {
			return 0, false
		}
		return uint64(x), true
	case int64:
		if x < 0 {
			return 0, false
		}
		return uint64(x), true
	case *big.Int:
		if x.Sign() >= 0 && x.IsUint64() {
			return x.Uint64(), true
		}
	}
	return 0, false
}

func asInt(v gosnmp.SnmpPDU) (int64, bool) {
	switch x := v.Value.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case uint, uint32, uint64:
		u, _ := asUint(v)
		return int64(u), true
	case []byte:
		// Some printers send numbers as strings.
		var n int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(x)), &n); err == nil {
			return n, true
		}
	}
	return 0, false
}

func asFloat(v gosnmp.SnmpPDU) (float64, bool) {
	switch x := v.Value.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if i, ok := asInt(v); ok {
		return float64(i), true
	}
	return 0, false
}

// asString renders text values; binary octet strings (MAC addresses,
// engine IDs) become lowercase colon-separated hex.
func asString(v gosnmp.SnmpPDU) string {
	switch x := v.Value.(type) {
	case []byte:
		if printable(x) {
			// Multi-line sysDescr (Cisco) would break line protocol
			// consumers that split on newlines: keep it on one line.
			return strings.TrimSpace(oneLine.Replace(strings.TrimRight(string(x), "\x00")))
		}
		return hexColon(x)
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v.Value)
}

var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ")

func asBytes(v gosnmp.SnmpPDU) []byte {
	switch x := v.Value.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}

func printable(b []byte) bool {
	b = []byte(strings.TrimRight(string(b), "\x00"))
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

func hexColon(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, len(b)*3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// macString formats a 6-byte MAC as aa:bb:cc:dd:ee:ff, else "".
func macString(b []byte) string {
	if len(b) != 6 {
		return ""
	}
	return hexColon(b)
}
