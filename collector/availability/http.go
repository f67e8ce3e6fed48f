package availability

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/tenancy"
)

// SiteDirectory resolves site names for scope checks; *tenancy.Directory
// implements it.
type SiteDirectory interface {
	SiteByName(ctx context.Context, name string) (tenancy.Site, error)
}

// HTTP serves the availability API. The principal comes from the request
// context (tenancy.FromContext), put there by the collector's
// authentication wrapper.
type HTTP struct {
	DB     *sql.DB
	Sites  SiteDirectory
	Engine *Engine // optional: current states
	// TZ is the zone calendar periods are cut in (default Europe/Berlin).
	TZ  *time.Location
	Now func() time.Time
}

// Routes mounts the handlers, each wrapped by wrap (authentication):
//
//	GET    /api/v1/availability      report (format=json|csv|md|html)
//	GET    /api/v1/outages           outages and unknown spans
//	GET    /api/v1/states            current state per object
//	GET    /api/v1/maintenance       maintenance windows
//	POST   /api/v1/maintenance       create one (JSON body)
//	DELETE /api/v1/maintenance/{id}  delete one
func (h *HTTP) Routes(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/availability", wrap(http.HandlerFunc(h.report)))
	mux.Handle("GET /api/v1/outages", wrap(http.HandlerFunc(h.outages)))
	mux.Handle("GET /api/v1/states", wrap(http.HandlerFunc(h.states)))
	mux.Handle("GET /api/v1/maintenance", wrap(http.HandlerFunc(h.listMaintenance)))
	mux.Handle("POST /api/v1/maintenance", wrap(http.HandlerFunc(h.addMaintenance)))
	mux.Handle("DELETE /api/v1/maintenance/{id}", wrap(http.HandlerFunc(h.deleteMaintenance)))
}

func (h *HTTP) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *HTTP) loc(r *http.Request) (*time.Location, error) {
	if tz := r.URL.Query().Get("tz"); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("tz %q: %w", tz, err)
		}
		return l, nil
	}
	if h.TZ != nil {
		return h.TZ, nil
	}
	return time.LoadLocation("Europe/Berlin")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// scope returns the site IDs the principal may read (nil: all).
func scope(w http.ResponseWriter, r *http.Request) (*tenancy.Principal, []int64, bool) {
	p := tenancy.FromContext(r.Context())
	if p == nil {
		httpError(w, http.StatusUnauthorized, "authentication required")
		return nil, nil, false
	}
	if p.AllSites {
		return p, nil, true
	}
	return p, append([]int64{}, p.SiteIDs...), true
}

// WindowFromQuery reads period=… or from=…&to=… .
func WindowFromQuery(get func(string) string, loc *time.Location, now time.Time) (Window, error) {
	if p := get("period"); p != "" {
		if get("from") != "" || get("to") != "" {
			return Window{}, errors.New("give either period or from/to, not both")
		}
		return ParsePeriod(p, loc, now)
	}
	f, t := get("from"), get("to")
	if f == "" && t == "" {
		return ParsePeriod("rolling-30d", loc, now)
	}
	if f == "" || t == "" {
		return Window{}, errors.New("give both from and to (or a period such as 2026-10)")
	}
	from, err := ParseTime(f, loc)
	if err != nil {
		return Window{}, fmt.Errorf("from: %w", err)
	}
	to, err := ParseTime(t, loc)
	if err != nil {
		return Window{}, fmt.Errorf("to: %w", err)
	}
	if !to.After(from) {
		return Window{}, fmt.Errorf("to (%s) must be after from (%s)", t, f)
	}
	return Window{Label: f + " – " + t, From: from, To: to}, nil
}

