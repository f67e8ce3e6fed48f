package staffing

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"html"
	"os"
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	f, err := os.Open("testdata/inventory.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ds, err := ParseCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 4 {
		t.Fatalf("got %d rows, want 4: %+v", len(ds), ds)
	}
	if d := ds[0]; d.Class != ClassEndpoint || d.Count != 30 || d.Site != "GS Nord" || d.Line != 3 || d.Note != "iPad-Koffer Klasse 3" {
		t.Errorf("row 1 = %+v", d)
	}
	if d := ds[1]; d.Class != ClassDisplay || d.Count != 6 {
		t.Errorf("row 2 = %+v", d)
	}
	if d := ds[2]; d.MAC != "00:1b:2c:3d:4e:5f" || d.Serial != "CNB1234567" || d.Class != ClassPrinter {
		t.Errorf("row 3 = %+v", d)
	}
}

func TestParseCSVBadRowNamesTheRow(t *testing.T) {
	f, err := os.Open("testdata/inventory_bad.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = ParseCSV(f)
	var ce *CSVError
	if !errors.As(err, &ce) || ce.Line != 3 || ce.Column != "class" || !strings.Contains(err.Error(), "toaster") {
		t.Fatalf("error = %v, want line 3, column class, naming toaster", err)
	}
	cases := map[string]struct {
		line int
		col  string
	}{
		"site,class,colour\nA,endpoint,red\n":                    {1, "colour"},
		"site,class,count\nA,endpoint,many\n":                    {2, "count"},
		"site,class,count\nA,endpoint,1\nA,server,0\n":           {3, "count"},
		"site,class,mac\nA,endpoint,00:11:22:33:44\n":            {2, "mac"},
		"site,class,count,mac\nA,endpoint,2,02:00:00:00:00:01\n": {2, "count"},
		"site,class\n,endpoint\n":                                {2, "site"},
		"class,count\nendpoint,1\n":                              {1, ""},
		"site,class\nA,endpoint\n\"B,endpoint\n":                 {3, ""},
		"site,class\nA,endpoint,extra\n":                         {2, ""},
	}
	for doc, want := range cases {
		_, err := ParseCSV(strings.NewReader(doc))
		if !errors.As(err, &ce) || ce.Line != want.line || ce.Column != want.col {
			t.Errorf("%q: error %v, want line %d column %q", doc, err, want.line, want.col)
		}
	}
}

func sampleReport(t *testing.T) (*Inventory, *Report) {
	t.Helper()
	b := NewInventoryBuilder()
	gs := b.AddSite(Site{ID: 1, MunicipalityID: 1, Municipality: "Moers", Name: "GS Nord", Type: TypePrimary, ContractedPersonDays: 40})
	ad := b.AddSite(Site{ID: 2, MunicipalityID: 1, Municipality: "Moers", Name: "Adolfinum", Type: TypeSecondary, ContractedPersonDays: 100})
	b.AddSite(Site{ID: 3, MunicipalityID: 2, Municipality: "Neukirchen-Vluyn", Name: "Rathaus", Type: TypeAdministration})
	b.AddCount(gs, ClassEndpoint, SourceCSV, 100)
	b.AddDevice(gs, Device{Class: ClassServer, Source: SourceAgent, Hostname: "srv", MACs: []string{"02:00:00:00:00:01"}})
	b.AddDevice(gs, Device{Class: ClassEndpoint, Source: SourceDiscovery, MACs: []string{"02:00:00:00:00:01"}})
	b.AddCount(ad, ClassEndpoint, SourceDiscovery, 700)
	inv := b.Build()
	r, err := Compute(context.Background(), inv, nil, DefaultParams(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return inv, r
}

func TestScenarioFromFile(t *testing.T) {
	inv, _ := sampleReport(t)
	sc, err := LoadScenario("testdata/scenario.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ComputeScenario(context.Background(), inv, nil, DefaultParams(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Baseline device_ratio: 800 endpoints ÷ 400 = 2. Scenario: 800 + 300 +
	// 150 = 1250 endpoints ÷ 350.
	base := figure(t, r.Scenario.Baseline.Figures, MethodDeviceRatio)
	now := figure(t, r.Total.Figures, MethodDeviceRatio)
	if !near(base.FTE, 2) || !near(now.FTE, 1250.0/350) {
		t.Fatalf("baseline %v, scenario %v; want 2 and %v", base.FTE, now.FTE, 1250.0/350)
	}
	d := figure(t, r.Scenario.Delta, MethodDeviceRatio)
	if !near(d.FTE, 1250.0/350-2) {
		t.Errorf("delta = %v", d.FTE)
	}
	// school_type gains one Grundschule.
	if d := figure(t, r.Scenario.Delta, MethodSchoolType); !near(d.FTE, 0.33) {
		t.Errorf("school_type delta = %v, want 0.33", d.FTE)
	}
	if r.Total.Sites != 4 || r.Total.ContractedPersonDays != 240 {
		t.Errorf("scenario total: %d sites, %v contracted days; want 4 and 240", r.Total.Sites, r.Total.ContractedPersonDays)
	}
	if !strings.Contains(r.Methods[0].Source, "1 : 350") {
		t.Errorf("device_ratio source = %q, want the scenario's ratio named", r.Methods[0].Source)
	}
	for _, format := range []string{"md", "html", "csv"} {
		var buf bytes.Buffer
		if err := r.Write(&buf, format); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Tablets für die GS Nord", "+300 endpoint at GS Nord", "scenario +300"} {
			if format == "csv" && want != "scenario +300" {
				continue
			}
			if !strings.Contains(html.UnescapeString(buf.String()), want) {
				t.Errorf("%s output lacks %q", format, want)
			}
		}
	}
	// The inventory is untouched.
	if len(inv.Sites) != 3 || inv.Sites[1].ContractedPersonDays != 100 || inv.Count()[0].Devices[ClassEndpoint] != 100 {
		t.Errorf("scenario changed the inventory: %+v", inv.Sites)
	}
	// The same scenario as JSON (HTTP API).
	js, _ := json.Marshal(map[string]any{"name": "x", "ratio": 350, "changes": []any{map[string]any{"add_devices": map[string]any{"site": "GS Nord", "class": "tablet", "count": 300}}}})
	if _, err := ParseScenario(js, true); err != nil {
		t.Errorf("JSON scenario: %v", err)
	}
	bad := map[string]string{
		"name: x\nratio: -350\n":                                                              "ratio",
		"name: x\nchanges:\n  - add_tablets: {site: A}\n":                                     "unknown field",
		"name: x\nchanges:\n  - {}\n":                                                         "exactly one",
		"name: x\nchanges:\n  - new_site: {name: N, school_type: Hogwarts}\n":                 "school_type",
		"name: x\nchanges:\n  - add_devices: {site: Nowhere, class: endpoint, count: 1}\n":    "Nowhere",
		"name: x\nparams: {vat_rates: 1}\n":                                                   "unknown field",
		"name: x\nparams: {methods: {device_ratio: {devices_per_fte: -1}}}\n":                 "methods.device_ratio.devices_per_fte",
		"name: x\nchanges:\n  - add_devices: {site: GS Nord, class: endpoint, count: -101}\n": "has 100",
	}
	for doc, want := range bad {
		sc, err := ParseScenario([]byte(doc), false)
		if err == nil {
			_, err = ComputeScenario(context.Background(), inv, nil, DefaultParams(), sc, Options{})
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
}

func TestFormats(t *testing.T) {
	_, r := sampleReport(t)
	for _, f := range Formats {
		var buf bytes.Buffer
		if err := r.Write(&buf, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out := buf.String()
		for _, want := range []string{"GS Nord", "Adolfinum", "GRDrs 1223/2023", "Bertelsmann"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s output lacks %q", f, want)
			}
		}
		switch f {
		case "json":
			var back struct {
				Total GroupResult  `json:"total"`
				Sites []SiteResult `json:"sites"`
			}
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if fig := figure(t, back.Total.Figures, MethodDeviceRatio); !near(fig.FTE, 2) || back.Total.Devices[ClassServer] != 1 {
				t.Errorf("json total = %+v", back.Total)
			}
		case "csv":
			rows, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			// header + (1 total + 2 municipalities + 3 sites) × 7 methods
			if len(rows) != 1+6*7 {
				t.Errorf("csv has %d rows, want %d", len(rows), 1+6*7)
			}
			found := false
			for _, row := range rows {
				if row[0] == "site" && row[2] == "GS Nord" && row[6] == "device_ratio" {
					found = row[7] == "0.250" && strings.Contains(row[20], "agent+discovery 1")
				}
			}
			if !found {
				t.Errorf("csv lacks GS Nord device_ratio 0.250 with provenance")
			}
		case "md":
			if !strings.Contains(out, "| Moers | 2 | 801 | device_ratio | 2.000 |") {
				t.Errorf("markdown lacks the Moers device_ratio row:\n%s", out)
			}
		case "html":
			if !strings.Contains(out, `<table id="sites">`) || strings.Contains(out, "<script") {
				t.Errorf("html lacks the sites table")
			}
		}
	}
	var pe *ParamError
	if err := r.Write(&bytes.Buffer{}, "pdf"); !errors.As(err, &pe) || pe.Param != "format" {
		t.Errorf("pdf: %v", err)
	}
}

func TestPointsForDashboards(t *testing.T) {
	_, r := sampleReport(t)
	pts := r.Points(r.GeneratedAt)
	// (1 total + 2 municipalities + 3 sites) × 7 methods
	if len(pts) != 6*7 {
		t.Fatalf("%d points, want 42", len(pts))
	}
	found := false
	for i := range pts {
		p := &pts[i]
		site, _ := p.Tag("site")
		method, _ := p.Tag("method")
		if site == "Adolfinum" && method == MethodDeviceRatio {
			fte, _ := p.Field("fte")
			level, _ := p.Tag("level")
			found = p.Measurement == "staffing" && near(fte.FloatValue(), 700.0/400) && level == "site"
		}
	}
	if !found {
		t.Error("no staffing point for Adolfinum device_ratio with 1.75 FTE")
	}
}
