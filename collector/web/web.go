// Package web is the collector's server-rendered web UI (html/template,
// assets embedded, no front-end framework, no inline scripts so that a
// strict Content-Security-Policy holds): the fleet overview, site and
// device pages with charts (uPlot, vendored), availability reports,
// the staffing planner, maintenance windows, and the operator's pages for
// users, tokens and the inventory import. German first, English second.
//
// Every page and form checks the logged-in user's scope on the server: a
// school_admin sees only the assigned sites (others answer 404 as if they
// did not exist), a planner reads everything and changes nothing, an
// operator may do everything.
package web

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/api"
	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/enroll"
	"github.com/schulmon/schulmon/collector/events"
	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

//go:embed templates/*.html static
var assets embed.FS

// Directory is what the UI reads from and changes in the tenancy.
type Directory interface {
	Sites(ctx context.Context, p *tenancy.Principal) ([]tenancy.Site, error)
	SiteByName(ctx context.Context, name string) (tenancy.Site, error)
	Devices(ctx context.Context, siteID int64) ([]tenancy.Device, error)
	DeviceByName(ctx context.Context, siteID int64, name string) (tenancy.Device, error)
	AllDevices(ctx context.Context) ([]tenancy.Device, error)
	Tokens(ctx context.Context) ([]tenancy.Token, error)
	CreateToken(ctx context.Context, role string, site *tenancy.Site, description string) (string, tenancy.Token, error)
	RevokeToken(ctx context.Context, idOrPrefix string) error
}

// StateSource tells current states; *availability.Engine implements it.
type StateSource interface {
	States(match func(*availability.Object) bool) []availability.ObjectState
}

// Deps are the UI's further parts. The zero value gives a UI without users
// (nobody can log in), which is what the coordinator's early tests build.
type Deps struct {
	// DB is the collector's meta database (availability, staffing and
	// events tables live there).
	DB     *sql.DB
	Users  *users.Store
	Store  store.Reader
	Config users.WebConfig
	// OIDC enables single sign-on (nil: local users only).
	OIDC *users.OIDC
	// TZ cuts report periods (default Europe/Berlin).
	TZ  *time.Location
	Now func() time.Time
}

// UI serves the web pages.
type UI struct {
	dir     Directory
	api     *api.Handler
	log     *slog.Logger
	deps    Deps
	tmpl    map[string]*template.Template
	limiter *users.Limiter
	// ipLimiter limits failed logins per client address.
	ipLimiter *users.Limiter

	mu      sync.Mutex
	states  StateSource
	avCache map[string]avCacheEntry
	// avRefreshing is set while a background refresh of avCache runs.
	avRefreshing bool
	counts       *countCache
	staffing     *staffing.Handler
	events       *events.Store
	enroll       *enroll.Store
}

const sessionCookie = "schulmon_session"

// New builds the UI.
func New(dir Directory, a *api.Handler, log *slog.Logger, deps ...Deps) *UI {
	u := &UI{dir: dir, api: a, log: log, avCache: map[string]avCacheEntry{}}
	if len(deps) > 0 {
		u.deps = deps[0]
	}
	if u.deps.TZ == nil {
		u.deps.TZ, _ = time.LoadLocation("Europe/Berlin")
		if u.deps.TZ == nil {
			u.deps.TZ = time.UTC
		}
	}
	cfg := u.deps.Config
	if cfg.LoginFailures <= 0 {
		cfg.LoginFailures = 5
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = 15 * time.Minute
	}
	u.limiter = users.NewLimiter(cfg.LoginFailures, cfg.LoginWindow)
	// A school's staff share one address behind its NAT: the address limit
	// is ten times the per-name limit, so a few typos do not lock out a
	// whole school, while guessing across many names is still slowed.
	u.ipLimiter = users.NewLimiter(10*cfg.LoginFailures, cfg.LoginWindow)
	if u.deps.Users != nil {
		u.deps.Users.SessionTTL, u.deps.Users.IdleTTL = cfg.SessionTTL, cfg.IdleTTL
	}
	if u.deps.DB != nil {
		ctx := context.Background()
		if err := events.Migrate(ctx, u.deps.DB); err == nil {
			u.events = events.New(u.deps.DB)
		} else {
			log.Error("web: events table", "err", err)
		}
		if st, err := staffing.NewStore(ctx, u.deps.DB); err == nil {
			u.staffing = &staffing.Handler{Store: st, Incidents: &staffing.SpanIncidents{DB: u.deps.DB}, Log: log}
		} else {
			log.Error("web: staffing tables", "err", err)
		}
		if tc, ok := dir.(enroll.TokenCreator); ok {
			if st, err := enroll.New(ctx, u.deps.DB, tc); err == nil {
				u.enroll = st
			} else {
				log.Error("web: enrollment tables", "err", err)
			}
		}
		if err := availability.Migrate(ctx, u.deps.DB); err != nil {
			log.Error("web: availability tables", "err", err)
		}
	}
	u.tmpl = parseTemplates()
	return u
}

