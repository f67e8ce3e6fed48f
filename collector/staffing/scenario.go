package staffing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Scenario is a what-if: changes to the inventory and the parameters that
// are applied to copies, never to the stored inventory.
//
//	name: Tablets für die GS Nord
//	ratio: 350                       # device_ratio at 1 : 350
//	params: {vat: true}              # any parameter, as in a parameter file
//	changes:
//	  - add_devices: {site: GS Nord, class: endpoint, count: 300}
//	  - new_site: {municipality: Moers, name: GS Neubau, school_type: Grundschule, devices: {endpoint: 150}}
//	  - set_site: {site: GS Süd, school_type: Förderschule, contracted_person_days: 100}
type Scenario struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Ratio       *float64        `json:"ratio,omitempty"`
	Params      json.RawMessage `json:"params,omitempty"`
	Changes     []Change        `json:"changes,omitempty"`
}

// Change is one change of a scenario; exactly one field is set.
type Change struct {
	AddDevices *AddDevices `json:"add_devices,omitempty"`
	NewSite    *NewSite    `json:"new_site,omitempty"`
	SetSite    *SetSite    `json:"set_site,omitempty"`
}

// SiteRef names an existing site by ID, or by name (and municipality if
// the name is not unique).
type SiteRef struct {
	SiteID       int64  `json:"site_id,omitempty"`
	Site         string `json:"site,omitempty"`
	Municipality string `json:"municipality,omitempty"`
}

// AddDevices adds (or, with a negative count, removes) devices of a class
// at a site: "+300 tablets at site X".
type AddDevices struct {
	SiteRef
	Class string `json:"class"`
	Count int    `json:"count"`
}

// NewSite adds a site that does not exist yet: "a new school of type Y".
type NewSite struct {
	Municipality         string         `json:"municipality"`
	Name                 string         `json:"name"`
	SchoolType           string         `json:"school_type"`
	Pupils               int            `json:"pupils,omitempty"`
	TravelMinutes        float64        `json:"travel_minutes,omitempty"`
	ContractedPersonDays float64        `json:"contracted_person_days,omitempty"`
	Devices              map[string]int `json:"devices,omitempty"`
}

// SetSite changes attributes of an existing site; unset fields keep their
// value.
type SetSite struct {
	SiteRef
	SchoolType           string   `json:"school_type,omitempty"`
	Pupils               *int     `json:"pupils,omitempty"`
	TravelMinutes        *float64 `json:"travel_minutes,omitempty"`
	ContractedPersonDays *float64 `json:"contracted_person_days,omitempty"`
}

// ScenarioInfo is what a report says about the scenario it computed: the
// changes in words, and the baseline totals it is compared with.
type ScenarioInfo struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Changes     []string    `json:"changes"`
	Baseline    GroupResult `json:"baseline_total"`
	// Delta per method present in both: scenario total − baseline total.
	Delta []Figure `json:"delta"`
}

// LoadScenario reads a scenario file (YAML, or JSON when the name ends in
// .json). Unknown keys are errors.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	sc, err := ParseScenario(b, strings.EqualFold(filepath.Ext(path), ".json"))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario parses a scenario document (YAML or JSON), strictly.
func ParseScenario(doc []byte, isJSON bool) (*Scenario, error) {
	raw, err := toJSON(doc, isJSON)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, errors.New("scenario is empty")
	}
	var sc Scenario
	if err := strictJSON(raw, &sc); err != nil {
		return nil, err
	}
	for i, c := range sc.Changes {
		n := 0
		for _, set := range []bool{c.AddDevices != nil, c.NewSite != nil, c.SetSite != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("changes[%d]: give exactly one of add_devices, new_site, set_site", i)
		}
	}
	if sc.Ratio != nil {
		if err := positive("ratio", *sc.Ratio); err != nil {
			return nil, err
		}
	}
	return &sc, nil
}

