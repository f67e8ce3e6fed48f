package snmp

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// A profile names the OIDs one aspect of a device needs and turns the
// fetched values into points. All profiles of a target are fetched
// together: their scalars in one GET, their table columns in shared
// GETBULK requests.
type profile struct {
	scalars []string
	columns func(st *targetState) []string
	build   func(b *builder)
}

// OIDs, numeric so that no MIB files are needed.
const (
	oidSysDescr    = "1.3.6.1.2.1.1.1.0"
	oidSysObjectID = "1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"
	oidSysContact  = "1.3.6.1.2.1.1.4.0"
	oidSysName     = "1.3.6.1.2.1.1.5.0"
	oidSysLocation = "1.3.6.1.2.1.1.6.0"
	oidSysServices = "1.3.6.1.2.1.1.7.0"

	ifEntry  = "1.3.6.1.2.1.2.2.1."
	ifXEntry = "1.3.6.1.2.1.31.1.1.1."
)

var systemScalars = []string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysContact, oidSysName, oidSysLocation, oidSysServices}

var builtinProfiles = map[string]*profile{
	"system":     {build: buildSystem},
	"interfaces": {columns: ifColumns, build: buildInterfaces},
	"host":       {columns: constCols(hrStorageCols...).and(hrProcessorLoad).cols, build: buildHost},
	"poe":        {columns: constCols(pethPortCols...).and(pethMainCols...).and(ifName, ifDescr).cols, build: buildPoE},
	"printer":    {columns: constCols(printerCols...).cols, build: buildPrinter},
	"ups":        {scalars: upsScalars, columns: constCols(upsCols...).cols, build: buildUPS},
	"lldp":       {columns: constCols(lldpCols...).and(ifName, ifDescr).cols, build: buildLLDP},
	"sensors":    {columns: constCols(sensorCols...).cols, build: buildSensors},
	"endpoints":  {columns: constCols(endpointCols...).and(lldpCols...).and(ifName, ifDescr, ifType).cols, build: buildEndpoints},
}

