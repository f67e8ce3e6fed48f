package availability

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// Formats of reports.
var Formats = []string{"json", "csv", "md", "html"}

// Write renders the report in format (json, csv, md or html).
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "", "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return r.writeCSV(w)
	case "md", "markdown":
		return r.writeMarkdown(w)
	case "html":
		return reportHTML.Execute(w, r)
	}
	return fmt.Errorf("report format %q: want one of %s", format, strings.Join(Formats, ", "))
}

var csvHeader = []string{"kind", "name", "municipality", "site", "device", "check", "class", "calendar", "rule", "members",
	"service_min", "up_min", "down_min", "unknown_min", "unreachable_min", "maintenance_min",
	"availability_percent", "target_percent", "met", "budget_allowed_min", "budget_used_min", "budget_remaining_min",
	"outages", "mttr_min", "mtbf_min", "critical_down_min"}

func (row *Row) cells() []string {
	opt := func(n *json.Number) string {
		if n == nil {
			return ""
		}
		return string(*n)
	}
	met := ""
	if row.Met != nil {
		met = fmt.Sprint(*row.Met)
	}
	members := ""
	if row.Members > 0 {
		members = fmt.Sprint(row.Members)
	}
	return []string{row.Kind, row.Name, row.Municipality, row.Site, row.Device, row.Check, row.Class, row.Calendar, string(row.Rule), members,
		string(row.ServiceMin), string(row.UpMin), string(row.DownMin), string(row.UnknownMin), string(row.UnreachableMin), string(row.MaintenanceMin),
		opt(row.AvailabilityPercent), string(row.TargetPercent), met, string(row.BudgetAllowedMin), string(row.BudgetUsedMin), string(row.BudgetRemainingMin),
		fmt.Sprint(row.Outages), opt(row.MTTRMin), opt(row.MTBFMin), string(row.CriticalDownMin)}
}

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for i := range r.Rows {
		if err := cw.Write(r.Rows[i].cells()); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	t := r.Total
	if err := cw.Write(t.cells()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	cw.Flush()
	return cw.Error()
}

func (r *Report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Availability %s\n\n", r.Window.Label)
	fmt.Fprintf(&b, "Window: %s to %s. Group rule: **%s** (%s).\n\n", r.Window.From.Format("2006-01-02 15:04 MST"), r.Window.To.Format("2006-01-02 15:04 MST"), r.Rule, r.RuleText)
	b.WriteString("| object | service min | up min | down min | unknown min | unreachable min | maintenance min | availability % | target % | met | budget allowed min | used | remaining | outages | MTTR min | MTBF min |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	rows := append(append([]Row{}, r.Rows...), r.Total)
	for i := range rows {
		c := rows[i].cells()
		name := c[1]
		if i == len(rows)-1 {
			name = "**" + rows[i].Kind + " " + name + "**"
		}
		met := c[18]
		switch met {
		case "true":
			met = "yes"
		case "false":
			met = "**no**"
		default:
			met = "–"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			strings.ReplaceAll(name, "|", "\\|"), c[10], c[11], c[12], c[13], c[14], c[15], dash(c[16]), c[17], met, c[19], c[20], c[21], c[22], dash(c[23]), dash(c[24]))
	}
	fmt.Fprintf(&b, "\n%s.\n", r.Definitions)
	_, err := io.WriteString(w, b.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"opt": func(n *json.Number) string {
		if n == nil {
			return "–"
		}
		return string(*n)
	},
	"met": func(b *bool) string {
		if b == nil {
			return "–"
		}
		if *b {
			return "yes"
		}
		return "no"
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Availability {{.Window.Label}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,th:first-child{text-align:left}tr.total{font-weight:bold}.no{color:#b00020}</style>
</head><body>
<h1>Availability {{.Window.Label}}</h1>
<p>Window: {{.Window.From.Format "2006-01-02 15:04 MST"}} to {{.Window.To.Format "2006-01-02 15:04 MST"}}. Group rule: <strong>{{.Rule}}</strong> ({{.RuleText}}).</p>
<table><thead><tr><th>object</th><th>service min</th><th>up min</th><th>down min</th><th>unknown min</th><th>unreachable min</th><th>maintenance min</th><th>availability %</th><th>target %</th><th>met</th><th>budget allowed min</th><th>used min</th><th>remaining min</th><th>outages</th><th>MTTR min</th><th>MTBF min</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td>{{.Name}}</td><td>{{.ServiceMin}}</td><td>{{.UpMin}}</td><td>{{.DownMin}}</td><td>{{.UnknownMin}}</td><td>{{.UnreachableMin}}</td><td>{{.MaintenanceMin}}</td><td>{{opt .AvailabilityPercent}}</td><td>{{.TargetPercent}}</td><td class="{{met .Met}}">{{met .Met}}</td><td>{{.BudgetAllowedMin}}</td><td>{{.BudgetUsedMin}}</td><td>{{.BudgetRemainingMin}}</td><td>{{.Outages}}</td><td>{{opt .MTTRMin}}</td><td>{{opt .MTBFMin}}</td></tr>
{{end}}{{with .Total}}<tr class="total"><td>{{.Kind}} {{.Name}}</td><td>{{.ServiceMin}}</td><td>{{.UpMin}}</td><td>{{.DownMin}}</td><td>{{.UnknownMin}}</td><td>{{.UnreachableMin}}</td><td>{{.MaintenanceMin}}</td><td>{{opt .AvailabilityPercent}}</td><td>{{.TargetPercent}}</td><td class="{{met .Met}}">{{met .Met}}</td><td>{{.BudgetAllowedMin}}</td><td>{{.BudgetUsedMin}}</td><td>{{.BudgetRemainingMin}}</td><td>{{.Outages}}</td><td>{{opt .MTTRMin}}</td><td>{{opt .MTBFMin}}</td></tr>{{end}}
</tbody></table>
<p>{{.Definitions}}.</p>
</body></html>
`))
