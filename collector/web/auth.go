package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

type sessionKey struct{}

// sessionFrom returns the session withUser put into the request.
func sessionFrom(r *http.Request) *users.Session {
	s, _ := r.Context().Value(sessionKey{}).(*users.Session)
	return s
}

func (u *UI) lookup(r *http.Request) *users.Session {
	if u.deps.Users == nil {
		return nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s, err := u.deps.Users.Session(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, users.ErrNoSession) {
			u.log.Error("web session", "err", err)
		}
		return nil
	}
	return s
}

// Principal returns the logged-in user of r as a principal, or nil. The
// server's API authentication accepts it, so the pages' scripts can read
// the API with the session cookie.
func (u *UI) Principal(r *http.Request) *tenancy.Principal {
	if s := sessionFrom(r); s != nil {
		return s.User.Principal()
	}
	if s := u.lookup(r); s != nil {
		return s.User.Principal()
	}
	return nil
}

// CheckCSRF reports whether a state-changing request carrying the session
// cookie also carries the session's CSRF token (form field "csrf" or
// header X-CSRF-Token). The server calls it for API writes made with a
// session cookie.
func (u *UI) CheckCSRF(r *http.Request) bool {
	s := u.lookup(r)
	if s == nil {
		return false
	}
	return csrfOK(s, r)
}

func csrfOK(s *users.Session, r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// withUser requires a session; POSTs must carry its CSRF token.
func (u *UI) withUser(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := u.lookup(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			u.fail(w, r, http.StatusUnauthorized, tr(lang(r), "session_expired"))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
		r = r.WithContext(tenancy.WithPrincipal(r.Context(), s.User.Principal()))
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				if err := r.ParseMultipartForm(4 << 20); err != nil {
					u.fail(w, r, http.StatusBadRequest, err.Error())
					return
				}
			}
			if !csrfOK(s, r) {
				u.fail(w, r, http.StatusForbidden, tr(lang(r), "csrf_failed"))
				return
			}
		}
		next(w, r)
	}
}

// withOperator additionally requires the operator role.
func (u *UI) withOperator(next http.HandlerFunc) http.HandlerFunc {
	return u.withUser(func(w http.ResponseWriter, r *http.Request) {
		if !sessionFrom(r).User.Principal().IsOperator() {
			u.forbidden(w, r)
			return
		}
		next(w, r)
	})
}

const loginCSRFCookie = "schulmon_login"

// secureCookies says whether cookies get the Secure flag: under TLS, and
// always with web.secure_cookies: always, for a collector behind a proxy
// that terminates TLS (it sees plain HTTP, the browser does not).
func (u *UI) secureCookies(r *http.Request) bool {
	return r.TLS != nil || u.deps.Config.SecureCookies == "always"
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

type loginData struct {
	Next      string
	Name      string
	OIDC      string // button label, "" without SSO
	LoginCSRF string
}

// safeNext accepts only local paths as redirect targets.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return "/"
	}
	return s
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, status int, msg, name string) {
	// Login CSRF: a double-submit token, since there is no session yet.
	tok := randomHex(16)
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: u.secureCookies(r), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	d := loginData{Next: safeNext(r.FormValue("next")), Name: name, LoginCSRF: tok}
	if u.deps.OIDC != nil {
		d.OIDC = u.deps.OIDC.Label()
	}
	u.render(w, r, "login.html", status, page{Error: msg, Data: d, Title: tr(lang(r), "login")})
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	if u.lookup(r) != nil {
		http.Redirect(w, r, safeNext(r.FormValue("next")), http.StatusSeeOther)
		return
	}
	u.loginPage(w, r, http.StatusOK, "", "")
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	l := lang(r)
	name := strings.TrimSpace(r.PostFormValue("username"))
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("login_csrf"))) != 1 {
		u.loginPage(w, r, http.StatusForbidden, tr(l, "csrf_failed"), name)
		return
	}
	if u.deps.Users == nil {
		u.loginPage(w, r, http.StatusServiceUnavailable, tr(l, "login_unavailable"), name)
		return
	}
	keys := []string{"user:" + strings.ToLower(name)}
	ipKey := "ip:" + clientIP(r)
	ok, wait := u.limiter.Allow(keys...)
	if ipOK, ipWait := u.ipLimiter.Allow(ipKey); !ipOK {
		ok, wait = false, max(wait, ipWait)
	}
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		u.log.Warn("web login rate limited", "user", name, "ip", clientIP(r))
		u.loginPage(w, r, http.StatusTooManyRequests, tr(l, "login_rate_limited"), name)
		return
	}
	user, err := u.deps.Users.Verify(r.Context(), name, r.PostFormValue("password"))
	if err != nil {
		if !errors.Is(err, users.ErrBadCredentials) {
			u.log.Error("web login", "err", err)
		}
		u.limiter.Fail(keys...)
		u.ipLimiter.Fail(ipKey)
		u.log.Info("web login failed", "user", name, "ip", clientIP(r))
		u.loginPage(w, r, http.StatusUnauthorized, tr(l, "login_failed"), name)
		return
	}
	u.limiter.Succeed(keys[0])
	u.startSession(w, r, user)
}

