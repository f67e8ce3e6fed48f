package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
)

var loginCSRF = regexp.MustCompile(`name="login_csrf" value="([0-9a-f]+)"`)

// postLogin loads the login form (for its CSRF token) and posts it.
func postLogin(t *testing.T, c *http.Client, base, user, pw string) *http.Response {
	t.Helper()
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := loginCSRF.FindSubmatch(b)
	if m == nil {
		t.Fatalf("login form without CSRF token:\n%s", b)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"login_csrf": {string(m[1])}, "username": {user}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestLoginRateLimitAndCookies(t *testing.T) {
	e := newEnv(t)
	jar, _ := cookiejar.New(nil)
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// A login without the form's token is refused.
	resp, err := noRedirect.PostForm(e.URL+"/login", url.Values{"username": {"olga"}, "password": {pwOperator}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: HTTP %d", resp.StatusCode)
	}

	resp = postLogin(t, noRedirect, e.URL, "olga", pwOperator)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: HTTP %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "schulmon_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || len(session.Value) < 40 {
		t.Errorf("session cookie %+v", session)
	}
	// An API write with the session cookie but without X-CSRF-Token is refused.
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/api/v1/maintenance", strings.NewReader(`{"scope":{"site":"gs-nord"},"start":"2027-01-01T22:00","duration":"1h"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API write with session cookie and no CSRF header: HTTP %d, want 403", resp.StatusCode)
	}

	// Five wrong passwords lock the name out, even for the right one.
	jar2, _ := cookiejar.New(nil)
	c2 := &http.Client{Jar: jar2, CheckRedirect: noRedirect.CheckRedirect}
	for i := 0; i < 5; i++ {
		if resp := postLogin(t, c2, e.URL, "anna", "falsches-passwort"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: HTTP %d", i+1, resp.StatusCode)
		}
	}
	resp = postLogin(t, c2, e.URL, "anna", pwAnna)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("sixth attempt: HTTP %d, Retry-After %q; want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestMaintenanceScoping: a school admin neither sees nor changes another
// school's maintenance window, also by direct URL.
func TestMaintenanceScoping(t *testing.T) {
	e := newEnv(t)
	foreign, err := availability.AddMaintenance(t.Context(), e.Srv.MetaDB, availability.Maintenance{Scope: availability.Scope{Site: "gs-sued"},
		Start: time.Now().Add(time.Hour), Duration: time.Hour, Reason: "Fremdschule", CreatedBy: "olga"})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp := postLogin(t, c, e.URL, "anna", pwAnna); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	get := func(path string) (int, string) {
		resp, err := c.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := get("/maintenance")
	if st != 200 || strings.Contains(body, "Fremdschule") || strings.Contains(body, "gs-sued") {
		t.Errorf("school admin's maintenance list (HTTP %d) shows the other school", st)
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the maintenance page")
	}
	id := strconv.FormatInt(foreign.ID, 10)
	if st, _ := get("/maintenance/" + id + "/edit"); st != http.StatusNotFound {
		t.Errorf("edit form of the other school's window: HTTP %d", st)
	}
	for _, path := range []string{"/maintenance/" + id + "/delete", "/maintenance/" + id} {
		resp, err := c.PostForm(e.URL+path, url.Values{"csrf": {m[1]}, "site": {"gs-nord"}, "start": {"2027-01-01T22:00"}, "duration": {"1h"}, "repeat": {"none"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s as school admin of another site: HTTP %d, want 404", path, resp.StatusCode)
		}
	}
	all, err := availability.ListMaintenance(t.Context(), e.Srv.MetaDB)
	if err != nil || len(all) != 1 || all[0].Reason != "Fremdschule" {
		t.Errorf("windows after the attempts: %+v, %v", all, err)
	}
}
