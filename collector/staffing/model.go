package staffing

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// IncidentCounter counts the incidents at a site that needed someone on
// site, e.g. outages measured by the availability engine. The workload
// method asks it once per site, with its min_outage_minutes as
// minDuration: shorter outages are not counted.
type IncidentCounter interface {
	OnSiteIncidents(ctx context.Context, siteID int64, from, to time.Time, minDuration time.Duration) (int, error)
}

// Options choose what Compute reports.
type Options struct {
	// Method limits the report to one method; "" computes all enabled
	// methods side by side.
	Method string
	// Municipality limits the report to one municipality, by name
	// (case-insensitive) or numeric ID; "" reports all.
	Municipality string
	// SiteIDs, if not nil, limits the report to these sites (a
	// school_admin sees only theirs).
	SiteIDs map[int64]bool
	// Incidents feeds the workload method; without it the method reports
	// that no incident data is available.
	Incidents IncidentCounter
	// Now ends the workload window; zero means time.Now().
	Now time.Time
}

// DeviceCounts are device counts by class; JSON writes them as an object.
type DeviceCounts [numClasses]int

// MarshalJSON writes {"endpoint": 12, ...}, leaving out zero classes.
func (d DeviceCounts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for c, n := range d {
		if n == 0 {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, classNames[c]...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads {"endpoint": 12, ...}.
func (d *DeviceCounts) UnmarshalJSON(b []byte) error {
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*d = DeviceCounts{}
	for k, v := range m {
		c, err := ParseClass(k)
		if err != nil {
			return err
		}
		d[c] = v
	}
	return nil
}

// Total is the number of devices of all classes.
func (d *DeviceCounts) Total() int {
	n := 0
	for _, v := range d {
		n += v
	}
	return n
}

// Figure is one method's result for a site, a municipality or the total.
// Method names the entry in Report.Methods that holds the rule, the
// parameters and the source; Basis says what went in.
type Figure struct {
	Method string `json:"method"`
	Basis  string `json:"basis"`
	// FTE exact, and rounded up to the contract unit.
	FTE         float64 `json:"fte"`
	FTEContract float64 `json:"fte_contract"`
	// Person-days a year for FTE and FTEContract.
	PersonDays         float64 `json:"person_days"`
	PersonDaysContract float64 `json:"person_days_contract"`
	// Annual cost in EUR at the configured day rate, with VAT if the
	// report's pricing says so.
	CostEUR         float64 `json:"cost_eur"`
	CostContractEUR float64 `json:"cost_contract_eur"`
	// What the same person-days would cost at private market rates
	// (gross).
	MarketMinEUR float64 `json:"market_min_eur"`
	MarketMaxEUR float64 `json:"market_max_eur"`
	// GapPersonDays = PersonDays − contracted person-days: positive means
	// the contract is short of the demand, negative means it exceeds it.
	GapPersonDays float64 `json:"gap_person_days"`
	Note          string  `json:"note,omitempty"`
}

// SiteResult is a site with its counts and figures.
type SiteResult struct {
	Site
	Devices    DeviceCounts `json:"devices"`
	Provenance []Provenance `json:"provenance,omitempty"`
	Figures    []Figure     `json:"figures"`
}

// GroupResult sums sites: one municipality, or the total.
type GroupResult struct {
	MunicipalityID       int64        `json:"municipality_id,omitempty"`
	Municipality         string       `json:"municipality,omitempty"`
	Sites                int          `json:"sites"`
	Devices              DeviceCounts `json:"devices"`
	ContractedPersonDays float64      `json:"contracted_person_days"`
	Figures              []Figure     `json:"figures"`
}

// MethodInfo names a method's rule, parameters and source.
type MethodInfo struct {
	Name       string  `json:"name"`
	Kind       Kind    `json:"kind"`
	Parameters string  `json:"parameters"`
	Source     string  `json:"source"`
	Params     *Method `json:"params"`
}

// Pricing are the cost parameters every figure used.
type Pricing struct {
	ContractUnitFTE  float64 `json:"contract_unit_fte"`
	DaysPerFTE       float64 `json:"days_per_fte"`
	AnnualCostPerFTE float64 `json:"annual_cost_per_fte_eur"`
	DayRateNet       float64 `json:"day_rate_net_eur"`
	VAT              bool    `json:"vat"`
	VATRate          float64 `json:"vat_rate"`
	DayRateCharged   float64 `json:"day_rate_charged_eur"`
	MarketDayRateMin float64 `json:"market_day_rate_min_eur"`
	MarketDayRateMax float64 `json:"market_day_rate_max_eur"`
}

// Report is the result of Compute.
type Report struct {
	GeneratedAt    time.Time     `json:"generated_at"`
	Scenario       *ScenarioInfo `json:"scenario,omitempty"`
	Pricing        Pricing       `json:"pricing"`
	Methods        []MethodInfo  `json:"methods"`
	Total          GroupResult   `json:"total"`
	Municipalities []GroupResult `json:"municipalities"`
	Sites          []SiteResult  `json:"sites"`
	Notes          []string      `json:"notes,omitempty"`
}

// Compute sizes the staffing demand of every site of inv (deduplicated
// counts from counts, which must be inv.Count() or nil to count now).
// The work is linear in sites × methods once the counts exist.
func Compute(ctx context.Context, inv *Inventory, counts []Counts, p *Params, opt Options) (*Report, error) {
	// Validate resolves names into the methods; work on a copy so that
	// concurrent reports (HTTP) can share one Params.
	p = p.Clone()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	names := p.MethodNames()
	if opt.Method != "" {
		m, ok := p.Methods[opt.Method]
		if !ok || m.Disabled {
			return nil, &ParamError{Param: "method", Msg: fmt.Sprintf("unknown method %q (known: %s)", opt.Method, strings.Join(names, ", "))}
		}
		names = []string{opt.Method}
	}
	if counts == nil {
		counts = inv.Count()
	}
	if len(counts) != len(inv.Sites) {
		return nil, fmt.Errorf("compute staffing: %d counts for %d sites", len(counts), len(inv.Sites))
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	pr := Pricing{
		ContractUnitFTE: p.ContractUnitFTE, DaysPerFTE: p.DaysPerFTE, AnnualCostPerFTE: p.AnnualCostPerFTE,
		DayRateNet: p.DayRate(), VAT: p.VAT, VATRate: p.VATRate, DayRateCharged: p.DayRate(),
		MarketDayRateMin: p.MarketDayRateMin, MarketDayRateMax: p.MarketDayRateMax,
	}
	if p.VAT {
		pr.DayRateCharged = p.DayRate() * (1 + p.VATRate)
	}
	r := &Report{GeneratedAt: now.UTC(), Pricing: pr}
	methods := make([]*Method, len(names))
	for i, n := range names {
		m := p.Methods[n]
		methods[i] = m
		r.Methods = append(r.Methods, MethodInfo{Name: n, Kind: m.Kind, Parameters: m.Describe(), Source: m.Source, Params: m})
	}

	filter, err := municipalityFilter(inv, opt.Municipality)
	if err != nil {
		return nil, err
	}
	var untyped, noIncidents, incidentErrs int
	var firstIncidentErr error
	// Per-method text that does not depend on the site, built once.
	suffix := make([]string, len(methods))
	for mi, m := range methods {
		switch m.Kind {
		case KindDeviceRatio:
			suffix[mi] = " devices ÷ " + fmtNum(m.DevicesPerFTE)
		case KindWeighted:
			suffix[mi] = " weighted units ÷ " + fmtNum(m.UnitsPerFTE)
		}
	}
	var typeBasis [numTypes]string
	for t := range numTypes {
		typeBasis[t] = SchoolType(t).German() + " → "
	}
	// Sites are reported by municipality and name: sort indexes, not the
	// results, so that nothing large is moved.
	order := make([]int32, 0, len(inv.Sites))
	for i := range inv.Sites {
		s := &inv.Sites[i]
		if (filter != nil && !filter(s)) || (opt.SiteIDs != nil && !opt.SiteIDs[s.ID]) {
			continue
		}
		order = append(order, int32(i))
	}
	sort.Slice(order, func(a, b int) bool {
		x, y := &inv.Sites[order[a]], &inv.Sites[order[b]]
		if x.Municipality != y.Municipality {
			return x.Municipality < y.Municipality
		}
		return x.Name < y.Name
	})
	groupByID := map[int64]int{}
	groupByName := map[string]int{}
	r.Total.Figures = newFigures(names)
	r.Sites = make([]SiteResult, len(order))
	figs := make([]Figure, len(order)*len(methods))
	for oi, i32 := range order {
		i := int(i32)
		s := &inv.Sites[i]
		if oi&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("compute staffing: %w", err)
			}
		}
		sr := &r.Sites[oi]
		sr.Site, sr.Devices, sr.Provenance = *s, counts[i].Devices, counts[i].Provenance
		sr.Figures = figs[oi*len(methods) : (oi+1)*len(methods) : (oi+1)*len(methods)]
		for mi, m := range methods {
			f := &sr.Figures[mi]
			f.Method = names[mi]
			switch m.Kind {
			case KindDeviceRatio:
				n := 0
				for c, ok := range m.classMask {
					if ok {
						n += sr.Devices[c]
					}
				}
				f.FTE = float64(n) / m.DevicesPerFTE
				f.Basis = strconv.Itoa(n) + suffix[mi]
			case KindSchoolType:
				if s.Type == TypeUnknown || !m.typeSet[s.Type] {
					f.Note = "school type not set for this site"
					if s.Type != TypeUnknown {
						f.Note = "no FTE given for school type " + s.Type.String()
					}
					untyped++
				}
				f.FTE = m.typeFTE[s.Type]
				f.Basis = typeBasis[s.Type] + fmtNum(f.FTE)
			case KindWeighted:
				u := 0.0
				for c, w := range m.classWeight {
					u += w * float64(sr.Devices[c])
				}
				f.FTE = u / m.UnitsPerFTE
				f.Basis = fmtNum(u) + suffix[mi]
			case KindWorkload:
				if opt.Incidents == nil {
					f.Note = "no incident data (availability engine not connected)"
					noIncidents++
					break
				}
				from := now.Add(-time.Duration(m.WindowDays * 24 * float64(time.Hour)))
				n, err := opt.Incidents.OnSiteIncidents(ctx, s.ID, from, now, m.MinOutage())
				if err != nil {
					if ctx.Err() != nil {
						return nil, fmt.Errorf("count incidents of site %q: %w", s.Name, err)
					}
					incidentErrs++
					if firstIncidentErr == nil {
						firstIncidentErr = fmt.Errorf("site %q: %w", s.Name, err)
					}
					f.Note = "incidents unavailable: " + err.Error()
					break
				}
				travel := s.TravelMinutes
				if travel <= 0 {
					travel = m.DefaultTravelMinutes
				}
				annual := float64(n) * 365 / m.WindowDays
				onSite := annual * (1 - m.RemoteFixShare)
				hours := onSite * (m.HandlingMinutes + travel) / 60
				f.FTE = hours / m.ProductiveHoursPerFTE
				f.Basis = fmt.Sprintf("%d incidents in %s days → %s/year on site × (%s + %s min) = %s h ÷ %s h",
					n, fmtNum(m.WindowDays), fmtNum(onSite), fmtNum(m.HandlingMinutes), fmtNum(travel), fmtNum(hours), fmtNum(m.ProductiveHoursPerFTE))
			}
			finish(f, p, s.ContractedPersonDays)
		}
		var gi int
		var ok bool
		if s.MunicipalityID != 0 {
			gi, ok = groupByID[s.MunicipalityID]
		} else {
			gi, ok = groupByName[s.Municipality]
		}
		if !ok {
			gi = len(r.Municipalities)
			if s.MunicipalityID != 0 {
				groupByID[s.MunicipalityID] = gi
			} else {
				groupByName[s.Municipality] = gi
			}
			r.Municipalities = append(r.Municipalities, GroupResult{MunicipalityID: s.MunicipalityID, Municipality: s.Municipality, Figures: newFigures(names)})
		}
		for _, g := range [2]*GroupResult{&r.Municipalities[gi], &r.Total} {
			g.Sites++
			g.ContractedPersonDays += s.ContractedPersonDays
			for c, n := range sr.Devices {
				g.Devices[c] += n
			}
			for mi := range sr.Figures {
				g.Figures[mi].FTE += sr.Figures[mi].FTE
			}
		}
	}
	for gi := range r.Municipalities {
		finishGroup(&r.Municipalities[gi], p)
	}
	finishGroup(&r.Total, p)
	// Already in municipality order; the stable sort only orders
	// municipalities that share a name but not an ID.
	sort.SliceStable(r.Municipalities, func(a, b int) bool { return r.Municipalities[a].Municipality < r.Municipalities[b].Municipality })
	if untyped > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("school_type: %d site(s) without a usable school type count 0 FTE; set it with `schulmon-collector site set --school-type`", untyped))
	}
	if noIncidents > 0 {
		r.Notes = append(r.Notes, "workload: no incident data available; connect the availability engine")
	}
	if incidentErrs > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("workload: incidents unavailable for %d site(s), first: %v", incidentErrs, firstIncidentErr))
	}
	return r, nil
}