func (u *UI) startSession(w http.ResponseWriter, r *http.Request, user users.User) {
	id, _, err := u.deps.Users.NewSession(r.Context(), user.ID)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	u.log.Info("web login", "user", user.Name, "role", user.Role, "ip", clientIP(r))
	ttl := u.deps.Config.SessionTTL
	if ttl <= 0 {
		ttl = 12 * 3600e9
	}
	// Lax, not Strict: the OIDC callback is a cross-site navigation that
	// must find the session; CSRF tokens protect every POST anyway.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: u.secureCookies(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(ttl.Seconds())})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1})
	http.Redirect(w, r, safeNext(r.FormValue("next")), http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := u.deps.Users.EndSession(r.Context(), c.Value); err != nil {
			u.log.Error("web logout", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: u.secureCookies(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (u *UI) account(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, "account.html", http.StatusOK, page{Nav: "account", Title: tr(lang(r), "account"), Data: sessionFrom(r).User})
}

func (u *UI) changePassword(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	l := lang(r)
	if r.PostFormValue("new") != r.PostFormValue("repeat") {
		u.render(w, r, "account.html", http.StatusBadRequest, page{Nav: "account", Error: tr(l, "password_mismatch"), Data: s.User})
		return
	}
	keys := []string{"user:" + strings.ToLower(s.User.Name)}
	if ok, _ := u.limiter.Allow(keys...); !ok {
		u.render(w, r, "account.html", http.StatusTooManyRequests, page{Nav: "account", Error: tr(l, "login_rate_limited"), Data: s.User})
		return
	}
	c, _ := r.Cookie(sessionCookie)
	if err := u.deps.Users.ChangePassword(r.Context(), s.User.ID, r.PostFormValue("old"), r.PostFormValue("new"), c.Value); err != nil {
		if strings.Contains(err.Error(), "current password is wrong") {
			u.limiter.Fail(keys...)
		}
		u.render(w, r, "account.html", http.StatusBadRequest, page{Nav: "account", Error: err.Error(), Data: s.User})
		return
	}
	u.render(w, r, "account.html", http.StatusOK, page{Nav: "account", Flash: tr(l, "password_changed"), Data: s.User})
}

const oidcCookie = "schulmon_oidc"

func (u *UI) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if u.deps.OIDC == nil {
		u.notFound(w, r)
		return
	}
	state, nonce := randomHex(16), randomHex(16)
	next := safeNext(r.FormValue("next"))
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state + "." + nonce + "." + url.QueryEscape(next), Path: "/oidc/", HttpOnly: true,
		Secure: u.secureCookies(r), SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, u.deps.OIDC.AuthURL(state, nonce), http.StatusFound)
}

func (u *UI) oidcCallback(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	if u.deps.OIDC == nil || u.deps.Users == nil {
		u.notFound(w, r)
		return
	}
	c, err := r.Cookie(oidcCookie)
	parts := []string{}
	if err == nil {
		parts = strings.SplitN(c.Value, ".", 3)
	}
	if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(parts[0]), []byte(r.URL.Query().Get("state"))) != 1 {
		u.loginPage(w, r, http.StatusBadRequest, tr(l, "sso_state"), "")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/oidc/", MaxAge: -1})
	if e := r.URL.Query().Get("error"); e != "" {
		u.loginPage(w, r, http.StatusUnauthorized, tr(l, "sso_failed")+": "+e, "")
		return
	}
	id, err := u.deps.OIDC.Exchange(r.Context(), r.URL.Query().Get("code"), parts[1])
	if err != nil {
		u.log.Warn("web single sign-on", "err", err)
		u.loginPage(w, r, http.StatusUnauthorized, tr(l, "sso_failed"), "")
		return
	}
	role, siteNames, ok := users.MapGroups(u.deps.OIDC.Mappings(), id.Groups)
	if !ok {
		u.log.Warn("web single sign-on: no mapped group", "user", id.Name, "groups", id.Groups)
		u.loginPage(w, r, http.StatusForbidden, tr(l, "sso_no_group"), "")
		return
	}
	var ids []int64
	for _, n := range siteNames {
		if s, err := u.dir.SiteByName(r.Context(), n); err == nil {
			ids = append(ids, s.ID)
		} else {
			u.log.Warn("web single sign-on: mapped site does not exist", "site", n)
		}
	}
	if role == tenancy.RoleSchoolAdmin && len(ids) == 0 {
		u.loginPage(w, r, http.StatusForbidden, tr(l, "sso_no_group"), "")
		return
	}
	user, err := u.deps.Users.UpsertOIDC(r.Context(), id.Subject, id.Name, role, ids)
	if err != nil {
		u.log.Warn("web single sign-on", "user", id.Name, "err", err)
		u.loginPage(w, r, http.StatusForbidden, tr(l, "sso_failed"), "")
		return
	}
	next, _ := url.QueryUnescape(parts[2])
	r.Form = url.Values{"next": {next}}
	u.startSession(w, r, user)
}
