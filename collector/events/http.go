package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/schulmon/schulmon/collector/tenancy"
)

// Handler serves GET /api/v1/sites/{site}/events. {site} is the numeric
// site ID, or a name when SiteByName is set. Query parameters: device,
// kind (trap, reboot), from and to (RFC 3339 or Unix seconds; default the
// last 7 days), limit (default 500, max 5000). The caller must be allowed
// to read the site (tenancy principal in the request context).
type Handler struct {
	Store *Store
	// SiteByName resolves a site name to its ID (optional).
	SiteByName func(ctx context.Context, name string) (int64, error)
	Now        func() time.Time
}

// Pattern is the route to mount the handler on (Go 1.22 ServeMux syntax).
const Pattern = "GET /api/v1/sites/{site}/events"

type response struct {
	Site   int64     `json:"site"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Events []Event   `json:"events"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	p := tenancy.FromContext(r.Context())
	if p == nil {
		httpError(w, http.StatusUnauthorized, "not authenticated: send 'Authorization: Token <token>'")
		return
	}
	// Before the site lookup, so that the answer does not tell an agent
	// token which site names exist.
	if p.Role == tenancy.RoleAgent {
		httpError(w, http.StatusForbidden, "agent tokens cannot read events: use an operator, planner or school admin token")
		return
	}
	site := r.PathValue("site")
	siteID, err := strconv.ParseInt(site, 10, 64)
	if err != nil {
		if h.SiteByName == nil {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("site %q: use the numeric site ID", site))
			return
		}
		if siteID, err = h.SiteByName(r.Context(), site); err != nil {
			httpError(w, http.StatusNotFound, fmt.Sprintf("site %q not found", site))
			return
		}
	}
	if !p.CanReadSite(siteID) {
		// Same answer as for a site that does not exist: do not reveal others' sites.
		httpError(w, http.StatusNotFound, fmt.Sprintf("site %q not found", site))
		return
	}
	q := Query{SiteID: siteID, Device: r.URL.Query().Get("device"), Kind: r.URL.Query().Get("kind")}
	q.To = now()
	q.From = q.To.Add(-7 * 24 * time.Hour)
	for _, tp := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := r.URL.Query().Get(tp.name); s != "" {
			t, err := parseTime(s)
			if err != nil {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("%s=%q: use RFC 3339 (2026-01-31T08:00:00Z) or Unix seconds", tp.name, s))
				return
			}
			*tp.dst = t
		}
	}
	if !q.From.Before(q.To) {
		httpError(w, http.StatusBadRequest, "from must be before to")
		return
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: use a positive number (at most 5000)", s))
			return
		}
		q.Limit = n
	}
	evs, err := h.Store.List(r.Context(), q)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "listing events failed")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(response{Site: siteID, From: q.From.UTC(), To: q.To.UTC(), Events: evs})
}

func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Routes mounts the handler on mux behind wrap (the collector's
// authentication, which puts the principal in the request context).
func (h *Handler) Routes(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle(Pattern, wrap(h))
}
