package snmp

import (
	"strings"

	"github.com/gosnmp/gosnmp"
)

// MIB subtrees whose presence tells what a device is. One GETNEXT request
// with all of them answers every question at once.
var classMarkers = []string{
	"1.3.6.1.2.1.43",          // Printer-MIB
	"1.3.6.1.2.1.33.1",        // UPS-MIB
	"1.3.6.1.4.1.318.1.1.1",   // APC PowerNet UPS
	"1.3.6.1.2.1.17.1.2",      // BRIDGE-MIB dot1dBaseNumPorts
	"1.3.6.1.2.1.25.1",        // HOST-RESOURCES hrSystem
	"1.3.6.1.4.1.41112.1.6",   // Ubiquiti UniFi access point MIB
	"1.3.6.1.4.1.14179.2.1.1", // Cisco/Airespace WLAN (controllers and APs)
	"1.3.6.1.4.1.14823.2.3.3", // Aruba Instant AP
	"1.3.6.1.4.1.25053.1.1.2", // Ruckus ZoneFlex AP
	"1.3.6.1.2.1.4.1",         // IP-MIB ipForwarding (router when 1)
}

// enterprise prefixes of sysObjectID by class: vendors whose products at
// schools are all of one kind.
var enterpriseClass = []struct{ prefix, class string }{
	{"1.3.6.1.4.1.12356.", "router"},     // Fortinet FortiGate
	{"1.3.6.1.4.1.25461.", "router"},     // Palo Alto
	{"1.3.6.1.4.1.8741.", "router"},      // SonicWall
	{"1.3.6.1.4.1.21067.", "router"},     // Sophos
	{"1.3.6.1.4.1.2604.", "router"},      // Sophos (Cyberoam)
	{"1.3.6.1.4.1.12325.", "router"},     // pfSense/OPNsense (BSD)
	{"1.3.6.1.4.1.14988.", "router"},     // MikroTik
	{"1.3.6.1.4.1.318.", "ups"},          // APC
	{"1.3.6.1.4.1.534.", "ups"},          // Eaton Powerware
	{"1.3.6.1.4.1.705.", "ups"},          // MGE/Eaton
	{"1.3.6.1.4.1.935.", "ups"},          // PPC/Online USV
	{"1.3.6.1.4.1.1248.", "printer"},     // Epson
	{"1.3.6.1.4.1.1347.", "printer"},     // Kyocera
	{"1.3.6.1.4.1.1602.", "printer"},     // Canon
	{"1.3.6.1.4.1.2435.", "printer"},     // Brother
	{"1.3.6.1.4.1.253.", "printer"},      // Xerox
	{"1.3.6.1.4.1.367.", "printer"},      // Ricoh
	{"1.3.6.1.4.1.18334.", "printer"},    // Konica Minolta
	{"1.3.6.1.4.1.11.2.3.9.", "printer"}, // HP JetDirect
	{"1.3.6.1.4.1.311.", "server"},       // Microsoft Windows
	{"1.3.6.1.4.1.6574.", "server"},      // Synology NAS
	{"1.3.6.1.4.1.24681.", "server"},     // QNAP NAS
	{"1.3.6.1.4.1.6876.", "server"},      // VMware ESXi
}

var apDescr = []string{"uap", "u6-", "u7-", "access point", "aironet", "lancom l-", "lancom lw-", "oaw-ap", "ruckus", "zoneflex", "aruba ap", "instant on ap", "cap ac", "eap2", "eap6", "wap"}
var displayDescr = []string{"projector", "beamer", "epson ep", "display", "smart board", "promethean", "clevertouch"}

// classifyInput is what detection looks at.
type classifyInput struct {
	objectID string
	descr    string
	services int64           // -1 when unknown
	present  map[string]bool // classMarkers found
	forward  int64           // ipForwarding: 1 forwarding, 2 not, 0 unknown
}

// classify decides a device class. The order matters: printers and UPS
// cards often also run a bridge or HOST-RESOURCES, and access points are
// Linux boxes with hrSystem.
func classify(in classifyInput) string {
	d := strings.ToLower(in.descr)
	switch {
	case in.present["1.3.6.1.2.1.43"]:
		return "printer"
	case in.present["1.3.6.1.2.1.33.1"] || in.present["1.3.6.1.4.1.318.1.1.1"]:
		return "ups"
	case in.present["1.3.6.1.4.1.41112.1.6"] || in.present["1.3.6.1.4.1.14823.2.3.3"] || in.present["1.3.6.1.4.1.25053.1.1.2"]:
		return "access_point"
	}
	for _, k := range apDescr {
		if strings.Contains(d, k) {
			return "access_point"
		}
	}
	for _, e := range enterpriseClass {
		if strings.HasPrefix(in.objectID+".", e.prefix) {
			return e.class
		}
	}
	for _, k := range displayDescr {
		if strings.Contains(d, k) {
			return "display"
		}
	}
	bridge := in.present["1.3.6.1.2.1.17.1.2"]
	// sysServices bit 2 (value 2) is layer 2 (bridging), bit 3 (value 4)
	// layer 3 (routing).
	l2 := in.services >= 0 && in.services&2 != 0
	l3 := in.services >= 0 && in.services&4 != 0
	switch {
	case bridge || (l2 && strings.Contains(d, "switch")):
		return "switch"
	case l2 && !l3 && in.services&0x48 == 0:
		return "switch"
	case l3 && !l2 && in.forward == 1:
		return "router"
	case in.present["1.3.6.1.2.1.25.1"]:
		return "server"
	case l3 && in.forward == 1:
		return "router"
	}
	return "other"
}

// markerPresence turns the GETNEXT answers into the present map. An
// answer below a marker's subtree means the device implements that MIB.
func markerPresence(vars []gosnmp.SnmpPDU) (map[string]bool, int64) {
	found := map[string]bool{}
	forward := int64(0)
	for _, v := range vars {
		if !present(v) {
			continue
		}
		name := normOID(v.Name)
		for _, m := range classMarkers {
			if strings.HasPrefix(name, m+".") {
				found[m] = true
			}
		}
		if name == "1.3.6.1.2.1.4.1.0" {
			forward, _ = asInt(v)
		}
	}
	return found, forward
}
