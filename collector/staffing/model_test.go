package staffing

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func figure(t *testing.T, fs []Figure, method string) Figure {
	t.Helper()
	for _, f := range fs {
		if f.Method == method {
			return f
		}
	}
	t.Fatalf("no figure for method %q in %+v", method, fs)
	return Figure{}
}

func compute(t *testing.T, inv *Inventory, p *Params, opt Options) *Report {
	t.Helper()
	r, err := Compute(context.Background(), inv, nil, p, opt)
	if err != nil {
		t.Fatalf("compute: %v", err)
	}
	return r
}

// KRZN: more than 1,200 end devices need more than three administrators.
func TestGolden1201EndDevicesMoreThanThreeFTE(t *testing.T) {
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Municipality: "Moers", Name: "Gymnasium Adolfinum", Type: TypeSecondary})
	b.AddCount(s, ClassEndpoint, SourceCSV, 1201)
	b.AddCount(s, ClassSwitch, SourceSNMP, 12) // not end devices: must not count
	r := compute(t, b.Build(), DefaultParams(), Options{Method: MethodDeviceRatio})
	f := figure(t, r.Total.Figures, MethodDeviceRatio)
	if !(f.FTE > 3) || !near(f.FTE, 1201.0/400) {
		t.Fatalf("FTE = %v, want 1201/400 = 3.0025 (> 3)", f.FTE)
	}
	if f.FTEContract != 3.5 {
		t.Errorf("contract FTE = %v, want 3.5 (rounded up to 0.5)", f.FTEContract)
	}
	if !strings.Contains(f.Basis, "1201 devices ÷ 400") && r.Sites[0].Figures[0].Basis != "1201 devices ÷ 400" {
		t.Errorf("site basis = %q", r.Sites[0].Figures[0].Basis)
	}
	if len(r.Methods) != 1 || r.Methods[0].Source != SourceKRZN || !strings.Contains(r.Methods[0].Parameters, "400") {
		t.Errorf("method info = %+v, want KRZN source and the 1:400 parameter", r.Methods)
	}
}

func TestGolden2FTEIs400PersonDaysIs190000EUR(t *testing.T) {
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Municipality: "Kamp-Lintfort", Name: "BK", Type: TypeVocational})
	b.AddCount(s, ClassEndpoint, SourceAgent, 800) // 800 ÷ 400 = 2 FTE
	r := compute(t, b.Build(), DefaultParams(), Options{Method: MethodDeviceRatio})
	f := figure(t, r.Sites[0].Figures, MethodDeviceRatio)
	if f.FTE != 2 || f.PersonDays != 400 || f.CostEUR != 190000 || f.CostContractEUR != 190000 {
		t.Fatalf("got FTE %v, person-days %v, cost %v/%v; want 2, 400, 190000", f.FTE, f.PersonDays, f.CostEUR, f.CostContractEUR)
	}
	if r.Pricing.DayRateNet != 475 {
		t.Errorf("day rate = %v, want 475", r.Pricing.DayRateNet)
	}
	if f.MarketMinEUR != 400000 || f.MarketMaxEUR != 880000 {
		t.Errorf("market range = %v–%v, want 400000–880000", f.MarketMinEUR, f.MarketMaxEUR)
	}
}

func TestGoldenSchoolTypeSevenPrimaryFiveSecondary(t *testing.T) {
	b := NewInventoryBuilder()
	for i := range 7 {
		b.AddSite(Site{ID: int64(i + 1), MunicipalityID: 1, Municipality: "Rheinberg", Name: "GS " + string(rune('A'+i)), Type: TypePrimary})
	}
	for i := range 5 {
		b.AddSite(Site{ID: int64(i + 100), MunicipalityID: 1, Municipality: "Rheinberg", Name: "Sek " + string(rune('A'+i)), Type: TypeSecondary})
	}
	r := compute(t, b.Build(), DefaultParams(), Options{Method: MethodSchoolType})
	f := figure(t, r.Total.Figures, MethodSchoolType)
	if !near(f.FTE, 4.81) {
		t.Fatalf("FTE = %v, want 4.81", f.FTE)
	}
	if f.FTEContract != 5 {
		t.Errorf("contract FTE = %v, want 5", f.FTEContract)
	}
	if len(r.Municipalities) != 1 || !near(r.Municipalities[0].Figures[0].FTE, 4.81) || r.Municipalities[0].Sites != 12 {
		t.Errorf("municipality = %+v", r.Municipalities)
	}
	if !strings.Contains(r.Methods[0].Source, "GRDrs 1223/2023") {
		t.Errorf("source = %q", r.Methods[0].Source)
	}
}

