package staffing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Kind is the rule a method applies.
type Kind string

// The method kinds.
const (
	KindDeviceRatio Kind = "device_ratio" // FTE = devices of the counted classes ÷ devices per FTE
	KindSchoolType  Kind = "school_type"  // FTE = sum of a fixed FTE per site by type
	KindWeighted    Kind = "weighted"     // FTE = Σ weight(class) × devices ÷ units per FTE
	KindWorkload    Kind = "workload"     // FTE = on-site incidents × (handling + travel) ÷ productive hours
)

// Method is one sizing method with its parameters. Only the parameters of
// its Kind may be set; Validate says which one is wrong.
type Method struct {
	Name     string `json:"-"`
	Kind     Kind   `json:"kind"`
	Source   string `json:"source"`
	Disabled bool   `json:"disabled,omitempty"`

	// device_ratio
	DevicesPerFTE float64  `json:"devices_per_fte,omitempty"`
	Classes       []string `json:"classes,omitempty"`

	// school_type: FTE per site by type id (primary, secondary,
	// vocational, special, administration; German names accepted).
	FTEPerSchool map[string]float64 `json:"fte_per_school,omitempty"`

	// weighted: weight per device class, and weighted units one FTE looks
	// after.
	Weights     map[string]float64 `json:"weights,omitempty"`
	UnitsPerFTE float64            `json:"units_per_fte,omitempty"`

	// workload
	HandlingMinutes       float64 `json:"handling_minutes,omitempty"`
	DefaultTravelMinutes  float64 `json:"default_travel_minutes,omitempty"`
	RemoteFixShare        float64 `json:"remote_fix_share,omitempty"`
	ProductiveHoursPerFTE float64 `json:"productive_hours_per_fte,omitempty"`
	WindowDays            float64 `json:"window_days,omitempty"`
	// MinOutageMinutes: shorter outages resolved themselves and are no
	// incident. nil means DefaultMinOutageMinutes, so that a custom
	// workload method, the API and the CLI all count alike.
	MinOutageMinutes *float64 `json:"min_outage_minutes,omitempty"`

	// resolved by Validate
	classMask   [numClasses]bool
	typeFTE     [numTypes]float64
	typeSet     [numTypes]bool
	classWeight [numClasses]float64
}

// DefaultMinOutageMinutes is the workload method's default for
// min_outage_minutes: an outage that ended within 5 minutes (a reboot, a
// flapping link) needed nobody on site.
const DefaultMinOutageMinutes = 5

// MinOutage is the shortest outage the workload method counts.
func (m *Method) MinOutage() time.Duration {
	v := float64(DefaultMinOutageMinutes)
	if m.MinOutageMinutes != nil {
		v = *m.MinOutageMinutes
	}
	return time.Duration(v * float64(time.Minute))
}

// Params are all parameters of a staffing report. DefaultParams returns
// the published defaults; a parameter file overrides what it names.
type Params struct {
	// ContractUnitFTE: FTE are rounded up to a multiple of this (contracts
	// are bought in half positions by default).
	ContractUnitFTE float64 `json:"contract_unit_fte"`
	// DaysPerFTE: person-days one FTE delivers in a year.
	DaysPerFTE float64 `json:"days_per_fte"`
	// AnnualCostPerFTE: net price of one FTE-year in EUR (KRZN: 95,000 EUR
	// for 200 person-days, i.e. 475 EUR per day).
	AnnualCostPerFTE float64 `json:"annual_cost_per_fte_eur"`
	// VAT adds VATRate to the cost (public bodies buying from a private
	// contractor pay it; an inter-municipal Zweckverband often does not).
	VAT     bool    `json:"vat"`
	VATRate float64 `json:"vat_rate"`
	// Market day rates of private IT service firms, gross, for comparison.
	MarketDayRateMin float64 `json:"market_day_rate_min_eur"`
	MarketDayRateMax float64 `json:"market_day_rate_max_eur"`

	Methods map[string]*Method `json:"methods"`
}