// SetAvailability gives the UI the engine's current states (the engine is
// attached after the server is built).
func (u *UI) SetAvailability(s StateSource) {
	u.mu.Lock()
	u.states = s
	u.mu.Unlock()
}

// SetStaffing replaces the staffing handler (its parameters and options).
func (u *UI) SetStaffing(h *staffing.Handler) {
	u.mu.Lock()
	u.staffing = h
	u.mu.Unlock()
}

func (u *UI) now() time.Time {
	if u.deps.Now != nil {
		return u.deps.Now()
	}
	return time.Now()
}

func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"ago":     ago,
		"fmtTime": func(t time.Time) string { return fmtTime(t) },
		"fmtPtr": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return fmtTime(*t)
		},
		"dur":      fmtDuration,
		"num":      fmtNum,
		"num1":     func(f float64) string { return fmtFloat(f, 1) },
		"num2":     func(f float64) string { return fmtFloat(f, 2) },
		"eur":      fmtEUR,
		"pct":      fmtPct,
		"jsnum":    jsonNum,
		"tr":       tr,
		"plural":   plural,
		"cause":    causeText,
		"join":     strings.Join,
		"inc":      func(i int) int { return i + 1 },
		"lower":    strings.ToLower,
		"hasPref":  strings.HasPrefix,
		"list":     func(v ...string) []string { return v },
		"deref":    func(b *bool) bool { return b != nil && *b },
		"derefNum": func(n *json.Number) json.Number { return *n },
		"contains": func(list []string, s string) bool { return slices.Contains(list, s) },
		"stateArgs": func(t map[string]string, s string) map[string]any {
			return map[string]any{"T": t, "S": s}
		},
		"outageArgs": func(t map[string]string, l []availability.Outage) map[string]any {
			return map[string]any{"T": t, "List": l}
		},
		"eventArgs": func(t map[string]string, l []events.Event) map[string]any {
			return map[string]any{"T": t, "List": l}
		},
		"seq": func(n int) []int {
			s := make([]int, n)
			for i := range s {
				s[i] = i
			}
			return s
		},
	}
	base := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html"))
	pages, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimPrefix(p, "templates/")
		if name == "layout.html" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, p))
	}
	return out
}