func TestVATOnAndOff(t *testing.T) {
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Municipality: "M", Name: "S"})
	b.AddCount(s, ClassEndpoint, SourceCSV, 400)
	inv := b.Build()
	p := DefaultParams()
	off := figure(t, compute(t, inv, p, Options{}).Total.Figures, MethodDeviceRatio)
	if off.CostEUR != 95000 {
		t.Fatalf("VAT off: cost = %v, want 95000", off.CostEUR)
	}
	if err := p.Decode([]byte("vat: true\n"), false); err != nil {
		t.Fatal(err)
	}
	r := compute(t, inv, p, Options{})
	on := figure(t, r.Total.Figures, MethodDeviceRatio)
	if !near(on.CostEUR, 113050) {
		t.Fatalf("VAT on: cost = %v, want 113050 (95000 × 1.19)", on.CostEUR)
	}
	if !r.Pricing.VAT || !near(r.Pricing.DayRateCharged, 565.25) {
		t.Errorf("pricing = %+v, want VAT and 565.25 EUR/day", r.Pricing)
	}
	// The market comparison is gross either way.
	if on.MarketMinEUR != off.MarketMinEUR {
		t.Errorf("market figure changed with VAT: %v vs %v", on.MarketMinEUR, off.MarketMinEUR)
	}
}

func TestRoundingToContractUnit(t *testing.T) {
	cases := []struct{ fte, unit, want float64 }{
		{0, 0.5, 0}, {0.01, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0.51, 0.5, 1}, {3.0025, 0.5, 3.5},
		{3.0025, 1, 4}, {4.81, 0.25, 5}, {0.33 * 3, 0.33, 0.99}, {1.1, 0.1, 1.1}, {2, 0.5, 2},
	}
	for _, c := range cases {
		if got := RoundUp(c.fte, c.unit); !near(got, c.want) {
			t.Errorf("RoundUp(%v, %v) = %v, want %v", c.fte, c.unit, got, c.want)
		}
	}
	// Through a report with a custom unit: 410 endpoints = 1.025 FTE.
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Municipality: "M", Name: "S", ContractedPersonDays: 150})
	b.AddCount(s, ClassEndpoint, SourceCSV, 410)
	p := DefaultParams()
	if err := p.Decode([]byte(`{"contract_unit_fte": 0.25}`), true); err != nil {
		t.Fatal(err)
	}
	f := figure(t, compute(t, b.Build(), p, Options{}).Sites[0].Figures, MethodDeviceRatio)
	if f.FTEContract != 1.25 || f.PersonDaysContract != 250 || !near(f.PersonDays, 205) {
		t.Fatalf("got %v FTE contract, %v person-days contract, %v exact; want 1.25, 250, 205", f.FTEContract, f.PersonDaysContract, f.PersonDays)
	}
	if !near(f.GapPersonDays, 55) {
		t.Errorf("gap = %v, want 205 − 150 = 55", f.GapPersonDays)
	}
}

// knownIncidents is the availability engine's answer in tests.
type knownIncidents struct {
	bySite map[int64]int
	from   time.Time
	to     time.Time
}

func (k *knownIncidents) OnSiteIncidents(_ context.Context, siteID int64, from, to time.Time, _ time.Duration) (int, error) {
	k.from, k.to = from, to
	n, ok := k.bySite[siteID]
	if !ok {
		return 0, errors.New("no such site")
	}
	return n, nil
}