func (h *HTTP) report(w http.ResponseWriter, r *http.Request) {
	_, sites, ok := scope(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	loc, err := h.loc(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	win, err := WindowFromQuery(q.Get, loc, h.now())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	rule, err := ParseGroupRule(q.Get("rule"))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	switch format {
	case "json", "csv", "md", "html":
	default:
		httpError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json, csv, md or html", format))
		return
	}
	gb := q.Get("group_by")
	if gb != "" && gb != "object" && gb != "site" && gb != "municipality" {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("group_by %q: want object, site or municipality", gb))
		return
	}
	rep, err := BuildReport(r.Context(), h.DB, Query{Municipality: q.Get("municipality"), Site: q.Get("site"), Class: q.Get("class"),
		Device: q.Get("device"), Check: q.Get("check"), SiteIDs: sites, Window: win, GroupBy: gb, Rule: rule, Now: h.now()})
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ct := map[string]string{"json": "application/json", "csv": "text/csv", "md": "text/markdown", "html": "text/html"}[format]
	w.Header().Set("Content-Type", ct+"; charset=utf-8")
	_ = rep.Write(w, format)
}

func (h *HTTP) outages(w http.ResponseWriter, r *http.Request) {
	_, sites, ok := scope(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := OutageFilter{Municipality: q.Get("municipality"), Site: q.Get("site"), Class: q.Get("class"), Device: q.Get("device"), Check: q.Get("check"),
		SiteIDs: sites, State: q.Get("state"), Cause: q.Get("cause")}
	if q.Get("from") != "" || q.Get("to") != "" || q.Get("period") != "" {
		loc, err := h.loc(r)
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		win, err := WindowFromQuery(q.Get, loc, h.now())
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		f.From, f.To = win.From, win.To
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			httpError(w, http.StatusBadRequest, "limit must be a positive number")
			return
		}
		f.Limit = n
	}
	list, err := ListOutages(r.Context(), h.DB, f, h.now())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if list == nil {
		list = []Outage{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *HTTP) states(w http.ResponseWriter, r *http.Request) {
	p, _, ok := scope(w, r)
	if !ok {
		return
	}
	if h.Engine == nil {
		httpError(w, http.StatusServiceUnavailable, "the availability engine does not run in this collector")
		return
	}
	site := r.URL.Query().Get("site")
	list := h.Engine.States(func(o *Object) bool {
		return p.CanReadSite(o.SiteID) && (site == "" || o.Site == site)
	})
	writeJSON(w, http.StatusOK, list)
}

// canManage reports whether p may create or delete a window with scope s:
// operators anything, school admins windows of their own sites.
func (h *HTTP) canManage(ctx context.Context, p *tenancy.Principal, s Scope) (bool, error) {
	if p.IsOperator() {
		return true, nil
	}
	if s.Site == "" || h.Sites == nil {
		return false, nil
	}
	site, err := h.Sites.SiteByName(ctx, s.Site)
	if err != nil {
		if errors.Is(err, tenancy.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return p.CanManageSite(site.ID), nil
}

func (h *HTTP) canSee(ctx context.Context, p *tenancy.Principal, s Scope) bool {
	if p.AllSites {
		return true
	}
	if s.Site == "" || h.Sites == nil {
		return false
	}
	site, err := h.Sites.SiteByName(ctx, s.Site)
	return err == nil && p.CanReadSite(site.ID)
}

func (h *HTTP) listMaintenance(w http.ResponseWriter, r *http.Request) {
	p, _, ok := scope(w, r)
	if !ok {
		return
	}
	all, err := ListMaintenance(r.Context(), h.DB)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []Maintenance{}
	for _, m := range all {
		if h.canSee(r.Context(), p, m.Scope) {
			out = append(out, m)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// MaintenanceRequest is the body of POST /api/v1/maintenance.
type MaintenanceRequest struct {
	Scope    Scope  `json:"scope"`
	Start    string `json:"start"`    // RFC 3339 or local "2026-11-04T22:00"
	End      string `json:"end"`      // or duration
	Duration string `json:"duration"` // "2h"
	RRule    string `json:"rrule"`
	TZ       string `json:"tz"`
	Reason   string `json:"reason"`
}

// ToMaintenance validates the request.
func (req MaintenanceRequest) ToMaintenance(defLoc *time.Location) (Maintenance, error) {
	loc := defLoc
	if req.TZ != "" {
		l, err := time.LoadLocation(req.TZ)
		if err != nil {
			return Maintenance{}, fmt.Errorf("tz %q: %w", req.TZ, err)
		}
		loc = l
	}
	m := Maintenance{Scope: req.Scope, RRule: req.RRule, TZ: loc.String(), Reason: req.Reason}
	start, err := ParseTime(req.Start, loc)
	if err != nil {
		return m, fmt.Errorf("start: %w", err)
	}
	m.Start = start
	switch {
	case req.Duration != "" && req.End != "":
		return m, errors.New("give either end or duration, not both")
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil {
			return m, fmt.Errorf("duration %q: %w (e.g. 2h30m)", req.Duration, err)
		}
		m.Duration = d
	case req.End != "":
		end, err := ParseTime(req.End, loc)
		if err != nil {
			return m, fmt.Errorf("end: %w", err)
		}
		m.Duration = end.Sub(start)
	default:
		return m, errors.New("give end or duration")
	}
	return m, m.Validate()
}

func (h *HTTP) addMaintenance(w http.ResponseWriter, r *http.Request) {
	p, _, ok := scope(w, r)
	if !ok {
		return
	}
	var req MaintenanceRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "maintenance window: invalid JSON: "+err.Error())
		return
	}
	loc, _ := h.loc(r)
	m, err := req.ToMaintenance(loc)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	allowed, err := h.canManage(r.Context(), p, m.Scope)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !allowed {
		httpError(w, http.StatusForbidden, "you may only plan maintenance for your own sites (give scope.site)")
		return
	}
	m.CreatedBy = p.Name
	m.Created = h.now()
	m, err = AddMaintenance(r.Context(), h.DB, m)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

func (h *HTTP) deleteMaintenance(w http.ResponseWriter, r *http.Request) {
	p, _, ok := scope(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(strings.TrimSpace(r.PathValue("id")), 10, 64)
	if err != nil {
		httpError(w, http.StatusBadRequest, "maintenance id must be a number")
		return
	}
	all, err := ListMaintenance(r.Context(), h.DB)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, m := range all {
		if m.ID != id {
			continue
		}
		if !h.canSee(r.Context(), p, m.Scope) {
			break
		}
		allowed, err := h.canManage(r.Context(), p, m.Scope)
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if !allowed {
			httpError(w, http.StatusForbidden, "you may not delete this maintenance window")
			return
		}
		if err := DeleteMaintenance(r.Context(), h.DB, id); err != nil {
			httpError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	httpError(w, http.StatusNotFound, fmt.Sprintf("maintenance window %d does not exist", id))
}