// The presets' sources, quoted in every report.
const (
	SourceKRZN      = "KRZN standard calculation; Bertelsmann Stiftung 2017 (1 FTE per 400 end devices)"
	SourceErlangen  = "City of Erlangen schools (1 FTE per 330 end devices)"
	SourceCoSN      = "CoSN, centrally managed devices (1 FTE per 500 end devices)"
	SourcePPIC      = "PPIC 2016 (1 FTE per 300 devices)"
	SourceStuttgart = "Stuttgart council paper GRDrs 1223/2023 (FTE per school by type); administration 0.33 is a schulmon default, not from the paper"
	SourceMichigan  = "Michigan technology staffing guidelines 2000 (weighted device classes); weights are schulmon defaults, configure your own"
	SourceWorkload  = "MetricNet-style workload sizing; incidents measured by schulmon availability (defaults are schulmon assumptions)"
)

// Preset method names.
const (
	MethodDeviceRatio = "device_ratio"
	MethodErlangen    = "ratio_erlangen"
	MethodCoSN        = "ratio_cosn"
	MethodPPIC        = "ratio_ppic"
	MethodSchoolType  = "school_type"
	MethodWeighted    = "weighted"
	MethodWorkload    = "workload"
)

var presetOrder = []string{MethodDeviceRatio, MethodErlangen, MethodCoSN, MethodPPIC, MethodSchoolType, MethodWeighted, MethodWorkload}

// DefaultParams returns the defaults: every preset method and KRZN's
// prices.
func DefaultParams() *Params {
	ratio := func(n float64, src string) *Method {
		return &Method{Kind: KindDeviceRatio, Source: src, DevicesPerFTE: n, Classes: []string{"endpoint"}}
	}
	p := &Params{
		ContractUnitFTE:  0.5,
		DaysPerFTE:       200,
		AnnualCostPerFTE: 95000,
		VATRate:          0.19,
		MarketDayRateMin: 1000,
		MarketDayRateMax: 2200,
		Methods: map[string]*Method{
			MethodDeviceRatio: ratio(400, SourceKRZN),
			MethodErlangen:    ratio(330, SourceErlangen),
			MethodCoSN:        ratio(500, SourceCoSN),
			MethodPPIC:        ratio(300, SourcePPIC),
			MethodSchoolType: {Kind: KindSchoolType, Source: SourceStuttgart, FTEPerSchool: map[string]float64{
				"primary": 0.33, "secondary": 0.5, "vocational": 1.0, "special": 0.33, "administration": 0.33,
			}},
			// Servers and network devices take more care than an endpoint;
			// 400 units per FTE keeps a pure-endpoint school at the 1:400
			// ratio so that the methods stay comparable.
			MethodWeighted: {Kind: KindWeighted, Source: SourceMichigan, UnitsPerFTE: 400, Weights: map[string]float64{
				"server": 10, "switch": 3, "access_point": 2, "router": 5, "printer": 1.5,
				"ups": 1, "endpoint": 1, "display": 0.5, "other": 0.5,
			}},
			// 200 days × 8 h × 80 % utilisation = 1,280 productive hours.
			MethodWorkload: {Kind: KindWorkload, Source: SourceWorkload, HandlingMinutes: 60, DefaultTravelMinutes: 30,
				RemoteFixShare: 0.5, ProductiveHoursPerFTE: 1280, WindowDays: 365},
		},
	}
	if err := p.Validate(); err != nil {
		panic("staffing: default parameters invalid: " + err.Error())
	}
	return p
}

// Clone returns a deep copy, so that a scenario can change parameters
// without touching the caller's.
func (p *Params) Clone() *Params {
	q := *p
	q.Methods = make(map[string]*Method, len(p.Methods))
	for n, m := range p.Methods {
		q.Methods[n] = m.clone()
	}
	return &q
}

func (m *Method) clone() *Method {
	c := *m
	c.Classes = slices.Clone(m.Classes)
	if m.MinOutageMinutes != nil {
		// Decoding a scenario into the clone must not change the original.
		v := *m.MinOutageMinutes
		c.MinOutageMinutes = &v
	}
	if m.FTEPerSchool != nil {
		c.FTEPerSchool = make(map[string]float64, len(m.FTEPerSchool))
		for k, v := range m.FTEPerSchool {
			c.FTEPerSchool[k] = v
		}
	}
	if m.Weights != nil {
		c.Weights = make(map[string]float64, len(m.Weights))
		for k, v := range m.Weights {
			c.Weights[k] = v
		}
	}
	return &c
}

