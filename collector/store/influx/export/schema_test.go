package export_test

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/store/influx"
	"github.com/schulmon/schulmon/collector/store/influx/export"
	"github.com/schulmon/schulmon/collector/store/influx/influxtest"
	"github.com/schulmon/schulmon/dashboards"
	"github.com/schulmon/schulmon/metric"
)

// sample builds every kind of point the exporter writes, through the
// exporter's own functions, with every optional part set.
func sample() []metric.Point {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	end := now.Add(-50 * time.Minute)
	yes := true
	pct := json.Number("99.5")
	obj := availability.Object{Municipality: "Musterstadt", Site: "GS Nord", Device: "srv1", Class: "server", Check: "https", Critical: true}
	var pts []metric.Point
	pts = append(pts, export.StatePoints([]availability.ObjectState{{Object: obj, State: availability.StateDown, Since: now.Add(-time.Hour)}}, now)...)
	row := availability.Row{Name: "GS Nord", Municipality: "Musterstadt", Site: "GS Nord", Device: "srv1", Class: "server", Check: "https", Members: 3,
		Figures:             availability.Figures{ServiceMS: 3600e3, UpMS: 3500e3, DownMS: 100e3, Outages: 1},
		AvailabilityPercent: &pct, TargetPercent: "99.98", Met: &yes, BudgetAllowedMin: "0.72", BudgetUsedMin: "1.67", BudgetRemainingMin: "-0.95"}
	for _, meas := range []string{export.MeasDaily, export.MeasMonthly} {
		for _, level := range []string{"object", "site", "municipality", "all"} {
			pts = append(pts, export.ReportPoint(meas, level, &row, now))
		}
	}
	pts = append(pts, export.OutagePoints([]availability.Outage{
		{Municipality: "Musterstadt", Site: "GS Nord", Device: "sw1", Class: "switch", Check: "ping", Cause: "heartbeat_lost", Start: now.Add(-time.Hour), End: &end, DurationSeconds: 600, AffectedChildren: []string{"ap1"}},
		{Municipality: "Musterstadt", Site: "GS Nord", Device: "srv1", Class: "server", Cause: "snmp_timeout", Start: now.Add(-10 * time.Minute), DurationSeconds: 600, Ongoing: true},
	})...)
	fig := []staffing.Figure{{Method: "device_ratio", FTE: 0.75, PersonDays: 150, CostEUR: 71250, GapPersonDays: 20}}
	rep := &staffing.Report{
		Total:          staffing.GroupResult{ContractedPersonDays: 130, Figures: fig},
		Municipalities: []staffing.GroupResult{{Municipality: "Musterstadt", ContractedPersonDays: 130, Figures: fig}},
		Sites:          []staffing.SiteResult{{Figures: fig}},
	}
	rep.Sites[0].Name, rep.Sites[0].Municipality = "GS Nord", "Musterstadt"
	return append(pts, export.StaffingPoints(rep, now)...)
}

// exported is measurement → tag and field keys of the points.
func exported(pts []metric.Point) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, p := range pts {
		if out[p.Measurement] == nil {
			out[p.Measurement] = map[string]bool{}
		}
		for _, t := range p.Tags {
			out[p.Measurement][t.Key] = true
		}
		for _, f := range p.Fields {
			out[p.Measurement][f.Key] = true
		}
	}
	return out
}

