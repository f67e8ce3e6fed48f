// Package availability is the one place where schulmon's availability rules
// live: it turns signals (agent heartbeats, SNMP polls, traps, check-plugin
// results) into per-object states and outages, keeps service calendars,
// maintenance windows and targets, and computes availability reports with
// error budgets. See README.md in this folder for the semantics.
package availability

import (
	"fmt"
	"strings"
)

// State is the state of a monitored object at a point in time.
type State string

// The states of an object.
const (
	StateUp          State = "up"
	StateDown        State = "down"
	StateUnreachable State = "unreachable"
	StateUnknown     State = "unknown"
	StateMaintenance State = "maintenance"
)

// Cause says why an object was down or unknown.
type Cause string

// Causes of outages and unknown time.
const (
	CauseHeartbeatLost Cause = "heartbeat_lost"
	CauseSNMPTimeout   Cause = "snmp_timeout"
	CauseReboot        Cause = "reboot"
	CauseTrap          Cause = "trap"
	CauseCheckFailed   Cause = "check_failed"
	CauseNoData        Cause = "no_data"        // unknown: the observer (agent) sent nothing
	CauseCollectorDown Cause = "collector_down" // unknown: the collector was not running
	CauseUplinkDown    Cause = "uplink_down"    // unknown: the site's uplink was down
	CauseParentDown    Cause = "parent_down"    // unreachable: counted at the parent
)

// ObjectKey identifies a monitored object: a device at a site, or a service
// (a check instance) on a device. Names are unique within a site.
type ObjectKey struct {
	SiteID int64  `json:"site_id"`
	Device string `json:"device"`
	Check  string `json:"check,omitempty"` // empty for the device itself
}

func (k ObjectKey) String() string {
	if k.Check == "" {
		return fmt.Sprintf("%d/%s", k.SiteID, k.Device)
	}
	return fmt.Sprintf("%d/%s/%s", k.SiteID, k.Device, k.Check)
}

// Object is a monitored object with its place in the tenancy.
type Object struct {
	ID             int64  `json:"id"`
	MunicipalityID int64  `json:"municipality_id"`
	SiteID         int64  `json:"site_id"`
	DeviceID       int64  `json:"device_id,omitempty"`
	Municipality   string `json:"municipality"`
	Site           string `json:"site"`
	Device         string `json:"device"`
	Class          string `json:"class"`
	Check          string `json:"check,omitempty"`
	// ParentID is the object this one depends on (uplink router, access
	// switch); 0 if none. A down parent makes this object unreachable.
	ParentID int64 `json:"parent_id,omitempty"`
	// ParentSource says where the dependency came from: "manual" (the
	// inventory: CLI, API), "lldp" (derived from LLDP neighbours) or
	// "device" (a service depends on its device).
	ParentSource string `json:"parent_source,omitempty"`
	// Critical members decide a group's "any critical member down" figure.
	Critical bool `json:"critical"`
	// Heartbeat objects (agents) are down when they fall silent; others
	// (SNMP targets, checks) are unknown when no result arrives.
	Heartbeat bool  `json:"heartbeat"`
	FirstSeen int64 `json:"first_seen_ms"`
	// Retired is when the object was decommissioned (0: active).
	Retired int64 `json:"retired_ms,omitempty"`
}

// Key returns the object's identity.
func (o *Object) Key() ObjectKey { return ObjectKey{o.SiteID, o.Device, o.Check} }

// Name is a human-readable name: site/device[/check].
func (o *Object) Name() string {
	n := o.Site + "/" + o.Device
	if o.Check != "" {
		n += "/" + o.Check
	}
	return n
}

// defaultCritical says which device classes count as critical members of a
// site by default: the ones a whole school depends on.
func defaultCritical(class, check string) bool {
	if check != "" {
		return false
	}
	switch class {
	case "router", "switch", "server":
		return true
	}
	return false
}

// Scope selects objects by municipality, site, class and device name. Empty
// fields match everything. It is used for calendar and target assignments
// and maintenance windows.
type Scope struct {
	Municipality string `json:"municipality,omitempty"`
	Site         string `json:"site,omitempty"`
	Class        string `json:"class,omitempty"`
	Device       string `json:"device,omitempty"`
	Check        string `json:"check,omitempty"`
}

// Matches reports whether the object lies within the scope.
func (s Scope) Matches(o *Object) bool {
	return (s.Municipality == "" || s.Municipality == o.Municipality) &&
		(s.Site == "" || s.Site == o.Site) &&
		(s.Class == "" || s.Class == o.Class) &&
		(s.Device == "" || s.Device == o.Device) &&
		(s.Check == "" || s.Check == o.Check)
}

// Specificity ranks scopes for "most specific wins": check, device, site,
// municipality; a class narrows any of them (site+class beats site).
func (s Scope) Specificity() int {
	n := 0
	if s.Check != "" {
		n += 16
	}
	if s.Device != "" {
		n += 8
	}
	if s.Site != "" {
		n += 4
	}
	if s.Municipality != "" {
		n += 2
	}
	if s.Class != "" {
		n++
	}
	return n
}

func (s Scope) String() string {
	var parts []string
	for _, kv := range [][2]string{{"municipality", s.Municipality}, {"site", s.Site}, {"class", s.Class}, {"device", s.Device}, {"check", s.Check}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, ",")
}

// Target is an availability target in parts per million: 99.98 % is
// 999,800. Integer ppm keep error budgets exact.
type Target int64

// DefaultTarget is 99.98 %.
const DefaultTarget Target = 999800

// ParseTarget parses "99.98", "99.98%" or "0.9998".
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	r, ok := parseDecimal(s, 6)
	if !ok {
		return 0, fmt.Errorf("target %q: want a percentage such as 99.98", s)
	}
	// Values ≤ 1 are fractions (0.9998), larger ones percentages.
	if r <= 1_000_000 {
		r *= 100
	}
	t := Target(r / 100) // r is percent × 1e6; ppm = percent × 1e4
	if r%100 != 0 || t <= 0 || t > 1_000_000 {
		return 0, fmt.Errorf("target %q: want a percentage above 0 and at most 100 with at most 4 decimals", s)
	}
	return t, nil
}

// parseDecimal parses a non-negative decimal into an integer scaled by
// 10^scale without going through floating point.
func parseDecimal(s string, scale int) (int64, bool) {
	if s == "" {
		return 0, false
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) > scale {
		return 0, false
	}
	var v int64
	for _, c := range intPart + frac + strings.Repeat("0", scale-len(frac)) {
		if c < '0' || c > '9' || v > 1e15 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// Percent formats the target as a percentage ("99.98").
func (t Target) Percent() string { return formatFixed(int64(t), 4) }

// formatFixed formats v / 10^dec without trailing zeros.
func formatFixed(v int64, dec int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	p := int64(1)
	for range dec {
		p *= 10
	}
	s := fmt.Sprintf("%d", v/p)
	if f := v % p; f != 0 {
		fs := fmt.Sprintf("%0*d", dec, f)
		s += "." + strings.TrimRight(fs, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}