// ProfileNames lists the built-in profiles.
func ProfileNames() []string {
	out := make([]string, 0, len(builtinProfiles))
	for k := range builtinProfiles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// defaultProfiles are polled when a target lists none.
var defaultProfiles = map[string][]string{
	"switch":       {"system", "interfaces", "poe", "lldp", "sensors", "endpoints"},
	"router":       {"system", "interfaces", "lldp", "sensors", "host"},
	"access_point": {"system", "interfaces", "lldp", "host"},
	"server":       {"system", "interfaces", "host"},
	"printer":      {"system", "interfaces", "printer"},
	"ups":          {"system", "interfaces", "ups"},
}

func profilesFor(class string) []string {
	if p, ok := defaultProfiles[class]; ok {
		return p
	}
	return []string{"system", "interfaces"}
}

type colList []string

func constCols(c ...string) colList { return colList(c) }
func (c colList) and(more ...string) colList {
	return append(append(colList{}, c...), more...)
}

// Satisfy profile.columns with a fixed list.
func (c colList) cols(*targetState) []string { return c }

// ---- system ----

func buildSystem(b *builder) {
	p := b.point("snmp_system")
	f := fields{&p}
	for _, s := range []struct{ k, oid string }{
		{"sysDescr", oidSysDescr}, {"sysName", oidSysName}, {"sysLocation", oidSysLocation}, {"sysContact", oidSysContact},
	} {
		if v, ok := b.r.scalar(s.oid); ok {
			f.str(s.k, asString(v))
		}
	}
	if v, ok := b.r.scalar(oidSysObjectID); ok {
		f.str("sysObjectID", normOID(asString(v)))
	}
	if v, ok := b.r.scalar(oidSysUpTime); ok {
		u, ok := asUint(v)
		f.uint("sysUpTime", u, ok)
		f.float("uptime_s", float64(u)/100, ok)
	}
	if v, ok := b.r.scalar(oidSysServices); ok {
		n, ok := asInt(v)
		f.int("sysServices", n, ok)
	}
	b.add(p)
}

// ---- interfaces (IF-MIB) ----

const (
	ifDescr       = ifEntry + "2"
	ifType        = ifEntry + "3"
	ifSpeed       = ifEntry + "5"
	ifAdminStatus = ifEntry + "7"
	ifOperStatus  = ifEntry + "8"
	ifLastChange  = ifEntry + "9"
	ifInOctets    = ifEntry + "10"
	ifInUcast     = ifEntry + "11"
	ifInDiscards  = ifEntry + "13"
	ifInErrors    = ifEntry + "14"
	ifOutOctets   = ifEntry + "16"
	ifOutUcast    = ifEntry + "17"
	ifOutDiscards = ifEntry + "19"
	ifOutErrors   = ifEntry + "20"

	ifName          = ifXEntry + "1"
	ifHCInOctets    = ifXEntry + "6"
	ifHCInUcast     = ifXEntry + "7"
	ifHCInMulticast = ifXEntry + "8"
	ifHCInBroadcast = ifXEntry + "9"
	ifHCOutOctets   = ifXEntry + "10"
	ifHCOutUcast    = ifXEntry + "11"
	ifHCOutMcast    = ifXEntry + "12"
	ifHCOutBcast    = ifXEntry + "13"
	ifHighSpeed     = ifXEntry + "15"
	ifAlias         = ifXEntry + "18"
	ifDiscontinuity = ifXEntry + "19"
)

var ifBaseCols = []string{ifDescr, ifType, ifAdminStatus, ifOperStatus, ifLastChange, ifInDiscards, ifInErrors, ifOutDiscards, ifOutErrors, ifName, ifAlias, ifHighSpeed}
var ifHCCols = []string{ifHCInOctets, ifHCOutOctets, ifHCInUcast, ifHCOutUcast, ifHCInMulticast, ifHCInBroadcast, ifHCOutMcast, ifHCOutBcast, ifDiscontinuity}
var if32Cols = []string{ifSpeed, ifInOctets, ifOutOctets, ifInUcast, ifOutUcast}

// ifColumns asks for 64-bit counters, and for the 32-bit ones only until
// the device has shown that it has the 64-bit ones (and always on v1,
// which cannot carry Counter64).
func ifColumns(st *targetState) []string {
	cols := append([]string{}, ifBaseCols...)
	if st.hc >= 0 && !st.v1 {
		cols = append(cols, ifHCCols...)
	}
	if st.hc <= 0 {
		cols = append(cols, if32Cols...)
	}
	return cols
}

// Column positions in the row built by buildInterfaces.
var ifAllCols = append(append(append([]string{}, ifBaseCols...), ifHCCols...), if32Cols...)

var ifRawNames = map[string]string{
	ifInDiscards: "ifInDiscards", ifInErrors: "ifInErrors", ifOutDiscards: "ifOutDiscards", ifOutErrors: "ifOutErrors",
	ifHCInOctets: "ifHCInOctets", ifHCOutOctets: "ifHCOutOctets", ifHCInUcast: "ifHCInUcastPkts", ifHCOutUcast: "ifHCOutUcastPkts",
	ifHCInMulticast: "ifHCInMulticastPkts", ifHCInBroadcast: "ifHCInBroadcastPkts", ifHCOutMcast: "ifHCOutMulticastPkts", ifHCOutBcast: "ifHCOutBroadcastPkts",
	ifInOctets: "ifInOctets", ifOutOctets: "ifOutOctets", ifInUcast: "ifInUcastPkts", ifOutUcast: "ifOutUcastPkts",
}

// ifPos maps a column to its position in ifAllCols.
var ifPos = func() map[string]int {
	m := make(map[string]int, len(ifAllCols))
	for i, c := range ifAllCols {
		m[c] = i
	}
	return m
}()

func buildInterfaces(b *builder) {
	c := func(x string) int { return ifPos[x] }
	rows := b.r.rows(ifAllCols...)
	uptime, haveUptime := uint64(0), false
	if v, ok := b.r.scalar(oidSysUpTime); ok {
		uptime, haveUptime = asUint(v)
	}
	sawHC := false
	seen := make(map[int]bool, len(rows))
	for _, rw := range rows {
		idx, err := strconv.Atoi(rw.index)
		if err != nil {
			continue
		}
		name := rw.str(c(ifName))
		if name == "" {
			name = rw.str(c(ifDescr))
		}
		p := b.point("snmp_if", tag("ifIndex", rw.index), tag("ifName", name))
		f := fields{&p}
		f.strIf("ifDescr", rw.str(c(ifDescr)))
		f.strIf("ifAlias", rw.str(c(ifAlias)))
		n, ok := rw.int(c(ifType))
		f.int("ifType", n, ok)
		n, ok = rw.int(c(ifAdminStatus))
		f.int("ifAdminStatus", n, ok)
		n, ok = rw.int(c(ifOperStatus))
		f.int("ifOperStatus", n, ok)
		prev := b.st.ifs[idx]
		cur := ifCounters{t: b.t}
		// A port that flaps between two polls may look "up" at both:
		// ifLastChange moving tells that its status changed meanwhile.
		if lc, ok := rw.uint(c(ifLastChange)); ok {
			f.uint("ifLastChange", lc, true)
			cur.lastChange, cur.haveLastChange = lc, true
			if haveUptime && uptime >= lc {
				f.float("last_change_s", float64(uptime-lc)/100, true)
			}
			if prev.haveLastChange {
				changed := int64(0)
				if lc != prev.lastChange {
					changed = 1
				}
				f.int("status_changed", changed, true)
			}
		}
		speed := 0.0
		if u, ok := rw.uint(c(ifHighSpeed)); ok {
			f.uint("ifHighSpeed", u, true)
			speed = float64(u) * 1e6
		}
		if u, ok := rw.uint(c(ifSpeed)); ok {
			f.uint("ifSpeed", u, true)
			if speed == 0 || (u < math.MaxUint32 && float64(u) > speed) {
				speed = float64(u)
			}
		}
		for _, col := range append(append([]string{ifInDiscards, ifInErrors, ifOutDiscards, ifOutErrors}, ifHCCols[:8]...), if32Cols[1:]...) {
			u, ok := rw.uint(c(col))
			f.uint(ifRawNames[col], u, ok)
		}
		// Rates from the 64-bit counters where the row has them.
		if in, ok1 := rw.uint(c(ifHCInOctets)); ok1 {
			if out, ok2 := rw.uint(c(ifHCOutOctets)); ok2 {
				cur.in, cur.out, cur.bits, cur.valid = in, out, 64, true
				sawHC = true
			}
		}
		if !cur.valid {
			in, ok1 := rw.uint(c(ifInOctets))
			out, ok2 := rw.uint(c(ifOutOctets))
			if ok1 && ok2 {
				cur.in, cur.out, cur.bits, cur.valid = in, out, 32, true
			}
		}
		if d, ok := rw.uint(c(ifDiscontinuity)); ok {
			cur.discontinuity = d
		}
		if cur.valid {
			f.int("counter_bits", int64(cur.bits), true)
			if inBps, outBps, ok := ifRates(prev, cur, speed); ok {
				f.float("in_bps", inBps, true)
				f.float("out_bps", outBps, true)
				if speed > 0 {
					f.float("in_util_pct", inBps/speed*100, true)
					f.float("out_util_pct", outBps/speed*100, true)
				}
			}
		}
		b.st.ifs[idx] = cur
		seen[idx] = true
		b.add(p)
	}
	for idx := range b.st.ifs {
		if !seen[idx] {
			delete(b.st.ifs, idx) // interface gone: forget its counters
		}
	}
	if len(rows) > 0 && b.st.hc == 0 {
		if sawHC {
			b.st.hc = 1
		} else {
			b.st.hc = -1
		}
	}
}

// ---- host resources (HOST-RESOURCES-MIB) ----

const (
	hrStorageEntry  = "1.3.6.1.2.1.25.2.3.1."
	hrProcessorLoad = "1.3.6.1.2.1.25.3.3.1.2"
)

var hrStorageCols = []string{hrStorageEntry + "2", hrStorageEntry + "3", hrStorageEntry + "4", hrStorageEntry + "5", hrStorageEntry + "6"}

var hrStorageTypes = map[string]string{
	"1.3.6.1.2.1.25.2.1.1": "other", "1.3.6.1.2.1.25.2.1.2": "ram", "1.3.6.1.2.1.25.2.1.3": "virtual_memory",
	"1.3.6.1.2.1.25.2.1.4": "fixed_disk", "1.3.6.1.2.1.25.2.1.5": "removable_disk", "1.3.6.1.2.1.25.2.1.6": "floppy_disk",
	"1.3.6.1.2.1.25.2.1.7": "compact_disc", "1.3.6.1.2.1.25.2.1.8": "ram_disk", "1.3.6.1.2.1.25.2.1.9": "flash_memory",
	"1.3.6.1.2.1.25.2.1.10": "network_disk",
}

func buildHost(b *builder) {
	for _, rw := range b.r.rows(hrStorageCols...) {
		typ := hrStorageTypes[normOID(rw.str(0))]
		if typ == "" {
			typ = "other"
		}
		p := b.point("snmp_hr_storage", tag("storage", rw.str(1)), tag("type", typ), tag("index", rw.index))
		f := fields{&p}
		unit, ok1 := rw.int(2)
		size, ok2 := rw.int(3)
		used, ok3 := rw.int(4)
		if ok1 && ok2 && ok3 && unit > 0 && size >= 0 && used >= 0 {
			f.int("alloc_unit_bytes", unit, true)
			f.int("size_bytes", size*unit, true)
			f.int("used_bytes", used*unit, true)
			f.int("free_bytes", (size-used)*unit, true)
			if size > 0 {
				f.float("used_pct", float64(used)/float64(size)*100, true)
			}
		}
		b.add(p)
	}
	var sum, maxLoad float64
	n := 0
	for _, v := range b.r.cols[hrProcessorLoad] {
		if x, ok := asFloat(v); ok {
			sum += x
			maxLoad = max(maxLoad, x)
			n++
		}
	}
	if n > 0 {
		p := b.point("snmp_hr_cpu")
		f := fields{&p}
		f.float("load_avg_pct", sum/float64(n), true)
		f.float("load_max_pct", maxLoad, true)
		f.int("cpus", int64(n), true)
		b.add(p)
	}
}

// ---- PoE (POWER-ETHERNET-MIB, RFC 3621) ----

const (
	pethPortEntry = "1.3.6.1.2.1.105.1.1.1."
	pethMainEntry = "1.3.6.1.2.1.105.1.3.1.1."
)

var pethPortCols = []string{pethPortEntry + "3", pethPortEntry + "6", pethPortEntry + "7", pethPortEntry + "10"}
var pethMainCols = []string{pethMainEntry + "2", pethMainEntry + "3", pethMainEntry + "4", pethMainEntry + "5"}

var poeDetection = map[int64]string{1: "disabled", 2: "searching", 3: "delivering_power", 4: "fault", 5: "test", 6: "other_fault"}
var poePriority = map[int64]string{1: "critical", 2: "high", 3: "low"}

func buildPoE(b *builder) {
	names := b.ifNames()
	for _, rw := range b.r.rows(pethPortCols...) {
		ix := rw.indexInts()
		if len(ix) != 2 {
			continue
		}
		// Most switches number PSE ports like their ifIndex within group 1.
		p := b.point("snmp_poe_port", tag("poe_port", rw.index), tag("ifName", names[ix[1]]))
		f := fields{&p}
		if n, ok := rw.int(0); ok {
			f.bool("admin_enabled", n == 1)
		}
		if n, ok := rw.int(1); ok {
			f.int("detection_status", n, true)
			f.strIf("detection", poeDetection[n])
			f.bool("delivering", n == 3)
		}
		if n, ok := rw.int(2); ok {
			f.strIf("priority", poePriority[n])
		}
		if n, ok := rw.int(3); ok {
			f.int("power_class", n-1, n >= 1) // class0(1) … class4(5)
		}
		b.add(p)
	}
	for _, rw := range b.r.rows(pethMainCols...) {
		p := b.point("snmp_poe", tag("pse", rw.index))
		f := fields{&p}
		budget, ok1 := rw.uint(0)
		f.uint("power_budget_w", budget, ok1)
		if n, ok := rw.int(1); ok {
			f.int("oper_status", n, true) // on(1) off(2) faulty(3)
		}
		used, ok2 := rw.uint(2)
		f.uint("power_consumption_w", used, ok2)
		th, ok := rw.int(3)
		f.int("usage_threshold_pct", th, ok)
		if ok1 && ok2 && budget > 0 {
			f.float("usage_pct", float64(used)/float64(budget)*100, true)
		}
		b.add(p)
	}
}

// ifNames maps ifIndex to ifName (else ifDescr) from whatever the poll
// fetched.
func (b *builder) ifNames() map[int]string {
	if b.st.names != nil && b.st.namesAt.Equal(b.t) {
		return b.st.names
	}
	m := map[int]string{}
	for _, rw := range b.r.rows(ifName, ifDescr) {
		idx, err := strconv.Atoi(rw.index)
		if err != nil {
			continue
		}
		if s := rw.str(0); s != "" {
			m[idx] = s
		} else {
			m[idx] = rw.str(1)
		}
	}
	if len(m) == 0 && b.st.names != nil {
		return b.st.names // profile without interface columns: last known
	}
	b.st.names, b.st.namesAt = m, b.t
	return m
}

// ---- printers (Printer-MIB, RFC 3805; HOST-RESOURCES hrPrinterTable) ----

const (
	hrPrinterStatus     = "1.3.6.1.2.1.25.3.5.1.1"
	hrPrinterErrorState = "1.3.6.1.2.1.25.3.5.1.2"
	hrDeviceStatus      = "1.3.6.1.2.1.25.3.2.1.5"
	prtMarkerLifeCount  = "1.3.6.1.2.1.43.10.2.1.4"
	prtGeneralName      = "1.3.6.1.2.1.43.5.1.1.16"
	prtGeneralSerial    = "1.3.6.1.2.1.43.5.1.1.17"
	prtSupplyEntry      = "1.3.6.1.2.1.43.11.1.1."
	prtColorantValue    = "1.3.6.1.2.1.43.12.1.1.4"
)

var prtSupplyCols = []string{prtSupplyEntry + "3", prtSupplyEntry + "4", prtSupplyEntry + "5", prtSupplyEntry + "6", prtSupplyEntry + "7", prtSupplyEntry + "8", prtSupplyEntry + "9"}
var printerCols = append([]string{hrPrinterStatus, hrPrinterErrorState, hrDeviceStatus, prtMarkerLifeCount, prtGeneralName, prtGeneralSerial, prtColorantValue}, prtSupplyCols...)

var printerStatus = map[int64]string{1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"}
var deviceStatus = map[int64]string{1: "unknown", 2: "running", 3: "warning", 4: "testing", 5: "down"}

// hrPrinterDetectedErrorState bits, most significant bit of the first
// octet first (RFC 3805 section 2.2.13.2).
var printerErrorBits = []string{"low_paper", "no_paper", "low_toner", "no_toner", "door_open", "jammed", "offline", "service_requested",
	"input_tray_missing", "output_tray_missing", "marker_supply_missing", "output_near_full", "output_full", "input_tray_empty", "overdue_prevent_maint"}

var supplyTypes = []string{"", "other", "unknown", "toner", "waste_toner", "ink", "ink_cartridge", "ink_ribbon", "waste_ink", "opc", "developer",
	"fuser_oil", "solid_wax", "ribbon_wax", "waste_wax", "fuser", "corona_wire", "fuser_oil_wick", "cleaner_unit", "fuser_cleaning_pad",
	"transfer_unit", "toner_cartridge", "fuser_oiler", "water", "waste_water", "glue_water_additive", "waste_paper", "binding_supply",
	"banding_supply", "stitching_wire", "shrink_wrap", "paper_wrap", "staples", "inserts", "covers"}

var supplyUnits = map[int64]string{3: "tenthousandths_inch", 4: "micrometers", 7: "impressions", 8: "sheets", 11: "hours", 12: "thousandths_ounce",
	13: "tenths_gram", 14: "hundredths_fluid_ounce", 15: "tenths_ml", 16: "feet", 17: "meters", 18: "items", 19: "percent"}

// LowSupplyPct is the remaining level at or below which a consumable is "low".
const LowSupplyPct = 10

func printerErrors(b []byte) []string {
	var out []string
	for i, name := range printerErrorBits {
		if i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0 {
			out = append(out, name)
		}
	}
	return out
}

func buildPrinter(b *builder) {
	status := b.r.rows(hrPrinterStatus, hrPrinterErrorState, hrDeviceStatus)
	if len(status) == 0 && len(b.r.cols[prtMarkerLifeCount]) == 0 && len(b.r.cols[prtSupplyEntry+"6"]) == 0 {
		return // not a printer
	}
	p := b.point("snmp_printer")
	f := fields{&p}
	for _, rw := range status {
		if !rw.has(0) {
			continue // an hrDevice that is not a printer
		}
		n, _ := rw.int(0)
		f.int("status", n, true)
		f.strIf("status_text", printerStatus[n])
		if d, ok := rw.int(2); ok {
			f.int("device_status", d, true)
			f.strIf("device_status_text", deviceStatus[d])
		}
		errs := printerErrors(asBytes(rw.v[1]))
		f.str("errors", strings.Join(errs, ","))
		f.int("error_count", int64(len(errs)), true)
		break // the first printer device; multi-engine printers are rare at schools
	}
	var pages uint64
	havePages := false
	for _, v := range b.r.cols[prtMarkerLifeCount] {
		if u, ok := asUint(v); ok {
			pages += u
			havePages = true
		}
	}
	f.uint("page_count", pages, havePages)
	if v := b.r.cols[prtGeneralName]; len(v) > 0 {
		f.strIf("printer_name", asString(v[0]))
	}
	if v := b.r.cols[prtGeneralSerial]; len(v) > 0 {
		f.strIf("serial", asString(v[0]))
	}
	colorants := map[string]string{}
	for _, v := range b.r.cols[prtColorantValue] {
		colorants[indexOf(v.Name, prtColorantValue)] = asString(v)
	}
	low := 0
	for _, rw := range b.r.rows(prtSupplyCols...) {
		descr := rw.str(3)
		sp := b.point("snmp_printer_supply", tag("supply", descr), tag("supply_index", rw.index))
		sf := fields{&sp}
		sf.strIf("description", descr)
		if t, ok := rw.int(2); ok {
			sf.int("type", t, true)
			if t > 0 && int(t) < len(supplyTypes) {
				sf.str("type_name", supplyTypes[t])
			}
		}
		if ci, ok := rw.int(0); ok && ci > 0 {
			if ix := rw.indexInts(); len(ix) == 2 {
				sf.strIf("colorant", colorants[strconv.Itoa(ix[0])+"."+strconv.FormatInt(ci, 10)])
			}
		}
		if u, ok := rw.int(4); ok {
			sf.strIf("unit", supplyUnits[u])
		}
		class, _ := rw.int(1) // supplyThatIsConsumed(3), receptacleThatIsFilled(4)
		filled := class == 4
		sf.strIf("supply_class", map[int64]string{3: "consumed", 4: "filled"}[class])
		maxCap, ok1 := rw.int(5)
		level, ok2 := rw.int(6)
		sf.int("max_capacity", maxCap, ok1)
		sf.int("level", level, ok2)
		state := "unknown"
		switch {
		case ok1 && ok2 && maxCap > 0 && level >= 0:
			pct := float64(level) / float64(maxCap) * 100
			sf.float("level_pct", pct, true)
			switch {
			case filled && pct >= 100:
				state = "full"
			case filled:
				state = "ok"
			case level == 0:
				state = "empty"
			case pct <= LowSupplyPct:
				state = "low"
			default:
				state = "ok"
			}
		case ok2 && level == -3:
			state = "some_remaining"
		}
		if state == "low" || state == "empty" || state == "full" {
			low++
		}
		sf.str("state", state)
		b.add(sp)
	}
	f.int("supplies_attention", int64(low), true)
	b.add(p)
}

// ---- UPS (UPS-MIB, RFC 1628) ----

const upsBase = "1.3.6.1.2.1.33.1."

var upsScalars = []string{
	upsBase + "1.1.0", upsBase + "1.2.0", // manufacturer, model
	upsBase + "2.1.0", upsBase + "2.2.0", upsBase + "2.3.0", upsBase + "2.4.0", upsBase + "2.5.0", upsBase + "2.7.0",
	upsBase + "3.1.0", upsBase + "4.1.0", upsBase + "4.2.0", upsBase + "6.1.0",
}
var upsCols = []string{upsBase + "3.3.1.2", upsBase + "3.3.1.3", upsBase + "4.4.1.2", upsBase + "4.4.1.3", upsBase + "4.4.1.4", upsBase + "4.4.1.5"}

var upsBatteryStatus = map[int64]string{1: "unknown", 2: "normal", 3: "low", 4: "depleted"}
var upsOutputSource = map[int64]string{1: "other", 2: "none", 3: "normal", 4: "bypass", 5: "battery", 6: "booster", 7: "reducer"}

func buildUPS(b *builder) {
	sc := func(s string) (int64, bool) {
		v, ok := b.r.scalar(upsBase + s)
		if !ok {
			return 0, false
		}
		return asInt(v)
	}
	if _, ok := sc("2.1.0"); !ok {
		if _, ok := sc("4.1.0"); !ok {
			return // no UPS-MIB
		}
	}
	p := b.point("snmp_ups")
	f := fields{&p}
	if v, ok := b.r.scalar(upsBase + "1.1.0"); ok {
		f.strIf("manufacturer", asString(v))
	}
	if v, ok := b.r.scalar(upsBase + "1.2.0"); ok {
		f.strIf("model", asString(v))
	}
	bs, ok := sc("2.1.0")
	f.int("battery_status", bs, ok)
	if ok {
		f.strIf("battery_status_text", upsBatteryStatus[bs])
	}
	secs, okSecs := sc("2.2.0")
	f.int("seconds_on_battery", secs, okSecs)
	n, ok := sc("2.3.0")
	f.int("minutes_remaining", n, ok)
	n, ok = sc("2.4.0")
	f.int("charge_pct", n, ok)
	n, ok = sc("2.5.0")
	f.float("battery_voltage_v", float64(n)/10, ok)
	n, ok = sc("2.7.0")
	f.int("battery_temp_c", n, ok)
	n, ok = sc("3.1.0")
	f.int("input_line_bads", n, ok)
	src, okSrc := sc("4.1.0")
	f.int("output_source", src, okSrc)
	if okSrc {
		f.strIf("output_source_text", upsOutputSource[src])
	}
	n, ok = sc("4.2.0")
	f.float("output_frequency_hz", float64(n)/10, ok)
	n, ok = sc("6.1.0")
	f.int("alarms_present", n, ok)
	if okSrc || okSecs {
		f.bool("on_battery", (okSrc && src == 5) || (okSecs && secs > 0))
	}
	// Per-line values: the lowest input voltage (a failing phase shows),
	// the highest load, the sum of output power.
	in := b.r.rows(upsCols[0], upsCols[1])
	minV, haveV := math.MaxFloat64, false
	for _, rw := range in {
		if v, ok := rw.int(1); ok {
			minV, haveV = math.Min(minV, float64(v)), true
		}
		if hz, ok := rw.int(0); ok {
			f.float("input_frequency_hz", float64(hz)/10, true)
			break
		}
	}
	f.float("input_voltage_v", minV, haveV)
	var outV, load, power float64
	var haveOut, haveLoad, havePower bool
	for _, rw := range b.r.rows(upsCols[2:]...) {
		if v, ok := rw.int(0); ok && !haveOut {
			outV, haveOut = float64(v), true
		}
		if v, ok := rw.int(1); ok {
			f.float("output_current_a", float64(v)/10, !haveLoad && !havePower)
		}
		if v, ok := rw.int(2); ok {
			power += float64(v)
			havePower = true
		}
		if v, ok := rw.int(3); ok {
			load = math.Max(load, float64(v))
			haveLoad = true
		}
	}
	f.float("output_voltage_v", outV, haveOut)
	f.float("output_power_w", power, havePower)
	f.float("output_load_pct", load, haveLoad)
	b.add(p)
}

// ---- LLDP-MIB neighbours ----

const (
	lldpRemEntry = "1.0.8802.1.1.2.1.4.1.1."
	lldpLocPort  = "1.0.8802.1.1.2.1.3.7.1."
)

var lldpCols = []string{lldpRemEntry + "4", lldpRemEntry + "5", lldpRemEntry + "6", lldpRemEntry + "7", lldpRemEntry + "8", lldpRemEntry + "9", lldpRemEntry + "10", lldpLocPort + "3", lldpLocPort + "4"}

type lldpNeighbour struct {
	localPort  int // lldpRemLocalPortNum
	ifIndex    int // 0 if unknown
	ifName     string
	chassis    string
	chassisMAC bool
	portID     string
	portDesc   string
	sysName    string
	sysDesc    string
}

// lldpNeighbours decodes lldpRemTable and maps each local port number to
// an interface: by lldpLocPortId/Desc matching ifName or ifDescr, else by
// assuming the port number is the ifIndex (true for most switches).
func (b *builder) lldpNeighbours() []lldpNeighbour {
	names := b.ifNames()
	byName := map[string]int{}
	for idx, n := range names {
		byName[n] = idx
	}
	for _, rw := range b.r.rows(ifDescr) {
		if idx, err := strconv.Atoi(rw.index); err == nil {
			if s := rw.str(0); s != "" {
				if _, dup := byName[s]; !dup {
					byName[s] = idx
				}
			}
		}
	}
	locIf := map[int]int{}
	for _, rw := range b.r.rows(lldpLocPort+"3", lldpLocPort+"4") {
		pn, err := strconv.Atoi(rw.index)
		if err != nil {
			continue
		}
		for _, s := range []string{rw.str(0), rw.str(1)} {
			if idx, ok := byName[s]; ok && s != "" {
				locIf[pn] = idx
				break
			}
		}
	}
	var out []lldpNeighbour
	for _, rw := range b.r.rows(lldpCols[:7]...) {
		ix := rw.indexInts()
		if len(ix) != 3 {
			continue
		}
		n := lldpNeighbour{localPort: ix[1], portID: rw.str(3), portDesc: rw.str(4), sysName: rw.str(5), sysDesc: rw.str(6)}
		if st, _ := rw.int(0); st == 4 && rw.has(1) {
			n.chassis, n.chassisMAC = macString(asBytes(rw.v[1])), true
		}
		if n.chassis == "" {
			n.chassis = rw.str(1)
		}
		if st, _ := rw.int(2); st == 3 && rw.has(3) { // portId is a MAC
			if m := macString(asBytes(rw.v[3])); m != "" {
				n.portID = m
			}
		}
		if idx, ok := locIf[n.localPort]; ok {
			n.ifIndex = idx
		} else if _, ok := names[n.localPort]; ok {
			n.ifIndex = n.localPort
		}
		n.ifName = names[n.ifIndex]
		if n.ifName == "" {
			n.ifName = strconv.Itoa(n.localPort)
		}
		out = append(out, n)
	}
	return out
}

func buildLLDP(b *builder) {
	for _, n := range b.lldpNeighbours() {
		p := b.point("snmp_lldp", tag("local_port", n.ifName), tag("remote_sysname", n.sysName))
		f := fields{&p}
		f.int("local_port_num", int64(n.localPort), true)
		f.str("remote_chassis_id", n.chassis)
		f.str("remote_port_id", n.portID)
		f.strIf("remote_port_desc", n.portDesc)
		f.strIf("remote_sysname", n.sysName)
		f.strIf("remote_sysdesc", n.sysDesc)
		b.add(p)
	}
}

// ---- sensors (ENTITY-SENSOR-MIB, RFC 3433) ----

const (
	entSensorEntry  = "1.3.6.1.2.1.99.1.1.1."
	entPhysicalName = "1.3.6.1.2.1.47.1.1.1.1.7"
)

var sensorCols = []string{entSensorEntry + "1", entSensorEntry + "2", entSensorEntry + "3", entSensorEntry + "4", entSensorEntry + "5", entSensorEntry + "6"}

var sensorTypes = []string{"", "other", "unknown", "volts_ac", "volts_dc", "amperes", "watts", "hertz", "celsius", "percent_rh", "rpm", "cmm", "truthvalue"}

func buildSensors(b *builder) {
	rows := b.r.rows(sensorCols...)
	if len(rows) == 0 {
		return
	}
	// Sensor names live in ENTITY-MIB; fetch only those of the sensors
	// found, in one GET, instead of walking a chassis' whole entity table.
	oids := make([]string, 0, len(rows))
	for _, rw := range rows {
		oids = append(oids, entPhysicalName+"."+rw.index)
	}
	names, _ := b.s.get(oids)
	for _, rw := range rows {
		name := ""
		if v, ok := names[entPhysicalName+"."+rw.index]; ok {
			name = asString(v)
		}
		if name == "" {
			name = "sensor " + rw.index
		}
		typ, _ := rw.int(0)
		typName := "type_" + strconv.FormatInt(typ, 10)
		if typ > 0 && int(typ) < len(sensorTypes) {
			typName = sensorTypes[typ]
		}
		p := b.point("snmp_sensor", tag("sensor", name), tag("type", typName))
		f := fields{&p}
		scale, _ := rw.int(1)
		prec, _ := rw.int(2)
		if v, ok := rw.int(3); ok {
			// value × 10^(3·(scale−9)) ÷ 10^precision (units(9) is 10^0).
			x := float64(v) * math.Pow(10, float64(3*(scale-9))) / math.Pow(10, float64(prec))
			if scale == 0 {
				x = float64(v) / math.Pow(10, float64(prec))
			}
			f.float("value", x, true)
		}
		if st, ok := rw.int(4); ok {
			f.int("oper_status", st, true) // ok(1) unavailable(2) nonoperational(3)
		}
		f.strIf("units", rw.str(5))
		b.add(p)
	}
}
