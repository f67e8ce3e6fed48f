// Package web is the collector's server-rendered web UI (html/template,
// assets embedded): the fleet page lists municipalities → sites → devices
// with their state. German first, English second.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/api"
	"github.com/schulmon/schulmon/collector/tenancy"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Directory is what the UI reads.
type Directory interface {
	Authenticate(ctx context.Context, secret string) (*tenancy.Principal, error)
	Sites(ctx context.Context, p *tenancy.Principal) ([]tenancy.Site, error)
	Devices(ctx context.Context, siteID int64) ([]tenancy.Device, error)
}

// UI serves the web pages.
type UI struct {
	dir  Directory
	api  *api.Handler
	log  *slog.Logger
	tmpl *template.Template

	mu       sync.Mutex
	sessions map[string]session
}

type session struct {
	p       *tenancy.Principal
	csrf    string
	expires time.Time
}

const sessionCookie = "schulmon_session"

// New builds the UI.
func New(dir Directory, a *api.Handler, log *slog.Logger) *UI {
	funcs := template.FuncMap{
		"ago": func(t time.Time) string {
			if t.IsZero() || t.Unix() <= 0 {
				return "—"
			}
			return time.Since(t).Round(time.Second).String()
		},
	}
	return &UI{dir: dir, api: a, log: log, sessions: map[string]session{},
		tmpl: template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/*.html"))}
}

// Routes registers the pages.
func (u *UI) Routes(mux *http.ServeMux) {
	mux.Handle("GET /static/", http.FileServerFS(assets))
	mux.HandleFunc("GET /login", u.loginForm)
	mux.HandleFunc("POST /login", u.login)
	mux.HandleFunc("POST /logout", u.logout)
	mux.HandleFunc("GET /{$}", u.fleet)
}

// Principal returns the logged-in principal of r, or nil.
func (u *UI) Principal(r *http.Request) *tenancy.Principal {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.sessions[c.Value]
	if !ok || time.Now().After(s.expires) {
		delete(u.sessions, c.Value)
		return nil
	}
	return s.p
}

// lang picks German unless the browser prefers English or the user chose.
func lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "de" {
		return l
	}
	if c, err := r.Cookie("lang"); err == nil && (c.Value == "en" || c.Value == "de") {
		return c.Value
	}
	al := strings.ToLower(r.Header.Get("Accept-Language"))
	de, en := strings.Index(al, "de"), strings.Index(al, "en")
	if en >= 0 && (de < 0 || en < de) {
		return "en"
	}
	return "de"
}

type page struct {
	Lang  string
	T     map[string]string
	Error string
	Data  any
	User  *tenancy.Principal
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, name string, status int, p page) {
	p.Lang = lang(r)
	p.T = texts[p.Lang]
	if l := r.URL.Query().Get("lang"); l == "en" || l == "de" {
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := u.tmpl.ExecuteTemplate(w, name, p); err != nil {
		u.log.Error("render page", "page", name, "err", err)
	}
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, "login.html", http.StatusOK, page{})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	p, err := u.dir.Authenticate(r.Context(), strings.TrimSpace(r.PostFormValue("token")))
	if err != nil {
		u.render(w, r, "login.html", http.StatusUnauthorized, page{Error: texts[lang(r)]["login_failed"]})
		return
	}
	id := randomHex(32)
	u.mu.Lock()
	u.sessions[id] = session{p: p, csrf: randomHex(16), expires: time.Now().Add(12 * time.Hour)}
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		u.mu.Lock()
		s, ok := u.sessions[c.Value]
		if ok && subtle.ConstantTimeCompare([]byte(s.csrf), []byte(r.PostFormValue("csrf"))) == 1 {
			delete(u.sessions, c.Value)
		}
		u.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

type fleetSite struct {
	tenancy.Site
	Devices []api.DeviceStatus
	Up      int
	Down    int
}

type fleetMunicipality struct {
	Name  string
	Sites []fleetSite
}

func (u *UI) fleet(w http.ResponseWriter, r *http.Request) {
	p := u.Principal(r)
	if p == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	sites, err := u.dir.Sites(r.Context(), p)
	if err != nil {
		u.log.Error("fleet page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var ms []fleetMunicipality
	for _, s := range sites {
		devs, err := u.dir.Devices(r.Context(), s.ID)
		if err != nil {
			u.log.Error("fleet page", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		fs := fleetSite{Site: s}
		for _, d := range devs {
			st := u.api.StatusOf(d)
			fs.Devices = append(fs.Devices, api.DeviceStatus{Device: d, Status: st})
			if st == "up" {
				fs.Up++
			} else {
				fs.Down++
			}
		}
		if len(ms) == 0 || ms[len(ms)-1].Name != s.Municipality {
			ms = append(ms, fleetMunicipality{Name: s.Municipality})
		}
		ms[len(ms)-1].Sites = append(ms[len(ms)-1].Sites, fs)
	}
	u.render(w, r, "fleet.html", http.StatusOK, page{Data: ms, User: p})
}

var texts = map[string]map[string]string{
	"de": {
		"title": "schulmon – Übersicht", "login": "Anmelden", "token": "Zugangstoken", "login_failed": "Anmeldung fehlgeschlagen: Token unbekannt oder widerrufen.",
		"logout": "Abmelden", "municipality": "Schulträger", "site": "Standort", "device": "Gerät", "class": "Klasse", "status": "Status",
		"last_seen": "Zuletzt gesehen vor", "up": "erreichbar", "down": "ausgefallen", "unknown": "unbekannt", "no_sites": "Noch keine Standorte.",
		"devices": "Geräte", "other_lang": "English", "other_lang_code": "en",
	},
	"en": {
		"title": "schulmon – overview", "login": "Log in", "token": "Access token", "login_failed": "Login failed: token unknown or revoked.",
		"logout": "Log out", "municipality": "Municipality", "site": "Site", "device": "Device", "class": "Class", "status": "Status",
		"last_seen": "Last seen", "up": "up", "down": "down", "unknown": "unknown", "no_sites": "No sites yet.",
		"devices": "Devices", "other_lang": "Deutsch", "other_lang_code": "de",
	},
}
