package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
)

// scopeCase is one GET route with a path that exercises it, and the kind
// of access rule it should follow.
type scopeCase struct {
	pattern, path, kind string
}

// The principals of the scoping table; "agent" is gs-nord's agent token.
var scopePrincipals = []string{"anon", "anna", "agent", "paul", "olga"}

// oracle: the status of the same request about a site that does not exist.
const oracle = -1

// want gives the expected status per principal for a kind of route.
var scopeWant = map[string]map[string]int{
	// A web page every user may open; agent tokens are no web login.
	"page": {"anon": 303, "agent": 303, "anna": 200, "paul": 200, "olga": 200},
	// Pages and API calls about gs-sued: whoever may not see it (anna, the
	// agent token) gets what a site that does not exist gets ("oracle"),
	// so not even the name is confirmed.
	"pageB": {"anon": 303, "agent": 303, "anna": oracle, "paul": 200, "olga": 200},
	// Editing gs-sued's maintenance window: planners change nothing.
	"editB": {"anon": 303, "agent": 303, "anna": oracle, "paul": 403, "olga": 200},
	"admin": {"anon": 303, "agent": 303, "anna": 403, "paul": 403, "olga": 200},
	"api":   {"anon": 401, "agent": 200, "anna": 200, "paul": 200, "olga": 200},
	// Events and staffing are not for agent tokens.
	"apiNoAgent": {"anon": 401, "agent": 403, "anna": 200, "paul": 200, "olga": 200},
	"apiB":       {"anon": 401, "agent": oracle, "anna": oracle, "paul": 200, "olga": 200},
	// The login form: a logged-in user is sent on.
	"login": {"anon": 200, "agent": 200, "anna": 303, "paul": 303, "olga": 303},
	// A filter naming no visible site: a clear error, not a server error.
	"filter": {"anon": 303, "agent": 303, "anna": 400, "paul": 400, "olga": 400},
	// Single sign-on is not configured here.
	"absent": {"anon": 404, "agent": 404, "anna": 404, "paul": 404, "olga": 404},
}

var scopeCases = []scopeCase{
	{"GET /static/", "/static/style.css", "public"},
	{"GET /ping", "/ping", "public"},
	{"GET /health", "/health", "public"},
	{"GET /metrics", "/metrics", "public"},
	{"GET /login", "/login", "login"},
	{"GET /oidc/login", "/oidc/login", "absent"},
	{"GET /oidc/callback", "/oidc/callback?state=x&code=y", "absent"},
	{"GET /account", "/account", "page"},
	{"GET /{$}", "/", "page"},
	{"GET /{$}", "/?municipality=Kamp-Lintfort", "page"},
	{"GET /sites/{site}", "/sites/gs-nord", "page"},
	{"GET /sites/{site}", "/sites/gs-sued", "pageB"},
	{"GET /sites/{site}/devices/{device}", "/sites/gs-nord/devices/srv-gs-nord", "page"},
	{"GET /sites/{site}/devices/{device}", "/sites/gs-sued/devices/srv-gs-sued", "pageB"},
	{"GET /reports/availability", "/reports/availability?period=rolling-30d", "page"},
	{"GET /reports/availability", "/reports/availability?period=rolling-30d&group_by=municipality", "page"},
	{"GET /reports/availability", "/reports/availability?site=gs-sued", "pageB"},
	{"GET /reports/availability", "/reports/availability?municipality=Kamp-Lintfort", "pageB"},
	{"GET /reports/availability.csv", "/reports/availability.csv?period=rolling-30d", "page"},
	{"GET /reports/availability.csv", "/reports/availability.csv?site=gs-sued", "pageB"},
	{"GET /planner", "/planner", "page"},
	{"GET /planner", "/planner?municipality=Kamp-Lintfort", "pageB"},
	{"GET /planner", "/planner?municipality=Nirgendwo", "filter"},
	{"GET /planner.csv", "/planner.csv", "page"},
	{"GET /planner.csv", "/planner.csv?municipality=Kamp-Lintfort", "pageB"},
	{"GET /maintenance", "/maintenance", "page"},
	{"GET /maintenance", "/maintenance?site=gs-sued", "page"},
	{"GET /maintenance/{id}/edit", "/maintenance/{B}/edit", "editB"},
	{"GET /admin/users", "/admin/users", "admin"},
	{"GET /admin/tokens", "/admin/tokens", "admin"},
	{"GET /admin/enrollment", "/admin/enrollment", "admin"},
	{"GET /admin/inventory", "/admin/inventory", "admin"},
	{"GET /api/v1/sites", "/api/v1/sites", "api"},
	{"GET /api/v1/sites/{site}/devices", "/api/v1/sites/gs-nord/devices", "api"},
	{"GET /api/v1/sites/{site}/devices", "/api/v1/sites/gs-sued/devices", "apiB"},
	{"GET /api/v1/series", "/api/v1/series?site=gs-nord&device=srv-gs-nord&measurement=cpu&field=usage_user", "api"},
	{"GET /api/v1/series", "/api/v1/series?site=gs-sued&device=srv-gs-sued&measurement=cpu&field=usage_user", "apiB"},
	{"GET /api/v1/sites/{site}/events", "/api/v1/sites/gs-nord/events", "apiNoAgent"},
	{"GET /api/v1/sites/{site}/events", "/api/v1/sites/gs-sued/events", "apiB"},
	{"GET /api/v1/availability", "/api/v1/availability?period=rolling-30d", "api"},
	{"GET /api/v1/availability", "/api/v1/availability?period=rolling-30d&group_by=municipality", "api"},
	{"GET /api/v1/availability", "/api/v1/availability?site=gs-sued", "apiB"},
	{"GET /api/v1/outages", "/api/v1/outages", "api"},
	{"GET /api/v1/outages", "/api/v1/outages?site=gs-sued", "apiB"},
	{"GET /api/v1/states", "/api/v1/states", "api"},
	{"GET /api/v1/states", "/api/v1/states?site=gs-sued", "apiB"},
	{"GET /api/v1/maintenance", "/api/v1/maintenance", "api"},
	{"GET /api/v1/staffing", "/api/v1/staffing", "apiNoAgent"},
	{"GET /api/v1/staffing", "/api/v1/staffing?municipality=Kamp-Lintfort", "apiB"},
	{"GET /staffing", "/staffing", "apiNoAgent"},
}