// Apply returns the scenario's inventory, counts and parameters: copies of
// the inputs with the changes applied. inv, counts and base are not
// modified.
func (sc *Scenario) Apply(inv *Inventory, counts []Counts, base *Params) (*Inventory, []Counts, *Params, []string, error) {
	p := base.Clone()
	var words []string
	if len(sc.Params) > 0 {
		if err := p.applyJSON(sc.Params); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("scenario params: %w", err)
		}
		words = append(words, "parameters: "+string(sc.Params))
	}
	if sc.Ratio != nil {
		ratio := *sc.Ratio
		m, ok := p.Methods[MethodDeviceRatio]
		if !ok {
			return nil, nil, nil, nil, &ParamError{Param: "ratio", Msg: "the device_ratio method is not defined"}
		}
		m.DevicesPerFTE = ratio
		m.Source = fmt.Sprintf("scenario: ratio 1 : %s (instead of the preset)", fmtNum(ratio))
		words = append(words, "device_ratio at 1 : "+fmtNum(ratio))
	}
	if err := p.Validate(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("scenario: %w", err)
	}
	out := &Inventory{Sites: append([]Site(nil), inv.Sites...)}
	cs := make([]Counts, len(counts))
	copy(cs, counts)
	for i, c := range sc.Changes {
		pfx := fmt.Sprintf("changes[%d]", i)
		switch {
		case c.AddDevices != nil:
			a := c.AddDevices
			si, err := findSite(out.Sites, a.SiteRef)
			if err != nil {
				return nil, nil, nil, nil, fmt.Errorf("%s.add_devices: %w", pfx, err)
			}
			cl, err := ParseClass(a.Class)
			if err != nil {
				return nil, nil, nil, nil, &ParamError{Param: pfx + ".add_devices.class", Msg: err.Error()}
			}
			if a.Count == 0 {
				return nil, nil, nil, nil, &ParamError{Param: pfx + ".add_devices.count", Msg: "must not be 0"}
			}
			if cs[si].Devices[cl]+a.Count < 0 {
				return nil, nil, nil, nil, &ParamError{Param: pfx + ".add_devices.count", Msg: fmt.Sprintf("removes %d %s devices but site %q has %d", -a.Count, cl, out.Sites[si].Name, cs[si].Devices[cl])}
			}
			cs[si].Devices[cl] += a.Count
			cs[si].Provenance = append(append([]Provenance(nil), cs[si].Provenance...),
				Provenance{Class: cl, Devices: a.Count, Scenario: a.Count})
			words = append(words, fmt.Sprintf("%+d %s at %s", a.Count, cl, out.Sites[si].Name))
		case c.NewSite != nil:
			n := c.NewSite
			if strings.TrimSpace(n.Name) == "" {
				return nil, nil, nil, nil, &ParamError{Param: pfx + ".new_site.name", Msg: "missing"}
			}
			t, err := ParseSchoolType(n.SchoolType)
			if err != nil || t == TypeUnknown {
				return nil, nil, nil, nil, &ParamError{Param: pfx + ".new_site.school_type", Msg: fmt.Sprintf("unknown or missing school type %q", n.SchoolType)}
			}
			s := Site{Municipality: n.Municipality, Name: n.Name, Type: t, Pupils: n.Pupils, TravelMinutes: n.TravelMinutes, ContractedPersonDays: n.ContractedPersonDays}
			for _, e := range out.Sites {
				if strings.EqualFold(e.Municipality, n.Municipality) {
					s.MunicipalityID = e.MunicipalityID
					break
				}
			}
			var c Counts
			for k, v := range n.Devices {
				cl, err := ParseClass(k)
				if err != nil {
					return nil, nil, nil, nil, &ParamError{Param: pfx + ".new_site.devices." + k, Msg: err.Error()}
				}
				if v < 0 {
					return nil, nil, nil, nil, &ParamError{Param: pfx + ".new_site.devices." + k, Msg: "must not be negative"}
				}
				c.Devices[cl] += v
				c.Provenance = append(c.Provenance, Provenance{Class: cl, Devices: v, Scenario: v})
			}
			out.Sites = append(out.Sites, s)
			cs = append(cs, c)
			words = append(words, fmt.Sprintf("new %s %q in %s with %d devices", t.German(), n.Name, n.Municipality, c.Total()))
		case c.SetSite != nil:
			u := c.SetSite
			si, err := findSite(out.Sites, u.SiteRef)
			if err != nil {
				return nil, nil, nil, nil, fmt.Errorf("%s.set_site: %w", pfx, err)
			}
			s := &out.Sites[si]
			var what []string
			if u.SchoolType != "" {
				t, err := ParseSchoolType(u.SchoolType)
				if err != nil {
					return nil, nil, nil, nil, &ParamError{Param: pfx + ".set_site.school_type", Msg: err.Error()}
				}
				s.Type = t
				what = append(what, "type "+t.German())
			}
			if u.Pupils != nil {
				s.Pupils = *u.Pupils
				what = append(what, fmt.Sprintf("%d pupils", s.Pupils))
			}
			if u.TravelMinutes != nil {
				s.TravelMinutes = *u.TravelMinutes
				what = append(what, "travel "+fmtNum(s.TravelMinutes)+" min")
			}
			if u.ContractedPersonDays != nil {
				s.ContractedPersonDays = *u.ContractedPersonDays
				what = append(what, fmtNum(s.ContractedPersonDays)+" contracted person-days")
			}
			words = append(words, s.Name+": "+strings.Join(what, ", "))
		}
	}
	return out, cs, p, words, nil
}

