package availability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/tenancy"
)

type fakeSites map[string]tenancy.Site

func (f fakeSites) SiteByName(_ context.Context, name string) (tenancy.Site, error) {
	s, ok := f[name]
	if !ok {
		return s, fmt.Errorf("site %q: %w", name, tenancy.ErrNotFound)
	}
	return s, nil
}

func TestHTTPScopesAndMaintenance(t *testing.T) {
	db := openDB(t)
	y, _ := ParsePeriod("2026", time.UTC, time.Time{})
	a := school(y.From)
	aid := addObject(t, db, a)
	b := a
	b.SiteID, b.Site, b.Device = 2, "Realschule", "srv2"
	addObject(t, db, b)
	addSpan(t, db, aid, StateDown, mustTime(t, "2026-03-01T10:00:00Z"), mustTime(t, "2026-03-01T10:30:00Z"))

	principals := map[string]*tenancy.Principal{
		"op":    {Name: "op", Role: tenancy.RoleOperator, AllSites: true},
		"admin": {Name: "admin", Role: tenancy.RoleSchoolAdmin, SiteIDs: []int64{1}},
		"plan":  {Name: "plan", Role: tenancy.RolePlanner, AllSites: true},
	}
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principals[r.Header.Get("X-Who")]
			if p != nil {
				r = r.WithContext(tenancy.WithPrincipal(r.Context(), p))
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	h := &HTTP{DB: db, Sites: fakeSites{"GS Am Park": {ID: 1, Name: "GS Am Park"}, "Realschule": {ID: 2, Name: "Realschule"}},
		Now: func() time.Time { return mustTime(t, "2027-01-15T00:00:00Z") }}
	h.Routes(mux, wrap)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(who, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Who", who)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, sb.String()
	}

	if code, _ := do("", "GET", "/api/v1/availability?period=2026", ""); code != 401 {
		t.Fatalf("anonymous: %d", code)
	}
	code, body := do("op", "GET", "/api/v1/availability?period=2026&tz=UTC", "")
	var rep Report
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || rep.Total.Members != 2 || rep.Total.DownMin != "30" {
		t.Fatalf("operator report %d: %s", code, body)
	}
	// The school admin sees only its school.
	code, body = do("admin", "GET", "/api/v1/availability?period=2026&group_by=object&tz=UTC", "")
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || len(rep.Rows) != 1 || rep.Rows[0].Site != "GS Am Park" {
		t.Fatalf("admin report %d: %s", code, body)
	}
	if code, body = do("admin", "GET", "/api/v1/availability?site=Realschule&period=2026", ""); code != 200 || !strings.Contains(body, `"members": 0`) && strings.Contains(body, "srv2") {
		t.Fatalf("admin sees another school: %s", body)
	}
	for _, f := range []string{"csv", "md", "html"} {
		code, body := do("op", "GET", "/api/v1/availability?period=2026-03&tz=UTC&format="+f, "")
		if code != 200 || !strings.Contains(body, "Moers") || !strings.Contains(body, "89250") {
			t.Fatalf("format %s: %d %s", f, code, body)
		}
	}
	if code, body := do("op", "GET", "/api/v1/availability?period=2026-13", ""); code != 400 || !strings.Contains(body, "YYYY-MM") {
		t.Fatalf("bad period: %d %s", code, body)
	}
	code, body = do("admin", "GET", "/api/v1/outages?from=2026-01-01&to=2027-01-01", "")
	var outs []Outage
	if code != 200 || json.Unmarshal([]byte(body), &outs) != nil || len(outs) != 1 || outs[0].DurationSeconds != 1800 {
		t.Fatalf("outages %d: %s", code, body)
	}

	// Maintenance: the admin plans for its own school only; the planner
	// changes nothing.
	win := `{"scope":{"site":"GS Am Park"},"start":"2026-11-04T22:00","duration":"2h","rrule":"FREQ=WEEKLY;BYDAY=WE","tz":"Europe/Berlin","reason":"updates"}`
	if code, body := do("admin", "POST", "/api/v1/maintenance", win); code != 201 || !strings.Contains(body, `"created_by": "admin"`) {
		t.Fatalf("admin create: %d %s", code, body)
	}
	if code, _ := do("admin", "POST", "/api/v1/maintenance", strings.Replace(win, "GS Am Park", "Realschule", 1)); code != 403 {
		t.Fatalf("admin created for another school: %d", code)
	}
	if code, _ := do("plan", "POST", "/api/v1/maintenance", win); code != 403 {
		t.Fatalf("planner created: %d", code)
	}
	if code, body := do("op", "POST", "/api/v1/maintenance", `{"scope":{"municipality":"Moers"},"start":"2026-12-01T00:00","duration":"soon"}`); code != 400 || !strings.Contains(body, "duration") {
		t.Fatalf("bad duration: %d %s", code, body)
	}
	if code, _ := do("op", "POST", "/api/v1/maintenance", `{"scope":{"site":"Realschule"},"start":"2026-12-01T00:00","end":"2026-12-01T04:00"}`); code != 201 {
		t.Fatalf("operator create: %d", code)
	}
	code, body = do("admin", "GET", "/api/v1/maintenance", "")
	var ms []Maintenance
	if code != 200 || json.Unmarshal([]byte(body), &ms) != nil || len(ms) != 1 || ms[0].Scope.Site != "GS Am Park" {
		t.Fatalf("admin list: %d %s", code, body)
	}
	if code, _ := do("admin", "DELETE", "/api/v1/maintenance/2", ""); code != 404 {
		t.Fatalf("admin deleted another school's window: %d", code)
	}
	if code, _ := do("admin", "DELETE", fmt.Sprintf("/api/v1/maintenance/%d", ms[0].ID), ""); code != 204 {
		t.Fatalf("admin delete: %d", code)
	}
	if code, _ := do("op", "DELETE", fmt.Sprintf("/api/v1/maintenance/%d", ms[0].ID), ""); code != 404 {
		t.Fatalf("second delete: %d", code)
	}
}