func TestWorkloadWithKnownIncidents(t *testing.T) {
	b := NewInventoryBuilder()
	b.AddSite(Site{ID: 1, Municipality: "M", Name: "near", TravelMinutes: 30})
	b.AddSite(Site{ID: 2, Municipality: "M", Name: "far", TravelMinutes: 90})
	b.AddSite(Site{ID: 3, Municipality: "M", Name: "default travel"})
	inv := b.Build()
	inc := &knownIncidents{bySite: map[int64]int{1: 240, 2: 100, 3: 64}}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := compute(t, inv, DefaultParams(), Options{Method: MethodWorkload, Incidents: inc, Now: now})
	// near: 240 × 0.5 on site × (60 + 30) min = 180 h ÷ 1280 h = 0.140625
	// far:  100 × 0.5 × (60 + 90) min = 125 h ÷ 1280 = 0.09765625
	// default travel (30 min): 64 × 0.5 × 90 min = 48 h ÷ 1280 = 0.0375
	want := map[string]float64{"near": 0.140625, "far": 0.09765625, "default travel": 0.0375}
	for _, s := range r.Sites {
		if f := s.Figures[0]; !near(f.FTE, want[s.Name]) {
			t.Errorf("%s: FTE = %v, want %v (%s)", s.Name, f.FTE, want[s.Name], f.Basis)
		}
	}
	if tot := r.Total.Figures[0].FTE; !near(tot, 0.140625+0.09765625+0.0375) {
		t.Errorf("total = %v", tot)
	}
	if !inc.to.Equal(now) || !inc.from.Equal(now.AddDate(0, 0, -365)) {
		t.Errorf("window = %v – %v, want the 365 days before %v", inc.from, inc.to, now)
	}
	// A window of half a year is annualised: the same incidents count twice.
	p := DefaultParams()
	if err := p.Decode([]byte("methods:\n  workload:\n    window_days: 182.5\n    remote_fix_share: 0\n"), false); err != nil {
		t.Fatal(err)
	}
	r = compute(t, inv, p, Options{Method: MethodWorkload, Incidents: &knownIncidents{bySite: map[int64]int{1: 240, 2: 0, 3: 0}}, Now: now})
	for _, s := range r.Sites {
		if s.Name == "near" && !near(s.Figures[0].FTE, 480*1.5/1280) {
			t.Errorf("annualised half-year: FTE = %v, want %v", s.Figures[0].FTE, 480*1.5/1280)
		}
	}
	// Without an incident source the method says so instead of reporting 0.
	r = compute(t, inv, DefaultParams(), Options{Method: MethodWorkload})
	if r.Sites[0].Figures[0].Note == "" || len(r.Notes) == 0 {
		t.Errorf("no note without incident data: %+v", r.Sites[0].Figures[0])
	}
}