func newFigures(names []string) []Figure {
	fs := make([]Figure, len(names))
	for i, n := range names {
		fs[i].Method = n
	}
	return fs
}

func finishGroup(g *GroupResult, p *Params) {
	for i := range g.Figures {
		f := &g.Figures[i]
		f.Basis = fmt.Sprintf("sum of %d site(s)", g.Sites)
		finish(f, p, g.ContractedPersonDays)
	}
}

// finish derives everything from f.FTE.
func finish(f *Figure, p *Params, contracted float64) {
	f.FTEContract = RoundUp(f.FTE, p.ContractUnitFTE)
	f.PersonDays = f.FTE * p.DaysPerFTE
	f.PersonDaysContract = f.FTEContract * p.DaysPerFTE
	rate := p.DayRate()
	if p.VAT {
		rate *= 1 + p.VATRate
	}
	f.CostEUR = f.PersonDays * rate
	f.CostContractEUR = f.PersonDaysContract * rate
	f.MarketMinEUR = f.PersonDays * p.MarketDayRateMin
	f.MarketMaxEUR = f.PersonDays * p.MarketDayRateMax
	f.GapPersonDays = f.PersonDays - contracted
}

// RoundUp rounds fte up to a multiple of unit. A hair of tolerance keeps
// 7 × 0.33 + 5 × 0.5 (4.8100000000000005 in binary) from jumping a unit
// when it sits exactly on one.
func RoundUp(fte, unit float64) float64 {
	if fte <= 0 {
		return 0
	}
	return math.Ceil(fte/unit-1e-9) * unit
}

func municipalityFilter(inv *Inventory, m string) (func(*Site) bool, error) {
	m = strings.TrimSpace(m)
	if m == "" {
		return nil, nil
	}
	id, idErr := strconv.ParseInt(m, 10, 64)
	match := func(s *Site) bool {
		return strings.EqualFold(s.Municipality, m) || (idErr == nil && s.MunicipalityID == id)
	}
	seen := map[string]bool{}
	for i := range inv.Sites {
		if match(&inv.Sites[i]) {
			return match, nil
		}
		seen[inv.Sites[i].Municipality] = true
	}
	known := make([]string, 0, len(seen))
	for k := range seen {
		known = append(known, k)
	}
	sort.Strings(known)
	if len(known) > 20 {
		known = append(known[:20], "…")
	}
	return nil, &ParamError{Param: "municipality", Msg: fmt.Sprintf("no site belongs to municipality %q (known: %s)", m, strings.Join(known, ", "))}
}
