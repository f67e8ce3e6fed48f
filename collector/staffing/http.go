package staffing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/tenancy"
)

// Handler serves the staffing report over HTTP:
//
//	GET  /api/v1/staffing?municipality=&method=&format=json|csv|md|html
//	POST /api/v1/staffing/scenario?municipality=&method=&format=  (body: a JSON scenario)
//	GET  /staffing   (the planner's page: the HTML report)
//
// Operators and planners see every site; a school_admin only their own
// sites; agent tokens are refused.
type Handler struct {
	Store *Store
	// Params are the base parameters (nil: DefaultParams).
	Params *Params
	// Incidents feeds the workload method (nil: the method says so).
	Incidents IncidentCounter
	// Load chooses what the inventory counts.
	Load LoadOptions
	Log  *slog.Logger
	Now  func() time.Time
}

// Routes registers the handlers on mux behind wrap (the collector's
// authentication, which puts the principal in the request context).
func (h *Handler) Routes(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/staffing", wrap(http.HandlerFunc(h.report)))
	mux.Handle("POST /api/v1/staffing/scenario", wrap(http.HandlerFunc(h.scenario)))
	mux.Handle("GET /staffing", wrap(http.HandlerFunc(h.page)))
}

const maxScenarioBytes = 1 << 20

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// scope returns the sites the principal may see (nil: all), or writes the
// refusal.
func scope(w http.ResponseWriter, r *http.Request) (map[int64]bool, bool) {
	p := tenancy.FromContext(r.Context())
	if p == nil {
		httpError(w, http.StatusUnauthorized, "not authenticated: send 'Authorization: Token <token>'")
		return nil, false
	}
	switch {
	case p.Role == tenancy.RoleAgent:
		httpError(w, http.StatusForbidden, "agent tokens cannot read reports: use an operator or planner token")
		return nil, false
	case p.AllSites:
		return nil, true
	}
	ids := make(map[int64]bool, len(p.SiteIDs))
	for _, id := range p.SiteIDs {
		ids[id] = true
	}
	return ids, true
}

func (h *Handler) params() *Params {
	if h.Params != nil {
		return h.Params
	}
	return DefaultParams()
}

func (h *Handler) options(r *http.Request, sites map[int64]bool) Options {
	q := r.URL.Query()
	o := Options{Method: q.Get("method"), Municipality: q.Get("municipality"), SiteIDs: sites, Incidents: h.Incidents}
	if h.Now != nil {
		o.Now = h.Now()
	}
	return o
}

func (h *Handler) report(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, nil, r.URL.Query().Get("format"))
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, nil, "html")
}

func (h *Handler) scenario(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxScenarioBytes+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read scenario: "+err.Error())
		return
	}
	if len(body) > maxScenarioBytes {
		httpError(w, http.StatusRequestEntityTooLarge, "scenario larger than 1 MiB")
		return
	}
	sc, err := ParseScenario(body, true)
	if err != nil {
		httpError(w, http.StatusBadRequest, "scenario: "+err.Error())
		return
	}
	h.serve(w, r, sc, r.URL.Query().Get("format"))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, sc *Scenario, format string) {
	sites, ok := scope(w, r)
	if !ok {
		return
	}
	if format == "" {
		format = "json"
	}
	ctype, known := contentTypes[strings.ToLower(format)]
	if !known {
		httpError(w, http.StatusBadRequest, "unknown format "+format+": use json, csv, md or html")
		return
	}
	rep, err := h.Compute(r.Context(), sc, h.options(r, sites))
	if err != nil {
		status := http.StatusInternalServerError
		var pe *ParamError
		switch {
		case errors.As(err, &pe):
			status = http.StatusBadRequest
		case errors.Is(err, ErrNoTenancy):
			status = http.StatusServiceUnavailable
		default:
			h.log().Error("staffing report", "err", err)
		}
		httpError(w, status, err.Error())
		return
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, format); err != nil {
		h.log().Error("staffing report", "err", err)
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(buf.Bytes())
}

var contentTypes = map[string]string{
	"json": "application/json; charset=utf-8",
	"csv":  "text/csv; charset=utf-8",
	"md":   "text/markdown; charset=utf-8",
	"html": "text/html; charset=utf-8",
}

// Compute loads the inventory and computes the report (or, with sc, the
// scenario against the baseline). The CLI and the HTTP handlers share it.
func (h *Handler) Compute(ctx context.Context, sc *Scenario, opt Options) (*Report, error) {
	inv, err := h.Store.LoadInventory(ctx, h.Load)
	if err != nil {
		return nil, err
	}
	counts := inv.Count()
	if opt.SiteIDs != nil {
		// A scoped principal's scenario can only name its own sites: other
		// schools are "not found", not merely hidden from the output.
		inv, counts = inv.subset(counts, opt.SiteIDs)
	}
	if sc != nil {
		return ComputeScenario(ctx, inv, counts, h.params(), sc, opt)
	}
	return Compute(ctx, inv, counts, h.params(), opt)
}