// Routes registers the pages.
func (u *UI) Routes(mux *http.ServeMux) {
	mux.Handle("GET /static/", u.static())
	mux.HandleFunc("GET /login", u.loginForm)
	mux.HandleFunc("POST /login", u.login)
	mux.HandleFunc("POST /logout", u.withUser(u.logout))
	mux.HandleFunc("GET /oidc/login", u.oidcLogin)
	mux.HandleFunc("GET /oidc/callback", u.oidcCallback)
	mux.HandleFunc("GET /account", u.withUser(u.account))
	mux.HandleFunc("POST /account/password", u.withUser(u.changePassword))

	mux.HandleFunc("GET /{$}", u.withUser(u.fleet))
	mux.HandleFunc("GET /sites/{site}", u.withUser(u.site))
	mux.HandleFunc("GET /sites/{site}/devices/{device}", u.withUser(u.device))
	mux.HandleFunc("GET /reports/availability", u.withUser(u.availabilityReport))
	mux.HandleFunc("GET /reports/availability.csv", u.withUser(u.availabilityCSV))
	mux.HandleFunc("GET /planner", u.withUser(u.planner))
	mux.HandleFunc("GET /planner.csv", u.withUser(u.plannerCSV))
	mux.HandleFunc("GET /maintenance", u.withUser(u.maintenanceList))
	mux.HandleFunc("GET /maintenance/{id}/edit", u.withUser(u.maintenanceEdit))
	mux.HandleFunc("POST /maintenance", u.withUser(u.maintenanceSave))
	mux.HandleFunc("POST /maintenance/{id}", u.withUser(u.maintenanceSave))
	mux.HandleFunc("POST /maintenance/{id}/delete", u.withUser(u.maintenanceDelete))

	mux.HandleFunc("GET /admin/users", u.withOperator(u.usersPage))
	mux.HandleFunc("POST /admin/users", u.withOperator(u.usersAdd))
	mux.HandleFunc("POST /admin/users/{name}/role", u.withOperator(u.usersSetRole))
	mux.HandleFunc("POST /admin/users/{name}/password", u.withOperator(u.usersSetPassword))
	mux.HandleFunc("POST /admin/users/{name}/delete", u.withOperator(u.usersDelete))
	mux.HandleFunc("GET /admin/tokens", u.withOperator(u.tokensPage))
	mux.HandleFunc("POST /admin/tokens", u.withOperator(u.tokensCreate))
	mux.HandleFunc("POST /admin/tokens/{id}/revoke", u.withOperator(u.tokensRevoke))
	mux.HandleFunc("GET /admin/enrollment", u.withOperator(u.enrollmentPage))
	mux.HandleFunc("POST /admin/enrollment", u.withOperator(u.enrollmentCreate))
	mux.HandleFunc("POST /admin/enrollment/{id}/revoke", u.withOperator(u.enrollmentRevoke))
	mux.HandleFunc("GET /admin/inventory", u.withOperator(u.inventoryPage))
	mux.HandleFunc("POST /admin/inventory", u.withOperator(u.inventoryImport))
}

func (u *UI) static() http.Handler {
	fsrv := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	})
}

// lang picks German unless the user chose English or the browser prefers
// it.
func lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "de" {
		return l
	}
	if c, err := r.Cookie("lang"); err == nil && (c.Value == "en" || c.Value == "de") {
		return c.Value
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage returns "en" if English ranks above German, else "de".
func acceptLanguage(h string) string {
	best, bestQ := "de", -1.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		var l string
		switch {
		case tag == "de" || strings.HasPrefix(tag, "de-"):
			l = "de"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			l = "en"
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// page is what every template gets.
type page struct {
	Lang  string
	T     map[string]string
	Title string
	Nav   string
	Error string
	Flash string
	User  *tenancy.Principal
	CSRF  string
	Path  string
	Print bool
	Data  any
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, name string, status int, p page) {
	p.Lang = lang(r)
	p.T = texts[p.Lang]
	p.Path = r.URL.Path
	p.Print = r.URL.Query().Get("print") == "1"
	if s := sessionFrom(r); s != nil {
		p.User, p.CSRF = s.User.Principal(), s.CSRF
	}
	if p.Title == "" {
		p.Title = p.T["title"]
	}
	if l := r.URL.Query().Get("lang"); l == "en" || l == "de" {
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: u.secureCookies(r)})
	}
	t := u.tmpl[name]
	if t == nil {
		u.log.Error("render: unknown page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, name, p); err != nil {
		u.log.Error("render page", "page", name, "err", err)
	}
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// fail renders an error page with status.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if status >= 500 {
		u.log.Error("web page", "path", r.URL.Path, "err", msg)
		msg = tr(lang(r), "internal_error")
	}
	u.render(w, r, "error.html", status, page{Error: msg, Title: http.StatusText(status)})
}

// notFound is what a scoped user gets for objects outside their scope.
func (u *UI) notFound(w http.ResponseWriter, r *http.Request) {
	u.fail(w, r, http.StatusNotFound, tr(lang(r), "not_found"))
}

func (u *UI) forbidden(w http.ResponseWriter, r *http.Request) {
	u.fail(w, r, http.StatusForbidden, tr(lang(r), "forbidden"))
}

// siteFor resolves a site for p; foreign sites are not found.
func (u *UI) siteFor(ctx context.Context, p *tenancy.Principal, name string) (tenancy.Site, bool) {
	s, err := u.dir.SiteByName(ctx, name)
	if err != nil || !p.CanReadSite(s.ID) {
		return tenancy.Site{}, false
	}
	return s, true
}

func isNotFound(err error) bool {
	return errors.Is(err, tenancy.ErrNotFound) || errors.Is(err, users.ErrNotFound)
}
