package dashboards

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	av "github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/store/influx/export"
	"github.com/schulmon/schulmon/collector/store/influx/influxtest"
	"github.com/schulmon/schulmon/metric"
)

func TestMain(m *testing.M) {
	code := m.Run()
	influxtest.StopShared()
	os.Exit(code)
}

func TestCommittedJSONIsGenerated(t *testing.T) {
	want := map[string]bool{}
	for _, d := range All() {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		want[d.FileName()] = true
		got, err := os.ReadFile(filepath.Join("json", d.FileName()))
		if err != nil {
			t.Fatalf("%v: run go generate ./dashboards/", err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("json/%s differs from what the generator produces: run go generate ./dashboards/ (or make dashboards) and commit", d.FileName())
		}
	}
	files, _ := filepath.Glob("json/*.json")
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("%s is not produced by the generator: remove it", f)
		}
	}
}

var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

func TestDashboardStructure(t *testing.T) {
	uids := map[string]bool{}
	for _, d := range All() {
		if uids[d.UID] {
			t.Errorf("duplicate dashboard uid %s", d.UID)
		}
		uids[d.UID] = true
		defined := map[string]bool{}
		for _, v := range d.Templating.List {
			if defined[v.Name] {
				t.Errorf("%s: variable %s defined twice", d.UID, v.Name)
			}
			defined[v.Name] = true
			if v.Type == "query" && (v.Datasource == nil || *v.Datasource != *Influx) {
				t.Errorf("%s: variable %s does not use the provisioned datasource", d.UID, v.Name)
			}
		}
		for _, n := range []string{"municipality", "site"} {
			if !defined[n] {
				t.Errorf("%s: no %s variable", d.UID, n)
			}
		}
		checkRefs := func(where, text string, before map[string]bool) {
			for _, m := range varRef.FindAllStringSubmatch(text, -1) {
				name := m[1] + m[2]
				if strings.HasPrefix(name, "__") {
					continue // Grafana's built-ins
				}
				if !before[name] {
					t.Errorf("%s: %s uses variable %s, which is not defined (before it)", d.UID, where, name)
				}
			}
		}
		seen := map[string]bool{}
		for _, v := range d.Templating.List {
			checkRefs("variable "+v.Name, v.Query, seen)
			seen[v.Name] = true
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("%s: panel %q has id %d, not unique and positive", d.UID, p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.Datasource == nil || *p.Datasource != *Influx {
				t.Errorf("%s: panel %q does not use the provisioned datasource", d.UID, p.Title)
			}
			if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 || p.GridPos.H <= 0 {
				t.Errorf("%s: panel %q does not fit the grid: %+v", d.UID, p.Title, p.GridPos)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", d.UID, p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || *tg.Datasource != *Influx || tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: panel %q: target %q has a bad datasource or refId", d.UID, p.Title, tg.RefID)
				}
				refs[tg.RefID] = true
				checkRefs(fmt.Sprintf("panel %q", p.Title), tg.Query, defined)
				if len(tg.Uses) == 0 {
					t.Errorf("%s: panel %q: target does not say what it reads", d.UID, p.Title)
				}
			}
		}
	}
	// The provisioned datasource has the uid the panels use.
	b, err := os.ReadFile("provisioning/datasources/influxdb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "uid: "+DatasourceUID) || !strings.Contains(string(b), "version: Flux") {
		t.Errorf("provisioning/datasources/influxdb.yaml must provision uid %s with Flux", DatasourceUID)
	}
}

// schema parses docs/schema.md: measurement → documented tag and field keys.
func schema(t *testing.T) map[string]map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	return ParseSchema(string(b))
}

func TestPanelsUseOnlyDocumentedSchema(t *testing.T) {
	sc := schema(t)
	if len(sc) < 20 || !sc["cpu"]["usage_idle"] || !sc["availability_monthly"]["availability_pct"] {
		t.Fatalf("docs/schema.md parsed to %d measurements; the table format changed?", len(sc))
	}
	// Tags a query filters on must be documented too (or be trusted tags).
	rRef := regexp.MustCompile(`\br\.([A-Za-z_][A-Za-z0-9_]*)`)
	for _, d := range All() {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				for _, m := range rRef.FindAllStringSubmatch(tg.Query, -1) {
					key := m[1]
					if strings.HasPrefix(key, "_") || sc[TrustedTagsSection][key] {
						continue
					}
					for _, u := range tg.Uses {
						if sc[u.Measurement] != nil && !sc[u.Measurement][key] {
							t.Errorf("%s: panel %q filters %s on %s, which docs/schema.md does not document", d.UID, p.Title, u.Measurement, key)
						}
					}
				}
			}
		}
	}
	for _, d := range All() {
		for m, fields := range d.Measurements() {
			if sc[m] == nil {
				t.Errorf("%s reads measurement %s, which docs/schema.md does not document", d.UID, m)
				continue
			}
			for _, f := range fields {
				if !sc[m][f] {
					t.Errorf("%s reads %s.%s, which docs/schema.md does not document", d.UID, m, f)
				}
			}
		}
	}
}