// DayRate is the net price of one person-day.
func (p *Params) DayRate() float64 { return p.AnnualCostPerFTE / p.DaysPerFTE }

// MethodNames returns the enabled methods: presets first in their fixed
// order, then custom methods by name.
func (p *Params) MethodNames() []string {
	var out, custom []string
	for _, n := range presetOrder {
		if m, ok := p.Methods[n]; ok && !m.Disabled {
			out = append(out, n)
		}
	}
	for n, m := range p.Methods {
		if !slices.Contains(presetOrder, n) && !m.Disabled {
			custom = append(custom, n)
		}
	}
	sort.Strings(custom)
	return append(out, custom...)
}

// ParamError names the parameter that is wrong.
type ParamError struct {
	Param string // e.g. "methods.device_ratio.devices_per_fte"
	Msg   string
}

func (e *ParamError) Error() string { return "staffing parameter " + e.Param + ": " + e.Msg }

func perr(param, format string, args ...any) error {
	return &ParamError{Param: param, Msg: fmt.Sprintf(format, args...)}
}

func positive(param string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return perr(param, "must be a positive number, got %v", v)
	}
	return nil
}

func nonNegative(param string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return perr(param, "must be zero or positive, got %v", v)
	}
	return nil
}

// Validate checks every parameter and resolves class and type names; an
// error names the parameter (e.g. "methods.device_ratio.devices_per_fte").
func (p *Params) Validate() error {
	if err := positive("contract_unit_fte", p.ContractUnitFTE); err != nil {
		return err
	}
	if err := positive("days_per_fte", p.DaysPerFTE); err != nil {
		return err
	}
	if err := nonNegative("annual_cost_per_fte_eur", p.AnnualCostPerFTE); err != nil {
		return err
	}
	if err := nonNegative("vat_rate", p.VATRate); err != nil {
		return err
	}
	if p.VATRate >= 1 {
		return perr("vat_rate", "is a fraction (0.19 for 19 %%), got %v", p.VATRate)
	}
	if err := nonNegative("market_day_rate_min_eur", p.MarketDayRateMin); err != nil {
		return err
	}
	if err := nonNegative("market_day_rate_max_eur", p.MarketDayRateMax); err != nil {
		return err
	}
	if p.MarketDayRateMax < p.MarketDayRateMin {
		return perr("market_day_rate_max_eur", "(%v) is below market_day_rate_min_eur (%v)", p.MarketDayRateMax, p.MarketDayRateMin)
	}
	if len(p.MethodNames()) == 0 {
		return perr("methods", "no method is enabled")
	}
	for name, m := range p.Methods {
		if m == nil {
			return perr("methods."+name, "is empty; give at least its kind")
		}
		m.Name = name
		if err := m.validate("methods." + name); err != nil {
			return err
		}
	}
	return nil
}

