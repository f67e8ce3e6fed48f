package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/schulmon/schulmon/collector/config"
)

// loginCookies logs in on base with c and returns the cookies the login
// form and the login set, by name.
func loginCookies(t *testing.T, c *http.Client, base string) map[string]*http.Cookie {
	t.Helper()
	got := map[string]*http.Cookie{}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		got[ck.Name] = ck
	}
	resp = postLogin(t, c, base, "olga", pwOperator)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login on %s: HTTP %d", base, resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge >= 0 { // not the deletion of the login form's cookie
			got[ck.Name] = ck
		}
	}
	if got["schulmon_session"] == nil || got["schulmon_login"] == nil {
		t.Fatalf("cookies after login: %v", got)
	}
	return got
}

func noRedirectClient(t *testing.T, base *http.Client) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *base
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// TestSecureCookies: over a real HTTPS listener the session and login
// cookies are Secure, HttpOnly and SameSite; over plain HTTP they are
// Secure only with web.secure_cookies: always (a proxy terminates TLS).
func TestSecureCookies(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewTLSServer(e.Srv.Mux)
	defer ts.Close()
	if !strings.HasPrefix(ts.URL, "https://") {
		t.Fatal(ts.URL)
	}
	tlsCookies := loginCookies(t, noRedirectClient(t, ts.Client()), ts.URL)
	if s := tlsCookies["schulmon_session"]; !s.Secure || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie over HTTPS: %+v", s)
	}
	if l := tlsCookies["schulmon_login"]; !l.Secure || !l.HttpOnly || l.SameSite != http.SameSiteStrictMode {
		t.Errorf("login form cookie over HTTPS: %+v", l)
	}
	// The cookie works: the fleet page opens over HTTPS with it.
	c := noRedirectClient(t, ts.Client())
	loginCookies(t, c, ts.URL)
	resp, err := c.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("fleet page over HTTPS with the session: HTTP %d", resp.StatusCode)
	}

	// Plain HTTP with the default (auto): not Secure, or the browser
	// could not log in on http://127.0.0.1.
	if s := loginCookies(t, noRedirectClient(t, http.DefaultClient), e.URL)["schulmon_session"]; s.Secure || !s.HttpOnly {
		t.Errorf("session cookie over plain HTTP, secure_cookies auto: %+v", s)
	}

	behindProxy := newEnvWith(t, func(cfg *config.Config, _ string) { cfg.Web.SecureCookies = "always" })
	got := loginCookies(t, noRedirectClient(t, http.DefaultClient), behindProxy.URL)
	if s := got["schulmon_session"]; !s.Secure || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie with secure_cookies always: %+v", s)
	}
	if l := got["schulmon_login"]; !l.Secure {
		t.Errorf("login form cookie with secure_cookies always: %+v", l)
	}
}

// TestSecureCookiesConfig: the key is checked strictly.
func TestSecureCookiesConfig(t *testing.T) {
	for in, ok := range map[string]bool{"auto": true, "always": true, "never": false, "yes": false} {
		cfg, err := config.Parse(strings.NewReader("web:\n  secure_cookies: " + in + "\n"))
		if (err == nil) != ok {
			t.Errorf("secure_cookies: %s: error %v, want ok=%v", in, err, ok)
		}
		if ok && err == nil && cfg.Web.SecureCookies != in {
			t.Errorf("secure_cookies: %s parsed as %q", in, cfg.Web.SecureCookies)
		}
	}
	if _, err := config.Parse(strings.NewReader("web:\n  secure_cookie: always\n")); err == nil {
		t.Error("misspelt key secure_cookie accepted")
	}
}