// seed writes a small fleet: two municipalities, a school each, with host
// metrics, SNMP, checks, agents, availability, outages and staffing.
func seed(t *testing.T, srv *influxtest.Server, bucket string) {
	t.Helper()
	var b strings.Builder
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ns := func(t time.Time) int64 { return t.UnixNano() }
	type dev struct{ mun, site, device, class string }
	srv1 := dev{"Musterstadt", "GS\\ Nord", "srv1", "server"}
	srv2 := dev{"Beispieldorf", "RS\\ Süd", "srv2", "server"}
	sw1 := dev{"Musterstadt", "GS\\ Nord", "sw1", "switch"}
	ap1 := dev{"Musterstadt", "GS\\ Nord", "ap1", "access_point"}
	tags := func(d dev) string {
		return fmt.Sprintf("class=%s,device=%s,municipality=%s,site=%s", d.class, d.device, d.mun, d.site)
	}
	for k := 0; k < 12; k++ {
		ts := ns(day.Add(8*time.Hour + time.Duration(k)*10*time.Minute))
		for _, d := range []dev{srv1, srv2} {
			fmt.Fprintf(&b, "cpu,%s,cpu=cpu-total,host=%s usage_idle=%d %d\n", tags(d), d.device, 80+k, ts)
			fmt.Fprintf(&b, "mem,%s,host=%s used_percent=%d %d\n", tags(d), d.device, 40+k, ts)
			fmt.Fprintf(&b, "disk,%s,host=%s,path=/ used_percent=%d %d\n", tags(d), d.device, 70+k, ts)
			fmt.Fprintf(&b, "system,%s,host=%s load1=%g %d\n", tags(d), d.device, 0.5+float64(k)/10, ts)
			fmt.Fprintf(&b, "check,%s,check=https,plugin=http status=0i,message=\"ok\",duration_s=0.1 %d\n", tags(d), ts)
			fmt.Fprintf(&b, "schulmon_agent,%s,host=%s version=\"1.4.0\",points_queued=%di,uptime_s=%d %d\n", tags(d), d.device, k, 600*k, ts)
			fmt.Fprintf(&b, "schulmon_agent_collector,%s,collector=cpu,host=%s duration_s=0.01%d,success=true %d\n", tags(d), d.device, k, ts)
		}
		for p := 1; p <= 2; p++ {
			fmt.Fprintf(&b, "snmp_if,%s,agent_host=srv1,ifIndex=%d,ifName=Gi1/0/%d in_bps=%d,out_bps=%d,ifInErrors=%di,ifOutErrors=0i,ifInDiscards=%di,ifOutDiscards=0i,ifOperStatus=%di,ifAdminStatus=1i,ifHighSpeed=1000i,in_util_pct=1.5,out_util_pct=0.5 %d\n",
				tags(sw1), p, p, 1000*k*p, 500*k*p, 3*k, k, p, ts)
		}
		fmt.Fprintf(&b, "snmp_poe,%s,pse=1 power_consumption_w=%di,power_budget_w=370i,usage_pct=10 %d\n", tags(sw1), 30+k, ts)
		fmt.Fprintf(&b, "snmp_poe_port,%s,ifName=Gi1/0/1,poe_port=1.1 delivering=true,admin_enabled=true %d\n", tags(sw1), ts)
		fmt.Fprintf(&b, "snmp_poe_port,%s,ifName=Gi1/0/2,poe_port=1.2 delivering=false,admin_enabled=true %d\n", tags(sw1), ts)
		fmt.Fprintf(&b, "snmp_poll,%s,agent_host=srv1,target=10.0.0.3:161 reachable=true,duration_s=0.2,sys_uptime_s=%d,error=\"\" %d\n", tags(ap1), 1000+600*k, ts)
		fmt.Fprintf(&b, "schulmon_collector,host=collector1 queue_points=%di,write_requests_5xx=0i %d\n", 10*k, ts)
		for _, d := range []dev{srv1, srv2, ap1} {
			fmt.Fprintf(&b, "availability_state,%s state=\"up\",state_code=0i,down=0i,since_s=%d %d\n", tags(d), 3600*k, ts)
		}
		fmt.Fprintf(&b, "availability_state,%s state=\"down\",state_code=1i,down=1i,since_s=%d %d\n", tags(sw1), 60*k, ts)
	}
	for _, dd := range []time.Time{day.Add(-24 * time.Hour), day} {
		fmt.Fprintf(&b, "availability_daily,level=site,municipality=Musterstadt,site=GS\\ Nord availability_pct=99.9,budget_used_min=1.5,budget_allowed_min=0.288 %d\n", ns(dd))
		fmt.Fprintf(&b, "availability_daily,level=site,municipality=Beispieldorf,site=RS\\ Süd availability_pct=100,budget_used_min=0,budget_allowed_min=0.288 %d\n", ns(dd))
		fmt.Fprintf(&b, "availability_daily,level=municipality,municipality=Musterstadt availability_pct=99.9,budget_used_min=1.5,budget_allowed_min=0.576 %d\n", ns(dd))
		fmt.Fprintf(&b, "availability_daily,level=municipality,municipality=Beispieldorf availability_pct=100,budget_used_min=0,budget_allowed_min=0.288 %d\n", ns(dd))
	}
	fig := "availability_pct=99.5,target_pct=99.98,down_min=3,budget_remaining_min=-2.1,budget_remaining_pct=-233,outages=1i"
	fmt.Fprintf(&b, "availability_monthly,%s,level=object %s %d\n", tags(srv1), fig, ns(month))
	fmt.Fprintf(&b, "availability_monthly,%s,level=object availability_pct=100,target_pct=99.98,down_min=0,budget_remaining_min=0.9,budget_remaining_pct=100,outages=0i %d\n", tags(sw1), ns(month))
	fmt.Fprintf(&b, "availability_monthly,level=site,municipality=Musterstadt,site=GS\\ Nord %s %d\n", fig, ns(month))
	fmt.Fprintf(&b, "availability_monthly,level=municipality,municipality=Musterstadt %s %d\n", fig, ns(month))
	fmt.Fprintf(&b, "availability_monthly,level=municipality,municipality=Beispieldorf availability_pct=100,target_pct=99.98,down_min=0,budget_remaining_min=0.9,budget_remaining_pct=100,outages=0i %d\n", ns(month))
	// Outages as the collector exports them (not hand-written): a renamed
	// field or tag of the export fails the Outages panel.
	end1, end2 := day.Add(9*time.Hour+10*time.Minute), day.Add(8*time.Hour+3*time.Minute)
	for _, p := range export.OutagePoints([]av.Outage{
		{Municipality: "Musterstadt", Site: "GS Nord", Device: "sw1", Class: "switch", Cause: "heartbeat_lost", Start: day.Add(9 * time.Hour), End: &end1, DurationSeconds: 600},
		{Municipality: "Musterstadt", Site: "GS Nord", Device: "sw1", Class: "switch", Cause: "snmp_timeout", Start: day.Add(9*time.Hour + 50*time.Minute), DurationSeconds: 120, Ongoing: true},
		{Municipality: "Musterstadt", Site: "GS Nord", Device: "srv1", Class: "server", Cause: "heartbeat_lost", Start: day.Add(8 * time.Hour), End: &end2, DurationSeconds: 180},
	}) {
		b.Write(metric.AppendLine(nil, &p))
	}
	run := ns(day.Add(9 * time.Hour))
	for _, m := range []struct {
		name       string
		fte, gap   float64
		cost, days float64
	}{{"device_ratio", 0.75, 20, 71250, 150}, {"school_type", 0.83, 36, 78850, 166}} {
		cols := fmt.Sprintf("fte=%g,fte_contract=1,person_days=%g,cost_eur=%g,contracted_person_days=130,gap_person_days=%g", m.fte, m.days, m.cost, m.gap)
		fmt.Fprintf(&b, "staffing,level=total,method=%s %s %d\n", m.name, cols, run)
		fmt.Fprintf(&b, "staffing,level=municipality,method=%s,municipality=Musterstadt %s %d\n", m.name, cols, run)
		fmt.Fprintf(&b, "staffing,level=site,method=%s,municipality=Musterstadt,site=GS\\ Nord %s,endpoints=300i %d\n", m.name, cols, run)
	}
	if err := srv.WriteLines(context.Background(), bucket, b.String()); err != nil {
		t.Fatal(err)
	}
}

