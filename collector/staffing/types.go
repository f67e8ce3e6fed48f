package staffing

import (
	"fmt"
	"strings"
)

// Class is a device class as the tenancy model defines it.
type Class uint8

// The device classes, in the order reports list them.
const (
	ClassServer Class = iota
	ClassSwitch
	ClassAccessPoint
	ClassRouter
	ClassPrinter
	ClassUPS
	ClassEndpoint
	ClassDisplay
	ClassOther
	numClasses
)

// NumClasses is the number of device classes.
const NumClasses = int(numClasses)

var classNames = [numClasses]string{"server", "switch", "access_point", "router", "printer", "ups", "endpoint", "display", "other"}

func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// MarshalText writes the class name.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText parses a class name.
func (c *Class) UnmarshalText(b []byte) error {
	v, err := ParseClass(string(b))
	*c = v
	return err
}

// Classes returns every class, in report order.
func Classes() []Class {
	out := make([]Class, numClasses)
	for i := range out {
		out[i] = Class(i)
	}
	return out
}

// classAliases lets a CSV written by a school secretary say "PC" or
// "Tablet": the common words map onto the tenancy classes.
var classAliases = map[string]Class{
	"pc": ClassEndpoint, "notebook": ClassEndpoint, "laptop": ClassEndpoint, "tablet": ClassEndpoint,
	"ipad": ClassEndpoint, "desktop": ClassEndpoint, "workstation": ClassEndpoint, "client": ClassEndpoint,
	"ap": ClassAccessPoint, "wlan": ClassAccessPoint, "accesspoint": ClassAccessPoint,
	"firewall": ClassRouter, "beamer": ClassDisplay, "projector": ClassDisplay, "panel": ClassDisplay,
	"whiteboard": ClassDisplay, "usv": ClassUPS, "drucker": ClassPrinter,
}

// ParseClass parses a class name (case-insensitive; a few common aliases
// such as "tablet" or "firewall" are accepted).
func ParseClass(s string) (Class, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.ReplaceAll(k, "-", "_")
	for i, n := range classNames {
		if n == k {
			return Class(i), nil
		}
	}
	if c, ok := classAliases[strings.ReplaceAll(k, "_", "")]; ok {
		return c, nil
	}
	return 0, fmt.Errorf("unknown device class %q (use one of %s)", s, strings.Join(classNames[:], ", "))
}

// SchoolType is the kind of a site.
type SchoolType uint8

// The site types of the staffing model. Unknown means the attribute was
// never set; the school-type method reports such sites instead of guessing.
const (
	TypeUnknown SchoolType = iota
	TypePrimary
	TypeSecondary
	TypeVocational
	TypeSpecial
	TypeAdministration
	numTypes
)

var typeIDs = [numTypes]string{"", "primary", "secondary", "vocational", "special", "administration"}

// German names as municipalities use them (NRW terms).
var typeGerman = [numTypes]string{"(nicht gesetzt)", "Grundschule", "weiterführende Schule", "Berufskolleg", "Förderschule", "Verwaltung"}

func (t SchoolType) String() string {
	if t < numTypes {
		return typeIDs[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// German returns the German name of the type, e.g. "Grundschule".
func (t SchoolType) German() string {
	if t < numTypes {
		return typeGerman[t]
	}
	return t.String()
}

// MarshalText writes the type's identifier (e.g. "primary").
func (t SchoolType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a type in English or German.
func (t *SchoolType) UnmarshalText(b []byte) error {
	v, err := ParseSchoolType(string(b))
	*t = v
	return err
}

// SchoolTypes lists the known types (without TypeUnknown).
func SchoolTypes() []SchoolType {
	return []SchoolType{TypePrimary, TypeSecondary, TypeVocational, TypeSpecial, TypeAdministration}
}

var typeAliases = map[string]SchoolType{
	"primary": TypePrimary, "grundschule": TypePrimary, "gs": TypePrimary,
	"secondary": TypeSecondary, "weiterfuhrendeschule": TypeSecondary, "weiterfuehrendeschule": TypeSecondary,
	"weiterführendeschule": TypeSecondary, "gymnasium": TypeSecondary, "realschule": TypeSecondary,
	"hauptschule": TypeSecondary, "gesamtschule": TypeSecondary, "sekundarschule": TypeSecondary,
	"vocational": TypeVocational, "berufskolleg": TypeVocational, "berufsschule": TypeVocational, "bk": TypeVocational,
	"special": TypeSpecial, "foerderschule": TypeSpecial, "förderschule": TypeSpecial, "forderschule": TypeSpecial,
	"special_needs": TypeSpecial, "specialneeds": TypeSpecial,
	"administration": TypeAdministration, "verwaltung": TypeAdministration, "admin": TypeAdministration,
}

// ParseSchoolType parses a type in English ("primary") or German
// ("Grundschule", "weiterführende Schule", "Berufskolleg", "Förderschule",
// "Verwaltung"), case-insensitive.
func ParseSchoolType(s string) (SchoolType, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	if k == "" {
		return TypeUnknown, nil
	}
	if t, ok := typeAliases[k]; ok {
		return t, nil
	}
	k = strings.NewReplacer(" ", "", "-", "", "_", "").Replace(k)
	if t, ok := typeAliases[k]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("unknown school type %q (use one of Grundschule/primary, weiterführende Schule/secondary, Berufskolleg/vocational, Förderschule/special, Verwaltung/administration)", s)
}

// Source is where a device record came from.
type Source uint8

// The inventory sources, in the order of trust for a device's class: an
// agent knows its own host, SNMP knows the polled device, a CSV row is a
// person's statement, and an ARP/bridge entry only proves that something
// with that MAC address is there.
const (
	SourceAgent Source = iota
	SourceSNMP
	SourceCSV
	SourceDiscovery
	numSources
)

var sourceNames = [numSources]string{"agent", "snmp", "csv", "discovery"}

func (s Source) String() string {
	if s < numSources {
		return sourceNames[s]
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// ParseSource parses a source name.
func ParseSource(s string) (Source, error) {
	for i, n := range sourceNames {
		if strings.EqualFold(n, strings.TrimSpace(s)) {
			return Source(i), nil
		}
	}
	return 0, fmt.Errorf("unknown inventory source %q (use one of %s)", s, strings.Join(sourceNames[:], ", "))
}

var typeTenancy = [numTypes]string{"", "grundschule", "weiterfuehrende_schule", "berufskolleg", "foerderschule", "verwaltung"}

// TenancyName is the type as the tenancy's sites table stores it
// ("grundschule", "weiterfuehrende_schule", …).
func (t SchoolType) TenancyName() string {
	if t < numTypes {
		return typeTenancy[t]
	}
	return ""
}