func findSite(sites []Site, ref SiteRef) (int, error) {
	if ref.SiteID != 0 {
		for i := range sites {
			if sites[i].ID == ref.SiteID {
				return i, nil
			}
		}
		return 0, &ParamError{Param: "site_id", Msg: fmt.Sprintf("no site with ID %d", ref.SiteID)}
	}
	if strings.TrimSpace(ref.Site) == "" {
		return 0, &ParamError{Param: "site", Msg: "missing: name the site (site or site_id)"}
	}
	found := -1
	for i := range sites {
		s := &sites[i]
		if !strings.EqualFold(s.Name, ref.Site) || (ref.Municipality != "" && !strings.EqualFold(s.Municipality, ref.Municipality)) {
			continue
		}
		if found >= 0 {
			return 0, &ParamError{Param: "site", Msg: fmt.Sprintf("%q exists in %s and %s; add municipality", ref.Site, sites[found].Municipality, s.Municipality)}
		}
		found = i
	}
	if found < 0 {
		return 0, &ParamError{Param: "site", Msg: fmt.Sprintf("no site named %q", ref.Site)}
	}
	return found, nil
}

// ComputeScenario computes the baseline and the scenario and returns the
// scenario's report with the baseline totals and the difference.
func ComputeScenario(ctx context.Context, inv *Inventory, counts []Counts, base *Params, sc *Scenario, opt Options) (*Report, error) {
	if counts == nil {
		counts = inv.Count()
	}
	baseline, err := Compute(ctx, inv, counts, base, opt)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	sinv, scounts, sp, words, err := sc.Apply(inv, counts, base)
	if err != nil {
		return nil, err
	}
	r, err := Compute(ctx, sinv, scounts, sp, opt)
	if err != nil {
		return nil, fmt.Errorf("scenario %q: %w", sc.Name, err)
	}
	info := &ScenarioInfo{Name: sc.Name, Description: sc.Description, Changes: words, Baseline: baseline.Total}
	for _, f := range r.Total.Figures {
		for _, b := range baseline.Total.Figures {
			if b.Method != f.Method {
				continue
			}
			info.Delta = append(info.Delta, Figure{
				Method: f.Method, Basis: "scenario − baseline",
				FTE: f.FTE - b.FTE, FTEContract: f.FTEContract - b.FTEContract,
				PersonDays: f.PersonDays - b.PersonDays, PersonDaysContract: f.PersonDaysContract - b.PersonDaysContract,
				CostEUR: f.CostEUR - b.CostEUR, CostContractEUR: f.CostContractEUR - b.CostContractEUR,
				MarketMinEUR: f.MarketMinEUR - b.MarketMinEUR, MarketMaxEUR: f.MarketMaxEUR - b.MarketMaxEUR,
				GapPersonDays: f.GapPersonDays - b.GapPersonDays,
			})
		}
	}
	r.Scenario = info
	return r, nil
}
