package events

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("second Migrate must be a no-op: %v", err)
	}
	return New(db)
}

func trapPoint(dev, trap string, t time.Time, msg string) metric.Point {
	return metric.NewPoint("snmp_trap", map[string]string{"device": dev, "class": "switch", "trap": trap},
		map[string]metric.Value{"message": metric.String(msg), "if_index": metric.Int(7), "trap_oid": metric.String("1.3.6.1.6.3.1.1.5.3")}, t)
}

func TestObserveAndServe(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	batch := &ingest.Batch{SiteID: 3, Site: "gs-nord", Signals: []metric.Point{
		trapPoint("sw01", "linkDown", t0, "sw01: port Gi1/0/7 went down"),
		trapPoint("sw01", "linkUp", t0.Add(time.Minute), "sw01: port Gi1/0/7 came up"),
		trapPoint("ap01", "coldStart", t0.Add(2*time.Minute), "ap01: restarted"),
		metric.NewPoint("snmp_poll", map[string]string{"device": "ups01", "class": "ups"}, map[string]metric.Value{"reachable": metric.Bool(true), "rebooted": metric.Bool(true)}, t0.Add(3*time.Minute)),
		metric.NewPoint("snmp_poll", map[string]string{"device": "sw01", "class": "switch"}, map[string]metric.Value{"reachable": metric.Bool(true), "rebooted": metric.Bool(false)}, t0.Add(3*time.Minute)),
		metric.NewPoint("schulmon_agent", map[string]string{"device": "srv"}, map[string]metric.Value{"uptime_s": metric.Float(1)}, t0),
	}}
	s.Observe(ctx, batch)
	s.Observe(ctx, batch) // outbox replay: no duplicates
	s.Observe(ctx, &ingest.Batch{SiteID: 4, Signals: []metric.Point{trapPoint("other", "linkDown", t0, "x")}})

	h := &Handler{Store: s, Now: func() time.Time { return t0.Add(time.Hour) }}
	mux := http.NewServeMux()
	mux.Handle(Pattern, h)
	get := func(path string, p *tenancy.Principal) (*httptest.ResponseRecorder, response) {
		req := httptest.NewRequest("GET", path, nil)
		if p != nil {
			req = req.WithContext(tenancy.WithPrincipal(req.Context(), p))
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var resp response
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
		}
		return rec, resp
	}
	admin := &tenancy.Principal{Role: tenancy.RoleSchoolAdmin, SiteIDs: []int64{3}}
	rec, resp := get("/api/v1/sites/3/events", admin)
	if rec.Code != 200 || len(resp.Events) != 4 {
		t.Fatalf("status %d, %d events: %s", rec.Code, len(resp.Events), rec.Body)
	}
	if resp.Events[0].Kind != "reboot" || resp.Events[0].Device != "ups01" || resp.Events[3].Name != "linkDown" {
		t.Fatalf("order or content: %+v", resp.Events)
	}
	if resp.Events[3].Fields["if_index"] != 7.0 || resp.Events[3].Message != "sw01: port Gi1/0/7 went down" {
		t.Fatalf("fields: %+v", resp.Events[3])
	}
	_, resp = get("/api/v1/sites/3/events?device=sw01&from="+t0.Add(30*time.Second).Format(time.RFC3339), admin)
	if len(resp.Events) != 1 || resp.Events[0].Name != "linkUp" {
		t.Fatalf("device+from filter: %+v", resp.Events)
	}
	_, resp = get("/api/v1/sites/3/events?kind=trap&limit=2", admin)
	if len(resp.Events) != 2 || resp.Events[0].Name != "coldStart" {
		t.Fatalf("kind+limit: %+v", resp.Events)
	}
	// Another school's admin sees nothing of site 3, not even that it exists.
	if rec, _ := get("/api/v1/sites/3/events", &tenancy.Principal{Role: tenancy.RoleSchoolAdmin, SiteIDs: []int64{4}}); rec.Code != 404 {
		t.Fatalf("foreign site: %d", rec.Code)
	}
	if rec, _ := get("/api/v1/sites/3/events", nil); rec.Code != 401 {
		t.Fatalf("unauthenticated: %d", rec.Code)
	}
	if rec, _ := get("/api/v1/sites/3/events", &tenancy.Principal{Role: tenancy.RoleAgent, SiteIDs: []int64{3}}); rec.Code != 403 {
		t.Fatalf("agent token: %d", rec.Code)
	}
	rec, _ = get("/api/v1/sites/3/events?from=yesterday", admin)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "RFC 3339") {
		t.Fatalf("bad from: %d %s", rec.Code, rec.Body)
	}
	if rec, _ := get("/api/v1/sites/gs-nord/events", admin); rec.Code != 400 {
		t.Fatalf("site name without resolver: %d", rec.Code)
	}
	op := &tenancy.Principal{Role: tenancy.RoleOperator, AllSites: true}
	_, resp = get("/api/v1/sites/4/events", op)
	if len(resp.Events) != 1 {
		t.Fatalf("operator on site 4: %+v", resp.Events)
	}
	if n, err := s.Prune(ctx, t0.Add(90*time.Second)); err != nil || n != 3 {
		t.Fatalf("prune: %d %v", n, err)
	}
}
