package staffing

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Formats are the output formats of a report.
var Formats = []string{"json", "csv", "md", "html"}

// Write writes the report in one of Formats.
func (r *Report) Write(w io.Writer, format string) error {
	var err error
	switch strings.ToLower(format) {
	case "json", "":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	case "csv":
		err = r.writeCSV(w)
	case "md", "markdown":
		err = r.writeMarkdown(w)
	case "html":
		err = reportHTML.Execute(w, r)
	default:
		return &ParamError{Param: "format", Msg: fmt.Sprintf("unknown format %q (use one of %s)", format, strings.Join(Formats, ", "))}
	}
	if err != nil {
		return fmt.Errorf("write staffing report as %s: %w", format, err)
	}
	return nil
}

func (r *Report) method(name string) MethodInfo {
	for _, m := range r.Methods {
		if m.Name == name {
			return m
		}
	}
	return MethodInfo{Name: name}
}

func f2(v float64) string  { return strconv.FormatFloat(v, 'f', 2, 64) }
func f3(v float64) string  { return strconv.FormatFloat(v, 'f', 3, 64) }
func eur(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// writeCSV writes one row per level × method, each with its method's
// parameters and source, so that a spreadsheet needs nothing else.
func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"level", "municipality", "site", "school_type", "devices", "endpoints", "method", "fte", "fte_contract",
		"person_days", "person_days_contract", "cost_eur", "cost_contract_eur", "vat", "market_min_eur", "market_max_eur",
		"contracted_person_days", "gap_person_days", "basis", "note", "how_counted", "parameters", "source"})
	row := func(level, mun, site, typ string, d DeviceCounts, contracted float64, prov string, f Figure) {
		m := r.method(f.Method)
		_ = cw.Write([]string{level, mun, site, typ, strconv.Itoa(d.Total()), strconv.Itoa(d[ClassEndpoint]), f.Method,
			f3(f.FTE), f2(f.FTEContract), f2(f.PersonDays), f2(f.PersonDaysContract), f2(f.CostEUR), f2(f.CostContractEUR),
			strconv.FormatBool(r.Pricing.VAT), f2(f.MarketMinEUR), f2(f.MarketMaxEUR), f2(contracted), f2(f.GapPersonDays),
			f.Basis, f.Note, prov, m.Parameters, m.Source})
	}
	for _, f := range r.Total.Figures {
		row("total", "", "", "", r.Total.Devices, r.Total.ContractedPersonDays, "", f)
	}
	if sc := r.Scenario; sc != nil {
		for _, f := range sc.Baseline.Figures {
			row("baseline_total", "", "", "", sc.Baseline.Devices, sc.Baseline.ContractedPersonDays, "", f)
		}
		for _, f := range sc.Delta {
			row("scenario_delta", "", "", "", DeviceCounts{}, 0, "", f)
		}
	}
	for _, g := range r.Municipalities {
		for _, f := range g.Figures {
			row("municipality", g.Municipality, "", "", g.Devices, g.ContractedPersonDays, "", f)
		}
	}
	for i := range r.Sites {
		s := &r.Sites[i]
		prov := HowCounted(s.Provenance)
		for _, f := range s.Figures {
			row("site", s.Municipality, s.Name, s.Type.German(), s.Devices, s.ContractedPersonDays, prov, f)
		}
	}
	cw.Flush()
	return cw.Error()
}

