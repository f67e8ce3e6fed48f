package staffing

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/tenancy"
)

func TestHTTPHandlersScopeAndScenario(t *testing.T) {
	ctx := context.Background()
	dir, st := openDB(t)
	gs, _ := dir.EnsureSite(ctx, "Moers", "GS Nord", "grundschule")
	ad, _ := dir.EnsureSite(ctx, "Moers", "Adolfinum", "weiterfuehrende_schule")
	bk, _ := dir.EnsureSite(ctx, "Krefeld", "BK Vera Beckers", "berufskolleg")
	rows, _ := ParseCSV(strings.NewReader("site,class,count\nGS Nord,endpoint,100\nAdolfinum,endpoint,700\nBK Vera Beckers,endpoint,400\n"))
	if _, err := st.ImportDevices(ctx, rows, "t.csv", false, st.TenancyResolver()); err != nil {
		t.Fatal(err)
	}
	planner, _, err := dir.CreateToken(ctx, tenancy.RolePlanner, nil, "planner")
	if err != nil {
		t.Fatal(err)
	}
	agent, _, err := dir.CreateToken(ctx, tenancy.RoleAgent, &gs, "agent")
	if err != nil {
		t.Fatal(err)
	}
	// The collector's authentication: tokens from the directory; the test
	// stands in for a web session of a school_admin of GS Nord.
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var p *tenancy.Principal
			if tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Token "); tok != "" {
				p, _ = dir.Authenticate(r.Context(), tok)
			}
			if r.Header.Get("X-Test-School-Admin") != "" {
				p = &tenancy.Principal{Role: tenancy.RoleSchoolAdmin, SiteIDs: []int64{gs.ID}}
			}
			next.ServeHTTP(w, r.WithContext(tenancy.WithPrincipal(r.Context(), p)))
		})
	}
	mux := http.NewServeMux()
	h := &Handler{Store: st, Now: func() time.Time { return time.Now() }}
	h.Routes(mux, wrap)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	do := func(method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := do("GET", "/api/v1/staffing?method=device_ratio", "", "Authorization", "Token "+planner)
	if code != 200 {
		t.Fatalf("planner: %d %s", code, body)
	}
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.Sites != 3 || !near(rep.Total.Figures[0].FTE, 3) || len(rep.Municipalities) != 2 {
		t.Fatalf("planner report: %d sites, %v FTE, %d municipalities; want 3, 3, 2", rep.Total.Sites, rep.Total.Figures[0].FTE, len(rep.Municipalities))
	}

	code, body = do("GET", "/api/v1/staffing?municipality=Moers&method=school_type", "", "Authorization", "Token "+planner)
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || rep.Total.Sites != 2 || !near(rep.Total.Figures[0].FTE, 0.83) {
		t.Fatalf("Moers school_type: %d, %+v", code, rep.Total)
	}

	code, body = do("GET", "/api/v1/staffing", "", "X-Test-School-Admin", "1")
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || rep.Total.Sites != 1 || rep.Sites[0].Name != "GS Nord" {
		t.Fatalf("school_admin sees %d sites (%d): %s", rep.Total.Sites, code, body[:min(len(body), 300)])
	}
	if strings.Contains(body, "Adolfinum") || strings.Contains(body, "Krefeld") {
		t.Errorf("school_admin report leaks other sites")
	}

	if code, _ = do("GET", "/api/v1/staffing", "", "Authorization", "Token "+agent); code != http.StatusForbidden {
		t.Errorf("agent token: %d, want 403", code)
	}
	if code, _ = do("GET", "/api/v1/staffing", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	code, body = do("GET", "/api/v1/staffing?method=gut_feeling", "", "Authorization", "Token "+planner)
	if code != 400 || !strings.Contains(body, "method") {
		t.Errorf("unknown method: %d %s", code, body)
	}
	code, body = do("GET", "/api/v1/staffing?format=csv", "", "Authorization", "Token "+planner)
	if code != 200 || !strings.HasPrefix(body, "level,municipality,site") {
		t.Errorf("csv: %d %.80s", code, body)
	}
	code, body = do("GET", "/staffing", "", "Authorization", "Token "+planner)
	if code != 200 || !strings.Contains(body, "<h1>Staffing demand</h1>") {
		t.Errorf("planner page: %d", code)
	}

	sc := `{"name":"Neubau","ratio":350,"changes":[{"add_devices":{"site":"GS Nord","class":"tablet","count":300}},{"new_site":{"municipality":"Moers","name":"GS Neubau","school_type":"Grundschule","devices":{"endpoint":100}}}]}`
	code, body = do("POST", "/api/v1/staffing/scenario?method=device_ratio", sc, "Authorization", "Token "+planner)
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || rep.Scenario == nil {
		t.Fatalf("scenario: %d %s", code, body)
	}
	if !near(rep.Total.Figures[0].FTE, 1600.0/350) || !near(rep.Scenario.Delta[0].FTE, 1600.0/350-3) {
		t.Errorf("scenario FTE %v, delta %v; want %v, %v", rep.Total.Figures[0].FTE, rep.Scenario.Delta[0].FTE, 1600.0/350, 1600.0/350-3)
	}
	code, body = do("POST", "/api/v1/staffing/scenario", `{"name":"x","ratio":0}`, "Authorization", "Token "+planner)
	if code != 400 || !strings.Contains(body, "ratio") {
		t.Errorf("bad scenario: %d %s", code, body)
	}
	code, body = do("POST", "/api/v1/staffing/scenario", `{"name":"x","changes":[{"add_devices":{"site":"Adolfinum","class":"endpoint","count":1}}]}`, "X-Test-School-Admin", "1")
	_ = bk
	_ = ad
	if code != 400 || !strings.Contains(body, `no site named \"Adolfinum\"`) {
		t.Errorf("school_admin scenario on another school: %d %s, want 400 not found", code, body)
	}
}

// Reports computed concurrently share one Params (run with -race).
func TestConcurrentReportsShareParams(t *testing.T) {
	_, r := sampleReport(t)
	_ = r
	b := NewInventoryBuilder()
	s := b.AddSite(Site{ID: 1, Municipality: "M", Name: "S", Type: TypePrimary})
	b.AddCount(s, ClassEndpoint, SourceCSV, 400)
	inv := b.Build()
	p := DefaultParams()
	done := make(chan float64, 8)
	for range 8 {
		go func() {
			rep, err := Compute(context.Background(), inv, nil, p, Options{})
			if err != nil {
				done <- -1
				return
			}
			done <- rep.Total.Figures[0].FTE
		}()
	}
	for range 8 {
		if f := <-done; f != 1 {
			t.Errorf("FTE = %v, want 1", f)
		}
	}
}