func (m *Method) validate(pfx string) error {
	set := func(field string, isSet bool) error {
		if isSet {
			return perr(pfx+"."+field, "is not a parameter of a %s method", m.Kind)
		}
		return nil
	}
	ratioSet := m.DevicesPerFTE != 0 || m.Classes != nil
	typeSet := m.FTEPerSchool != nil
	weightSet := m.Weights != nil || m.UnitsPerFTE != 0
	workSet := m.HandlingMinutes != 0 || m.DefaultTravelMinutes != 0 || m.RemoteFixShare != 0 || m.ProductiveHoursPerFTE != 0 || m.WindowDays != 0 || m.MinOutageMinutes != nil
	m.classMask = [numClasses]bool{}
	m.typeFTE = [numTypes]float64{}
	m.typeSet = [numTypes]bool{}
	m.classWeight = [numClasses]float64{}
	switch m.Kind {
	case KindDeviceRatio:
		if err := positive(pfx+".devices_per_fte", m.DevicesPerFTE); err != nil {
			return err
		}
		if len(m.Classes) == 0 {
			return perr(pfx+".classes", "must name at least one device class to count")
		}
		for i, c := range m.Classes {
			cl, err := ParseClass(c)
			if err != nil {
				return perr(fmt.Sprintf("%s.classes[%d]", pfx, i), "%v", err)
			}
			m.classMask[cl] = true
		}
		return errors.Join(set("fte_per_school", typeSet), set("weights", weightSet), set("handling_minutes", workSet))
	case KindSchoolType:
		if len(m.FTEPerSchool) == 0 {
			return perr(pfx+".fte_per_school", "must give the FTE per school for at least one type")
		}
		for k, v := range m.FTEPerSchool {
			t, err := ParseSchoolType(k)
			if err != nil || t == TypeUnknown {
				return perr(pfx+".fte_per_school."+k, "unknown school type %q (use primary, secondary, vocational, special, administration)", k)
			}
			if err := nonNegative(pfx+".fte_per_school."+k, v); err != nil {
				return err
			}
			m.typeFTE[t] = v
			m.typeSet[t] = true
		}
		return errors.Join(set("devices_per_fte", ratioSet), set("weights", weightSet), set("handling_minutes", workSet))
	case KindWeighted:
		if err := positive(pfx+".units_per_fte", m.UnitsPerFTE); err != nil {
			return err
		}
		if len(m.Weights) == 0 {
			return perr(pfx+".weights", "must give a weight for at least one device class")
		}
		for k, v := range m.Weights {
			cl, err := ParseClass(k)
			if err != nil {
				return perr(pfx+".weights."+k, "%v", err)
			}
			if err := nonNegative(pfx+".weights."+k, v); err != nil {
				return err
			}
			m.classWeight[cl] = v
		}
		return errors.Join(set("devices_per_fte", ratioSet), set("fte_per_school", typeSet), set("handling_minutes", workSet))
	case KindWorkload:
		if err := positive(pfx+".productive_hours_per_fte", m.ProductiveHoursPerFTE); err != nil {
			return err
		}
		if err := positive(pfx+".handling_minutes", m.HandlingMinutes); err != nil {
			return err
		}
		if err := nonNegative(pfx+".default_travel_minutes", m.DefaultTravelMinutes); err != nil {
			return err
		}
		if err := nonNegative(pfx+".remote_fix_share", m.RemoteFixShare); err != nil {
			return err
		}
		if m.RemoteFixShare > 1 {
			return perr(pfx+".remote_fix_share", "is a fraction between 0 and 1, got %v", m.RemoteFixShare)
		}
		if err := positive(pfx+".window_days", m.WindowDays); err != nil {
			return err
		}
		if m.MinOutageMinutes != nil {
			if err := nonNegative(pfx+".min_outage_minutes", *m.MinOutageMinutes); err != nil {
				return err
			}
		}
		return errors.Join(set("devices_per_fte", ratioSet), set("fte_per_school", typeSet), set("weights", weightSet))
	case "":
		return perr(pfx+".kind", "missing (use one of device_ratio, school_type, weighted, workload)")
	default:
		return perr(pfx+".kind", "unknown method kind %q (use one of device_ratio, school_type, weighted, workload)", m.Kind)
	}
}

// Describe says in one line which rule and parameters the method applies;
// reports print it next to every figure.
func (m *Method) Describe() string {
	switch m.Kind {
	case KindDeviceRatio:
		return fmt.Sprintf("1 FTE per %s devices of class %s", fmtNum(m.DevicesPerFTE), strings.Join(m.Classes, "+"))
	case KindSchoolType:
		var parts []string
		for _, t := range SchoolTypes() {
			if m.typeSet[t] {
				parts = append(parts, fmt.Sprintf("%s %s", t, fmtNum(m.typeFTE[t])))
			}
		}
		return "FTE per site by type: " + strings.Join(parts, ", ")
	case KindWeighted:
		var parts []string
		for _, c := range Classes() {
			if m.classWeight[c] != 0 {
				parts = append(parts, fmt.Sprintf("%s×%s", c, fmtNum(m.classWeight[c])))
			}
		}
		return fmt.Sprintf("1 FTE per %s weighted units; weights %s", fmtNum(m.UnitsPerFTE), strings.Join(parts, ", "))
	case KindWorkload:
		return fmt.Sprintf("incidents (outages of at least %s min outside maintenance) over %s days, annualised, × (1 − %s remote-fix share) × (%s min handling + travel, default %s min) ÷ %s productive hours per FTE",
			fmtNum(m.MinOutage().Minutes()), fmtNum(m.WindowDays), fmtNum(m.RemoteFixShare), fmtNum(m.HandlingMinutes), fmtNum(m.DefaultTravelMinutes), fmtNum(m.ProductiveHoursPerFTE))
	}
	return string(m.Kind)
}

