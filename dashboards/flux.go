package dashboards

import (
	"fmt"
	"strings"
)

// q builds a Flux query reading fields of one measurement, filtered by the
// dashboard's template variables (vars: "municipality", "site", "device"),
// an optional extra predicate, then the given pipeline stages.
type q struct {
	meas   string
	fields []string
	vars   []string
	where  string // extra predicate on r, e.g. `r.level == "site"`
	pipe   []string
}

func (x q) flux() string {
	var b strings.Builder
	b.WriteString("from(bucket: \"${bucket}\")\n")
	b.WriteString("  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n")
	fmt.Fprintf(&b, "  |> filter(fn: (r) => r._measurement == %q", x.meas)
	if len(x.fields) > 0 {
		var fs []string
		for _, f := range x.fields {
			fs = append(fs, fmt.Sprintf("r._field == %q", f))
		}
		if len(fs) == 1 {
			b.WriteString(" and " + fs[0])
		} else {
			b.WriteString(" and (" + strings.Join(fs, " or ") + ")")
		}
	}
	b.WriteString(")\n")
	if len(x.vars) > 0 {
		var vs []string
		for _, v := range x.vars {
			vs = append(vs, fmt.Sprintf("r.%s =~ /^${%s:regex}$/", v, v))
		}
		b.WriteString("  |> filter(fn: (r) => " + strings.Join(vs, " and ") + ")\n")
	}
	if x.where != "" {
		b.WriteString("  |> filter(fn: (r) => " + x.where + ")\n")
	}
	for _, p := range x.pipe {
		b.WriteString("  |> " + p + "\n")
	}
	return b.String()
}

// target turns the query into a panel target.
func (x q) target(contains ...string) Target {
	return Target{Query: x.flux(), Uses: []Use{{Measurement: x.meas, Fields: x.fields}}, Contains: contains}
}

// Pipeline stages used by several panels.
const (
	stWindowMean = "aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)"
	stWindowMax  = "aggregateWindow(every: v.windowPeriod, fn: max, createEmpty: false)"
	stLast       = "last()"
	stUngroup    = "group()"
)

// stPivot makes one row per series with a column per field.
func stPivot(rowKey ...string) string {
	return fmt.Sprintf("pivot(rowKey: [%s], columnKey: [\"_field\"], valueColumn: \"_value\")", quoteList(rowKey))
}

func stKeep(cols ...string) string {
	return fmt.Sprintf("keep(columns: [%s])", quoteList(cols))
}

func stGroup(cols ...string) string {
	return fmt.Sprintf("group(columns: [%s])", quoteList(cols))
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// Variables.

func constBucket() Variable {
	return Variable{Name: "bucket", Label: "Bucket", Type: "constant", Query: "schulmon/autogen", Hide: 2,
		Current:     Current{Text: "schulmon/autogen", Value: "schulmon/autogen"},
		Options:     []Option{{Selected: true, Text: "schulmon/autogen", Value: "schulmon/autogen"}},
		Description: "InfluxDB bucket (1.8: database/retention-policy). Change it here or in the provisioned JSON.",
	}
}

// tagVar is a query variable listing a tag's values, narrowed by the
// variables before it.
func tagVar(tag, label string, narrowBy ...string) Variable {
	pred := "(r) => true"
	if len(narrowBy) > 0 {
		var ps []string
		for _, n := range narrowBy {
			ps = append(ps, fmt.Sprintf("r.%s =~ /^${%s:regex}$/", n, n))
		}
		pred = "(r) => " + strings.Join(ps, " and ")
	}
	// Not v1.tagValues: InfluxDB 1.8's Flux wants a duration as its
	// start, and Grafana substitutes a time. The heartbeat and the state
	// export name every agent host and every monitored device.
	query := fmt.Sprintf("from(bucket: \"${bucket}\")\n"+
		"  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"+
		"  |> filter(fn: (r) => r._measurement == \"availability_state\" or r._measurement == \"schulmon_agent\")\n"+
		"  |> filter(fn: %s)\n"+
		"  |> keep(columns: [%q])\n"+
		"  |> group()\n"+
		"  |> distinct(column: %q)", pred, tag, tag)
	return Variable{Name: tag, Label: label, Type: "query", Datasource: Influx, Query: query, Definition: query,
		Refresh: 2, IncludeAll: true, AllValue: ".*", Multi: true, Sort: 1,
		Current: Current{Text: "All", Value: "$__all"}, Options: []Option{}}
}

func vars(names ...string) Templating {
	list := []Variable{constBucket()}
	labels := map[string]string{"municipality": "Municipality", "site": "Site", "device": "Device"}
	var before []string
	for _, n := range names {
		list = append(list, tagVar(n, labels[n], before...))
		before = append(before, n)
	}
	return Templating{List: list}
}