// substitute does what Grafana does before it sends a query: the template
// variables become their values (a regex for :regex), and the v record
// carries the time range.
func substitute(query, bucket string, values map[string]string) string {
	query = strings.ReplaceAll(query, "${bucket}", bucket)
	query = varRef.ReplaceAllStringFunc(query, func(s string) string {
		m := varRef.FindStringSubmatch(s)
		name := m[1] + m[2]
		if v, ok := values[name]; ok {
			return regexp.QuoteMeta(v)
		}
		return ".*" // All
	})
	// Imports come first in Flux; the v record after them.
	var imports, body []string
	for _, l := range strings.Split(query, "\n") {
		if strings.HasPrefix(l, "import ") {
			imports = append(imports, l)
		} else {
			body = append(body, l)
		}
	}
	return strings.Join(append(imports, "v = {timeRangeStart: 2026-11-01T00:00:00Z, timeRangeStop: 2026-11-03T00:00:00Z, windowPeriod: 10m}"), "\n") + "\n" + strings.Join(body, "\n")
}

// table is a Flux result: rows of column → value.
func parseCSV(s string) []map[string]string {
	var rows []map[string]string
	var header []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if line == "" {
			header = nil
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		cols := splitCSV(line)
		if header == nil {
			header = cols
			continue
		}
		r := map[string]string{}
		for i, c := range cols {
			if i < len(header) {
				r[header[i]] = c
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// splitCSV splits one CSV line, honouring quotes (Flux quotes strings
// with commas or quotes).
func splitCSV(line string) []string {
	var out []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"' && inQ && i+1 < len(line) && line[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			inQ = !inQ
		case c == ',' && !inQ:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

// TestQueriesAgainstInfluxDB runs every variable query and every panel
// query of every dashboard against a real InfluxDB with seeded data, once
// with all variables on "All" and once with the dashboard's test values.
func TestQueriesAgainstInfluxDB(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	seed(t, srv, bucket)
	ctx := context.Background()
	run := func(t *testing.T, query string) []map[string]string {
		t.Helper()
		csv, err := srv.Flux(ctx, query)
		if err != nil {
			t.Fatalf("%v\nquery:\n%s", err, query)
		}
		if strings.Contains(csv, "#datatype,string,string") && strings.Contains(csv, ",error,") {
			t.Fatalf("query failed:\n%s\nresult:\n%s", query, csv)
		}
		return parseCSV(csv)
	}
	for _, d := range All() {
		t.Run(d.UID, func(t *testing.T) {
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				rows := run(t, substitute(v.Query, bucket, nil))
				var got []string
				for _, r := range rows {
					got = append(got, r["_value"])
				}
				sort.Strings(got)
				if want := d.TestVars[v.Name]; want == "" || !contains(got, want) {
					t.Errorf("variable %s lists %v, want it to include %q", v.Name, got, want)
				}
			}
			for _, p := range d.Panels {
				for _, tg := range p.Targets {
					for _, mode := range []string{"all", "selected"} {
						values := map[string]string(nil)
						if mode == "selected" {
							values = d.TestVars
						}
						q := substitute(tg.Query, bucket, values)
						rows := run(t, q)
						if !hasValues(rows, tg.Uses) {
							t.Errorf("panel %q (%s variables): no series with values\nquery:\n%s\nrows: %v", p.Title, mode, q, rows)
							continue
						}
						if mode == "selected" {
							all := fmt.Sprint(rows)
							for _, want := range tg.Contains {
								if !strings.Contains(all, want) {
									t.Errorf("panel %q: result does not contain %q\nquery:\n%s\nrows: %v", p.Title, want, q, rows)
								}
							}
						}
					}
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hasValues reports whether some row has a non-empty _value or a
// non-empty column named after one of the fields read.
func hasValues(rows []map[string]string, uses []Use) bool {
	for _, r := range rows {
		if r["_value"] != "" {
			return true
		}
		for _, u := range uses {
			for _, f := range u.Fields {
				if r[f] != "" {
					return true
				}
			}
		}
	}
	return false
}