func TestBadParameters(t *testing.T) {
	cases := []struct {
		doc   string
		param string
	}{
		{"methods: {device_ratio: {devices_per_fte: 0}}", "methods.device_ratio.devices_per_fte"},
		{"methods: {device_ratio: {devices_per_fte: -400}}", "methods.device_ratio.devices_per_fte"},
		{"methods: {workload: {productive_hours_per_fte: 0}}", "methods.workload.productive_hours_per_fte"},
		{"methods: {mine: {kind: headcount}}", "methods.mine.kind"},
		{"methods: {mine: {devices_per_fte: 3}}", "methods.mine.kind"},
		{"methods: {school_type: {fte_per_school: {gesamtschule_plus: 0.5}}}", "methods.school_type.fte_per_school.gesamtschule_plus"},
		{"methods: {weighted: {weights: {toaster: 2}}}", "methods.weighted.weights.toaster"},
		{"methods: {device_ratio: {weights: {server: 2}}}", "methods.device_ratio.weights"},
		{"methods: {workload: {remote_fix_share: 1.5}}", "methods.workload.remote_fix_share"},
		{"contract_unit_fte: 0", "contract_unit_fte"},
		{"days_per_fte: -1", "days_per_fte"},
		{"vat_rate: 19", "vat_rate"},
	}
	for _, c := range cases {
		err := DefaultParams().Decode([]byte(c.doc), false)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != c.param {
			t.Errorf("%s: error %v, want one naming %s", c.doc, err, c.param)
		}
	}
	// Unknown keys are errors that name the key.
	for _, doc := range []string{"vat_rates: 0.19", "methods: {device_ratio: {devices_per_ftes: 300}}"} {
		err := DefaultParams().Decode([]byte(doc), false)
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s: error %v, want unknown field", doc, err)
		}
	}
	// Unknown method in a report request.
	b := NewInventoryBuilder()
	b.AddSite(Site{ID: 1, Name: "S"})
	_, err := Compute(context.Background(), b.Build(), nil, DefaultParams(), Options{Method: "gut_feeling"})
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Param != "method" || !strings.Contains(err.Error(), "device_ratio") {
		t.Errorf("unknown method: %v", err)
	}
	// Unknown school type.
	if _, err := ParseSchoolType("Hogwarts"); err == nil || !strings.Contains(err.Error(), "Hogwarts") {
		t.Errorf("unknown school type: %v", err)
	}
}

func TestParameterFileOverridesOnlyWhatItNames(t *testing.T) {
	p := DefaultParams()
	doc := `
methods:
  device_ratio: {devices_per_fte: 350}
  ratio_cosn: {disabled: true}
  tablets_only: {kind: device_ratio, devices_per_fte: 600, classes: [endpoint, display], source: "own rule"}
  school_type: {fte_per_school: {Verwaltung: 0.2}}
`
	if err := p.Decode([]byte(doc), false); err != nil {
		t.Fatal(err)
	}
	m := p.Methods[MethodDeviceRatio]
	if m.DevicesPerFTE != 350 || m.Source != SourceKRZN || len(m.Classes) != 1 {
		t.Errorf("device_ratio = %+v", m)
	}
	if st := p.Methods[MethodSchoolType]; st.typeFTE[TypeAdministration] != 0.2 || st.typeFTE[TypePrimary] != 0.33 {
		t.Errorf("school_type = %v", st.typeFTE)
	}
	names := strings.Join(p.MethodNames(), ",")
	if names != "device_ratio,ratio_erlangen,ratio_ppic,school_type,weighted,workload,tablets_only" {
		t.Errorf("methods = %s", names)
	}
	if DefaultParams().Methods[MethodDeviceRatio].DevicesPerFTE != 400 {
		t.Error("decoding changed the defaults")
	}
}

func TestWeightedCountsNetworkMore(t *testing.T) {
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Municipality: "M", Name: "S"})
	b.AddCount(s, ClassEndpoint, SourceAgent, 300)
	b.AddCount(s, ClassServer, SourceAgent, 2)
	b.AddCount(s, ClassSwitch, SourceSNMP, 10)
	b.AddCount(s, ClassAccessPoint, SourceSNMP, 20)
	r := compute(t, b.Build(), DefaultParams(), Options{Method: MethodWeighted})
	// 300 + 2×10 + 10×3 + 20×2 = 390 units ÷ 400
	if f := r.Total.Figures[0]; !near(f.FTE, 390.0/400) {
		t.Fatalf("FTE = %v, want %v (%s)", f.FTE, 390.0/400, f.Basis)
	}
}

func TestExampleParamsFileLoads(t *testing.T) {
	p, err := LoadParams("testdata/params.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !p.VAT || p.Methods["tablets_and_displays"].DevicesPerFTE != 450 || p.Methods[MethodWeighted].classWeight[ClassServer] != 12 ||
		p.Methods[MethodWeighted].classWeight[ClassEndpoint] != 1 || p.Methods[MethodWorkload].RemoteFixShare != 0.6 {
		t.Fatalf("params = %+v", p)
	}
}