// HowCounted summarises provenance in one line, e.g.
// "endpoint 42: discovery 30, agent+discovery 10, csv 2 (11 records merged)".
func HowCounted(ps []Provenance) string {
	var parts []string
	for i := range ps {
		p := &ps[i]
		by := p.SeenBy()
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var seen []string
		for _, k := range keys {
			seen = append(seen, fmt.Sprintf("%s %d", k, by[k]))
		}
		if p.Scenario != 0 {
			seen = append(seen, fmt.Sprintf("scenario %+d", p.Scenario))
		}
		s := fmt.Sprintf("%s %d: %s", p.Class, p.Devices, strings.Join(seen, ", "))
		if p.Merged > 0 {
			s += fmt.Sprintf(" (%d records merged by MAC/serial/hostname/IP)", p.Merged)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func (r *Report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Staffing demand\n\n")
	fmt.Fprintf(&b, "Generated %s. ", r.GeneratedAt.Format("2006-01-02 15:04 MST"))
	vat := "without VAT"
	if r.Pricing.VAT {
		vat = fmt.Sprintf("with %s %% VAT", fmtNum(r.Pricing.VATRate*100))
	}
	fmt.Fprintf(&b, "Pricing: %s EUR per FTE-year of %s person-days = %s EUR/day net, costs %s (%s EUR/day); market comparison %s–%s EUR/day gross; FTE rounded up to %s.\n\n",
		eur(r.Pricing.AnnualCostPerFTE), fmtNum(r.Pricing.DaysPerFTE), f2(r.Pricing.DayRateNet), vat, f2(r.Pricing.DayRateCharged),
		eur(r.Pricing.MarketDayRateMin), eur(r.Pricing.MarketDayRateMax), fmtNum(r.Pricing.ContractUnitFTE))
	if sc := r.Scenario; sc != nil {
		fmt.Fprintf(&b, "## Scenario: %s\n\n", mdEscape(sc.Name))
		if sc.Description != "" {
			b.WriteString(sc.Description + "\n\n")
		}
		for _, c := range sc.Changes {
			fmt.Fprintf(&b, "- %s\n", mdEscape(c))
		}
		b.WriteString("\n| method | baseline FTE | scenario FTE | Δ FTE | Δ person-days | Δ cost EUR |\n|---|---:|---:|---:|---:|---:|\n")
		for _, d := range sc.Delta {
			var base, now float64
			for _, f := range sc.Baseline.Figures {
				if f.Method == d.Method {
					base = f.FTE
				}
			}
			now = base + d.FTE
			fmt.Fprintf(&b, "| %s | %s | %s | %+.3f | %+.1f | %+.0f |\n", d.Method, f3(base), f3(now), d.FTE, d.PersonDays, d.CostEUR)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Methods\n\n| method | rule and parameters | source |\n|---|---|---|\n")
	for _, m := range r.Methods {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", m.Name, mdEscape(m.Parameters), mdEscape(m.Source))
	}
	group := func(title string, gs []GroupResult) {
		fmt.Fprintf(&b, "\n## %s\n\n| municipality | sites | devices | method | FTE | FTE (contract) | person-days | cost EUR | market EUR | contracted days | gap days |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n", title)
		for _, g := range gs {
			name := g.Municipality
			if name == "" {
				name = "all"
			}
			for _, f := range g.Figures {
				fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s–%s | %s | %+.1f |\n", mdEscape(name), g.Sites, g.Devices.Total(), f.Method,
					f3(f.FTE), fmtNum(f.FTEContract), f2(f.PersonDays), eur(f.CostEUR), eur(f.MarketMinEUR), eur(f.MarketMaxEUR), fmtNum(g.ContractedPersonDays), f.GapPersonDays)
			}
		}
	}
	group("Total", []GroupResult{r.Total})
	group("Municipalities", r.Municipalities)
	b.WriteString("\n## Sites\n\n| municipality | site | type | devices | ")
	for _, m := range r.Methods {
		b.WriteString(m.Name + " FTE | ")
	}
	b.WriteString("contracted days | how counted |\n|---|---|---|---:|")
	for range r.Methods {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---|\n")
	for i := range r.Sites {
		s := &r.Sites[i]
		fmt.Fprintf(&b, "| %s | %s | %s | %d | ", mdEscape(s.Municipality), mdEscape(s.Name), s.Type.German(), s.Devices.Total())
		for _, f := range s.Figures {
			v := f3(f.FTE)
			if f.Note != "" {
				v += " ⚠"
			}
			b.WriteString(v + " | ")
		}
		fmt.Fprintf(&b, "%s | %s |\n", fmtNum(s.ContractedPersonDays), mdEscape(HowCounted(s.Provenance)))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", mdEscape(n))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var reportHTML = template.Must(template.New("staffing").Funcs(template.FuncMap{
	"f2": f2, "f3": f3, "eur": eur, "num": fmtNum, "how": HowCounted,
	"pct": func(v float64) string { return fmtNum(v * 100) },
}).Parse(`<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>schulmon – Personalbedarf / staffing demand</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}
.note{color:#a15c00}
.src{font-size:.85em;color:#555}
</style></head><body>
<h1>Staffing demand</h1>
<p id="pricing">Generated {{.GeneratedAt.Format "2006-01-02 15:04 MST"}}.
Pricing: {{eur .Pricing.AnnualCostPerFTE}} EUR per FTE-year of {{num .Pricing.DaysPerFTE}} person-days = {{f2 .Pricing.DayRateNet}} EUR/day net,
{{if .Pricing.VAT}}costs with {{pct .Pricing.VATRate}} % VAT ({{f2 .Pricing.DayRateCharged}} EUR/day){{else}}costs without VAT{{end}};
market comparison {{eur .Pricing.MarketDayRateMin}}–{{eur .Pricing.MarketDayRateMax}} EUR/day gross; FTE rounded up to {{num .Pricing.ContractUnitFTE}}.</p>
{{with .Scenario}}<h2>Scenario: {{.Name}}</h2>{{if .Description}}<p>{{.Description}}</p>{{end}}
<ul>{{range .Changes}}<li>{{.}}</li>{{end}}</ul>
<table id="scenario"><tr><th>method</th><th>Δ FTE</th><th>Δ person-days</th><th>Δ cost EUR</th></tr>
{{range .Delta}}<tr><td>{{.Method}}</td><td class="n">{{f3 .FTE}}</td><td class="n">{{f2 .PersonDays}}</td><td class="n">{{eur .CostEUR}}</td></tr>{{end}}
</table>{{end}}
<h2>Methods</h2>
<table id="methods"><tr><th>method</th><th>rule and parameters</th><th>source</th></tr>
{{range .Methods}}<tr><td>{{.Name}}</td><td>{{.Parameters}}</td><td class="src">{{.Source}}</td></tr>{{end}}
</table>
{{define "group"}}<tr><td>{{if .Municipality}}{{.Municipality}}{{else}}all{{end}}</td><td class="n">{{.Sites}}</td><td class="n">{{.Devices.Total}}</td>
{{- $g := .}}{{range $i, $f := .Figures}}{{if $i}}<tr><td></td><td></td><td></td>{{end}}<td>{{.Method}}</td><td class="n">{{f3 .FTE}}</td><td class="n">{{num .FTEContract}}</td><td class="n">{{f2 .PersonDays}}</td><td class="n">{{eur .CostEUR}}</td><td class="n">{{eur .MarketMinEUR}}–{{eur .MarketMaxEUR}}</td><td class="n">{{num $g.ContractedPersonDays}}</td><td class="n">{{f2 .GapPersonDays}}</td></tr>
{{end}}{{end}}
{{define "ghead"}}<tr><th>municipality</th><th>sites</th><th>devices</th><th>method</th><th>FTE</th><th>FTE (contract)</th><th>person-days</th><th>cost EUR</th><th>market EUR</th><th>contracted days</th><th>gap days</th></tr>{{end}}
<h2>Total</h2>
<table id="total">{{template "ghead"}}{{template "group" .Total}}</table>
<h2>Municipalities</h2>
<table id="municipalities">{{template "ghead"}}{{range .Municipalities}}{{template "group" .}}{{end}}</table>
<h2>Sites</h2>
<table id="sites"><tr><th>municipality</th><th>site</th><th>type</th><th>devices</th>{{range .Methods}}<th>{{.Name}} FTE</th>{{end}}<th>contracted days</th><th>how counted</th></tr>
{{range .Sites}}<tr><td>{{.Municipality}}</td><td>{{.Name}}</td><td>{{.Type.German}}</td><td class="n">{{.Devices.Total}}</td>
{{- range .Figures}}<td class="n" title="{{.Basis}}">{{f3 .FTE}}{{if .Note}} <span class="note" title="{{.Note}}">⚠</span>{{end}}</td>{{end}}
<td class="n">{{num .ContractedPersonDays}}</td><td class="src">{{how .Provenance}}</td></tr>
{{end}}</table>
{{if .Notes}}<h2>Notes</h2><ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))
