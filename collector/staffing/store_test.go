package staffing

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

func openDB(t *testing.T) (*tenancy.Directory, *Store) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir, err := tenancy.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func pt(meas string, tags map[string]string, fields map[string]metric.Value, t time.Time) metric.Point {
	return metric.NewPoint(meas, tags, fields, t)
}

// The golden case end to end: the agent's host reports its MAC in its
// heartbeat, a switch reports the same MAC in its ARP table; the report
// counts one server.
func TestStoreObserveDedupAgentAndARP(t *testing.T) {
	ctx := context.Background()
	dir, st := openDB(t)
	site, err := dir.EnsureSite(ctx, "Moers", "GS Nord", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range [][2]string{{"srv-gsnord", "server"}, {"sw-1", "switch"}, {"ap-aula", "access_point"}} {
		id, _, err := dir.ResolveDevice(ctx, site.ID, d[0], d[1])
		if err != nil {
			t.Fatal(err)
		}
		dir.Seen(id, time.Now())
	}
	if err := dir.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tags := func(dev, class string) map[string]string {
		return map[string]string{"device": dev, "class": class, "site": "GS Nord", "municipality": "Moers"}
	}
	batch := &ingest.Batch{SiteID: site.ID, MunicipalityID: site.MunicipalityID, Site: site.Name, Municipality: site.Municipality, Signals: []metric.Point{
		pt("schulmon_agent", tags("srv-gsnord", "server"), map[string]metric.Value{"version": metric.String("dev"), "macs": metric.String("00:1A:2B:3C:4D:5E,00:1a:2b:3c:4d:5f")}, now),
		pt("snmp_poll", map[string]string{"device": "ap-aula", "class": "access_point", "target": "10.0.0.3:161"}, map[string]metric.Value{"reachable": metric.Bool(true)}, now),
		pt("discovered_endpoint", tags("sw-1", "switch"), map[string]metric.Value{"mac": metric.String("00:1a:2b:3c:4d:5e"), "ip": metric.String("10.0.0.10"), "port": metric.String("Gi1/0/1")}, now),
		pt("discovered_endpoint", tags("sw-1", "switch"), map[string]metric.Value{"mac": metric.String("aa:bb:cc:00:00:03"), "ip": metric.String("10.0.0.3"), "port": metric.String("Gi1/0/2")}, now),
		pt("discovered_endpoint", tags("sw-1", "switch"), map[string]metric.Value{"mac": metric.String("02:00:00:00:00:01"), "ip": metric.String("10.0.0.50"), "port": metric.String("Gi1/0/3")}, now),
		pt("discovered_endpoint", tags("sw-1", "switch"), map[string]metric.Value{"mac": metric.String("02:00:00:00:00:02"), "port": metric.String("Gi1/0/4")}, now),
		pt("discovered_endpoint", tags("sw-1", "switch"), map[string]metric.Value{"mac": metric.String("not-a-mac")}, now),
	}}
	st.Observe(ctx, batch)
	st.Observe(ctx, batch) // the next poll: throttled, still one row each

	var rows int
	if err := st.db.QueryRow(`SELECT count(*) FROM staffing_discovered_endpoints`).Scan(&rows); err != nil || rows != 4 {
		t.Fatalf("discovered endpoints rows = %d (%v), want 4", rows, err)
	}
	var sw, port string
	if err := st.db.QueryRow(`SELECT source_switch, port FROM staffing_discovered_endpoints WHERE mac='02:00:00:00:00:01'`).Scan(&sw, &port); err != nil || sw != "sw-1" || port != "Gi1/0/3" {
		t.Errorf("endpoint provenance = %q %q (%v)", sw, port, err)
	}

	inv, err := st.LoadInventory(ctx, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := inv.Count()[0]
	// srv-gsnord (agent + ARP by MAC), sw-1, ap-aula (SNMP + ARP by IP),
	// two endpoints only discovery sees.
	if c.Devices[ClassServer] != 1 || c.Devices[ClassSwitch] != 1 || c.Devices[ClassAccessPoint] != 1 || c.Devices[ClassEndpoint] != 2 {
		t.Fatalf("counts = %v (%s), want 1 server, 1 switch, 1 AP, 2 endpoints", c.Devices, HowCounted(c.Provenance))
	}
	how := HowCounted(c.Provenance)
	for _, want := range []string{"server 1: agent+discovery 1", "access_point 1: snmp+discovery 1", "endpoint 2: discovery 2"} {
		if !strings.Contains(how, want) {
			t.Errorf("provenance %q lacks %q", how, want)
		}
	}
	if inv.Sites[0].Type != TypePrimary || inv.Sites[0].Municipality != "Moers" {
		t.Errorf("site = %+v", inv.Sites[0])
	}

	// Old endpoints stop counting.
	old := now.Add(-200 * 24 * time.Hour)
	if err := st.RecordEndpoints(ctx, []Endpoint{{SiteID: site.ID, MAC: "02:00:00:00:09:09", Seen: old}}); err != nil {
		t.Fatal(err)
	}
	inv, _ = st.LoadInventory(ctx, LoadOptions{})
	if n := inv.Count()[0].Devices[ClassEndpoint]; n != 2 {
		t.Errorf("an endpoint last seen 200 days ago counts: %d endpoints", n)
	}
	inv, _ = st.LoadInventory(ctx, LoadOptions{MaxAge: -1})
	if n := inv.Count()[0].Devices[ClassEndpoint]; n != 3 {
		t.Errorf("without age limit: %d endpoints, want 3", n)
	}
}

func TestStoreImportAndAttributes(t *testing.T) {
	ctx := context.Background()
	dir, st := openDB(t)
	gs, _ := dir.EnsureSite(ctx, "Moers", "GS Nord", "grundschule")
	if _, err := dir.EnsureSite(ctx, "Moers", "Adolfinum", "weiterfuehrende_schule"); err != nil {
		t.Fatal(err)
	}
	rows, err := ParseCSV(strings.NewReader("municipality,site,class,count,hostname,mac\nMoers,GS Nord,tablet,30,,\nMoers,gs nord,endpoint,1,pc-1,02:00:00:00:00:07\nMoers,Adolfinum,beamer,12,,\n"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.ImportDevices(ctx, rows, "inventar.csv", true, st.TenancyResolver())
	if err != nil || n != 43 {
		t.Fatalf("import: %d devices, %v; want 43", n, err)
	}
	// Importing the corrected file again replaces, it does not add.
	if _, err := st.ImportDevices(ctx, rows[:2], "inventar.csv", true, st.TenancyResolver()); err != nil {
		t.Fatal(err)
	}
	// A row naming a site that does not exist fails the import and names the row.
	bad, _ := ParseCSV(strings.NewReader("site,class\nGS Nord,endpoint\nGS Süd,endpoint\n"))
	_, err = st.ImportDevices(ctx, bad, "x.csv", false, st.TenancyResolver())
	var ce *CSVError
	if !errors.As(err, &ce) || ce.Line != 3 || !strings.Contains(err.Error(), "GS Süd") {
		t.Fatalf("import with unknown site: %v, want line 3 naming GS Süd", err)
	}
	wrongMun, _ := ParseCSV(strings.NewReader("municipality,site,class\nKrefeld,GS Nord,endpoint\n"))
	if _, err = st.ImportDevices(ctx, wrongMun, "x.csv", false, st.TenancyResolver()); !errors.As(err, &ce) || ce.Line != 2 {
		t.Fatalf("import with wrong municipality: %v", err)
	}

	pupils, travel, days := 220, 25.0, 80.0
	if err := st.SetAttrs(ctx, gs.ID, Attrs{Pupils: &pupils, TravelMinutes: &travel, ContractedPersonDays: &days}); err != nil {
		t.Fatal(err)
	}
	neg := -5.0
	var pe *ParamError
	if err := st.SetAttrs(ctx, gs.ID, Attrs{TravelMinutes: &neg}); !errors.As(err, &pe) || pe.Param != "travel_minutes" {
		t.Errorf("negative travel: %v", err)
	}
	inv, err := st.LoadInventory(ctx, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(ctx, inv, nil, DefaultParams(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Sites {
		switch s.Name {
		case "GS Nord":
			if s.Devices[ClassEndpoint] != 31 || s.Pupils != 220 || s.TravelMinutes != 25 || s.ContractedPersonDays != 80 {
				t.Errorf("GS Nord = %+v", s)
			}
			if f := figure(t, s.Figures, MethodSchoolType); f.FTE != 0.33 || !near(f.GapPersonDays, 66-80) {
				t.Errorf("GS Nord school_type = %+v", f)
			}
		case "Adolfinum":
			// The second import named only GS Nord: replace works per site,
			// so Adolfinum keeps its 12 projectors.
			if s.Devices[ClassDisplay] != 12 || s.Type != TypeSecondary {
				t.Errorf("Adolfinum = %+v, want its 12 displays", s)
			}
		}
	}
}

func TestLoadInventoryWithoutTenancy(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := NewStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadInventory(ctx, LoadOptions{}); !errors.Is(err, ErrNoTenancy) {
		t.Fatalf("err = %v, want ErrNoTenancy", err)
	}
}