// What the exporter writes is documented in docs/schema.md, and every
// field a dashboard reads from an exported measurement is one the
// exporter writes: renaming an exported field fails here even when the
// dashboards' own seed data and the schema are renamed along.
func TestExportMatchesSchemaAndDashboards(t *testing.T) {
	b, err := os.ReadFile("../../../../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	sc := dashboards.ParseSchema(string(b))
	ex := exported(sample())
	for _, m := range []string{export.MeasState, export.MeasDaily, export.MeasMonthly, export.MeasOutage, export.MeasStaff} {
		if ex[m] == nil {
			t.Errorf("the sample writes no %s: extend sample()", m)
		}
	}
	for m, keys := range ex {
		if sc[m] == nil {
			t.Errorf("the exporter writes %s, which docs/schema.md does not document", m)
			continue
		}
		for k := range keys {
			if !sc[m][k] && !sc[dashboards.TrustedTagsSection][k] {
				t.Errorf("the exporter writes %s.%s, which docs/schema.md does not document", m, k)
			}
		}
		// And the schema promises nothing the exporter does not write.
		for k := range sc[m] {
			if !keys[k] {
				t.Errorf("docs/schema.md documents %s.%s, which the exporter never writes", m, k)
			}
		}
	}
	read := 0
	for _, d := range dashboards.All() {
		for m, fields := range d.Measurements() {
			if ex[m] == nil {
				continue // an agent's measurement, not exported
			}
			for _, f := range fields {
				read++
				if !ex[m][f] {
					t.Errorf("dashboard %s reads %s.%s, which the exporter does not write", d.UID, m, f)
				}
			}
		}
	}
	if read < 10 {
		t.Fatalf("the dashboards read only %d exported fields: the check is not looking", read)
	}
}

// The exported points, outages included, go through the InfluxDB store
// into a real InfluxDB and come back with their tags and fields.
func TestExportedPointsReadBack(t *testing.T) {
	idb := influxtest.Shared(t)
	bucket := idb.NewDatabase(t)
	st, err := influx.Open(context.Background(), influx.Options{URL: idb.URL, Bucket: bucket, Token: influxtest.Token, QueueDir: t.TempDir(), WriteTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.WriteMetricPoints(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	csv, err := idb.Flux(context.Background(), `from(bucket: "`+bucket+`") |> range(start: 2026-11-01T00:00:00Z, stop: 2026-11-03T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "outage")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group() |> keep(columns: ["_time", "device", "cause", "check", "duration_s", "ongoing", "end_unix_s", "affected_children"]) |> sort(columns: ["_time"])`)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(csv), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("outage rows: want a header and 2 outages:\n%s", csv)
	}
	header := strings.Split(rows[0], ",")
	get := func(row, col string) string {
		f := strings.Split(row, ",")
		for i, h := range header {
			if h == col && i < len(f) {
				return f[i]
			}
		}
		return "<missing>"
	}
	first, second := rows[1], rows[2]
	end := time.Date(2026, 11, 2, 11, 10, 0, 0, time.UTC).Unix()
	if get(first, "device") != "sw1" || get(first, "cause") != "heartbeat_lost" || get(first, "check") != "ping" || get(first, "duration_s") != "600" ||
		get(first, "ongoing") != "false" || get(first, "end_unix_s") != strconv.FormatInt(end, 10) || get(first, "affected_children") != "1" {
		t.Errorf("finished outage read back as %s (header %v)", first, header)
	}
	if get(second, "device") != "srv1" || get(second, "ongoing") != "true" || get(second, "end_unix_s") != "0" || get(second, "cause") != "snmp_timeout" {
		t.Errorf("ongoing outage read back as %s (header %v)", second, header)
	}
	// Every exported measurement arrived.
	csv, err = idb.Flux(context.Background(), `from(bucket: "`+bucket+`") |> range(start: 2026-11-01T00:00:00Z, stop: 2026-11-03T00:00:00Z)
  |> keep(columns: ["_measurement"]) |> group() |> distinct(column: "_measurement")`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range []string{export.MeasState, export.MeasDaily, export.MeasMonthly, export.MeasOutage, export.MeasStaff} {
		if !strings.Contains(csv, ","+m+"\r") && !strings.Contains(csv, ","+m+"\n") {
			got = append(got, m)
		}
	}
	sort.Strings(got)
	if len(got) > 0 {
		t.Errorf("measurements missing in InfluxDB: %v\n%s", got, csv)
	}
}