// fmtNum prints at most four decimals and no trailing zeros: 0.33, 400,
// 1.0025.
func fmtNum(f float64) string {
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'f', 4, 64)
	for len(b) > 0 && b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if len(b) == 2 && b[0] == '-' && b[1] == '0' {
		b = b[1:]
	}
	return string(b)
}

// LoadParams reads a parameter file (YAML, or JSON when the name ends in
// .json) over the defaults. Unknown keys are errors.
func LoadParams(path string) (*Params, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read staffing parameters: %w", err)
	}
	p := DefaultParams()
	if err := p.Decode(b, strings.EqualFold(filepath.Ext(path), ".json")); err != nil {
		return nil, fmt.Errorf("staffing parameters %s: %w", path, err)
	}
	return p, nil
}

// Decode applies a YAML (or JSON) document over p and validates the
// result. Keys not named keep their value; a method entry with a preset's
// name changes only the keys it gives, a new name defines a new method.
// Unknown keys are errors.
func (p *Params) Decode(doc []byte, isJSON bool) error {
	raw, err := toJSON(doc, isJSON)
	if err != nil {
		return err
	}
	if raw == nil {
		return p.Validate()
	}
	if err := p.applyJSON(raw); err != nil {
		return err
	}
	return p.Validate()
}

// toJSON turns a YAML document into JSON so that one strict decoder
// (DisallowUnknownFields) serves both formats.
func toJSON(doc []byte, isJSON bool) (json.RawMessage, error) {
	if isJSON {
		if len(bytes.TrimSpace(doc)) == 0 {
			return nil, nil
		}
		return json.RawMessage(doc), nil
	}
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	return b, nil
}

// applyJSON decodes one strict JSON object over p.
func (p *Params) applyJSON(raw json.RawMessage) error {
	// Methods are decoded one by one over a copy of the preset so that
	// "methods: {device_ratio: {devices_per_fte: 350}}" keeps the preset's
	// classes and source.
	var top struct {
		Params
		Methods map[string]json.RawMessage `json:"methods"`
	}
	top.Params = *p
	top.Params.Methods = nil
	if err := strictJSON(raw, &top); err != nil {
		return err
	}
	methods := p.Methods
	*p = top.Params
	p.Methods = methods
	for name, mraw := range top.Methods {
		m, ok := p.Methods[name]
		if ok {
			m = m.clone()
		} else {
			m = &Method{}
		}
		if string(bytes.TrimSpace(mraw)) == "null" {
			return perr("methods."+name, "is empty; give at least its kind, or disabled: true")
		}
		if err := strictJSON(mraw, m); err != nil {
			return fmt.Errorf("methods.%s: %w", name, err)
		}
		if m.Source == "" {
			m.Source = "custom (parameter file)"
		}
		m.canonicalKeys()
		p.Methods[name] = m
	}
	return nil
}

// canonicalKeys renames aliases in the maps ("Verwaltung" →
// "administration", "tablet" → "endpoint"). Preset keys are canonical, so
// an alias was given by the user and overrides the preset's value.
func (m *Method) canonicalKeys() {
	for k, v := range m.FTEPerSchool {
		if t, err := ParseSchoolType(k); err == nil && t != TypeUnknown && t.String() != k {
			delete(m.FTEPerSchool, k)
			m.FTEPerSchool[t.String()] = v
		}
	}
	for k, v := range m.Weights {
		if c, err := ParseClass(k); err == nil && c.String() != k {
			delete(m.Weights, k)
			m.Weights[c.String()] = v
		}
	}
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return errors.New("decode: more than one document")
	}
	return nil
}