// markersB are things only someone who may see gs-sued may read: its
// names, its devices and the troubles seeded for it below.
var markersB = []string{"gs-sued", "Kamp-Lintfort", "srv-gs-sued", "sw-gs-sued-1", "Fremdschule", "sued-dienst", "Trap-Sued"}

// registeredGETs reads the GET routes the collector registers from the
// source of the packages that mount them, so that a new route without a
// row in scopeCases fails the test.
func registeredGETs(t *testing.T) []string {
	var out []string
	re := regexp.MustCompile(`"GET (/[^"]*)"`)
	for _, f := range []string{"web.go", "../api/api.go", "../availability/http.go", "../staffing/http.go", "../events/http.go", "../server/server.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out = append(out, "GET "+m[1])
		}
	}
	sort.Strings(out)
	return out
}

// TestScopingAllRoutes: every GET route × {anonymous, school admin of
// gs-nord, gs-nord's agent token, planner, operator}: the status, and that
// whoever may not see gs-sued never reads anything of it.
func TestScopingAllRoutes(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range scopeCases {
		covered[c.pattern] = true
	}
	regs := registeredGETs(t)
	if len(regs) < 30 {
		t.Fatalf("found only %d GET routes in the sources: %v", len(regs), regs)
	}
	for _, p := range regs {
		if !covered[p] {
			t.Errorf("route %s has no row in scopeCases", p)
		}
	}

	e := newEnv(t)
	// gs-sued's own troubles: a failing check, a trap, a maintenance window.
	now := time.Now()
	var lp strings.Builder
	for m := 30; m >= 0; m -= 5 {
		fmt.Fprintf(&lp, "check,host=srv-gs-sued,check=sued-dienst,plugin=tcp status=2i,message=\"refused\" %d\n", now.Add(-time.Duration(m)*time.Minute).UnixNano())
	}
	fmt.Fprintf(&lp, "snmp_trap,device=sw-gs-sued-1,class=switch,trap=linkDown message=\"Trap-Sued Gi1/0/9\" %d\n", now.Add(-10*time.Minute).UnixNano())
	e.write(t, e.Tokens["gs-sued"], lp.String())
	e.waitStates(t, now, map[string]availability.State{"srv-gs-sued/sued-dienst": availability.StateDown})
	mw, err := availability.AddMaintenance(t.Context(), e.Srv.MetaDB, availability.Maintenance{Scope: availability.Scope{Site: "gs-sued"},
		Start: now.Add(time.Hour), Duration: time.Hour, Reason: "Fremdschule", CreatedBy: "olga"})
	if err != nil {
		t.Fatal(err)
	}

	clients := map[string]*http.Client{}
	for _, p := range scopePrincipals {
		jar, _ := cookiejar.New(nil)
		clients[p] = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	for p, pw := range map[string]string{"anna": pwAnna, "paul": pwPlanner, "olga": pwOperator} {
		if resp := postLogin(t, clients[p], e.URL, p, pw); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %s: HTTP %d", p, resp.StatusCode)
		}
	}
	get := func(p, path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		if p == "agent" {
			req.Header.Set("Authorization", "Token "+e.Tokens["gs-nord"])
		}
		resp, err := clients[p].Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	nowhere := strings.NewReplacer("gs-sued", "gs-nirgendwo", "Kamp-Lintfort", "Nirgendwo", "{B}", "999999")
	for _, c := range scopeCases {
		path := strings.ReplaceAll(c.path, "{B}", fmt.Sprint(mw.ID))
		for _, p := range scopePrincipals {
			status, body := get(p, path)
			if status >= 500 {
				t.Errorf("GET %s as %s: HTTP %d", path, p, status)
			}
			if c.kind != "public" {
				want := scopeWant[c.kind][p]
				if want == oracle {
					want, _ = get(p, nowhere.Replace(c.path))
				}
				if status != want {
					t.Errorf("GET %s as %s: HTTP %d, want %d", path, p, status, want)
				}
			} else if status >= 300 {
				t.Errorf("GET %s as %s: HTTP %d, want 2xx", path, p, status)
			}
			if p == "paul" || p == "olga" {
				continue
			}
			// What the request itself names may be echoed (a redirect's
			// next=, an error naming the unknown site); nothing else.
			asked, _ := url.QueryUnescape(path)
			for _, m := range markersB {
				if !strings.Contains(asked, m) && strings.Contains(body, m) {
					t.Errorf("GET %s as %s (HTTP %d) shows %q of gs-sued", path, p, status, m)
				}
			}
		}
	}
}
