// Package api is the collector's read API (/api/v1/…): sites, devices and
// series, each scoped to what the request's principal may see; operators
// also set devices' parents here.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// Directory is what the API reads from tenancy.
type Directory interface {
	Sites(ctx context.Context, p *tenancy.Principal) ([]tenancy.Site, error)
	SiteByName(ctx context.Context, name string) (tenancy.Site, error)
	Devices(ctx context.Context, siteID int64) ([]tenancy.Device, error)
	DeviceByName(ctx context.Context, siteID int64, name string) (tenancy.Device, error)
}

// StatusFunc tells a device's state ("up", "down", "unknown", …). The
// availability engine provides it; without one, Handler falls back to
// last-seen age.
type StatusFunc func(d tenancy.Device) string

// Handler serves the read API.
type Handler struct {
	Dir    Directory
	Store  store.Reader
	Status StatusFunc
	Now    func() time.Time
	// ParentsChanged, if set, applies a changed parent at once (the
	// availability engine); without it the collector's minutely job does.
	ParentsChanged func(ctx context.Context) error
}

// Routes registers the API on mux. Every route expects a principal in the
// request context (see server.Authenticate).
func (h *Handler) Routes(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/sites", wrap(http.HandlerFunc(h.sites)))
	mux.Handle("GET /api/v1/sites/{site}/devices", wrap(http.HandlerFunc(h.devices)))
	mux.Handle("GET /api/v1/series", wrap(http.HandlerFunc(h.series)))
	mux.Handle("PUT /api/v1/sites/{site}/devices/{device}/parent", wrap(http.HandlerFunc(h.setParent)))
	mux.Handle("DELETE /api/v1/sites/{site}/devices/{device}/parent", wrap(http.HandlerFunc(h.setParent)))
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error writes {"error": msg} with status.
func Error(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// SiteFor resolves a site name for p. A site p may not see is reported as
// not found, so that other schools' names do not leak.
func SiteFor(ctx context.Context, dir Directory, p *tenancy.Principal, name string) (tenancy.Site, error) {
	s, err := dir.SiteByName(ctx, name)
	if err != nil || !p.CanReadSite(s.ID) {
		return tenancy.Site{}, fmt.Errorf("site %q: %w", name, tenancy.ErrNotFound)
	}
	return s, nil
}

// DeviceStatus is a device as the API shows it.
type DeviceStatus struct {
	tenancy.Device
	Status string `json:"status"`
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// StatusOf returns the device's state, from the engine when there is one.
func (h *Handler) StatusOf(d tenancy.Device) string {
	if h.Status != nil {
		return h.Status(d)
	}
	// Three missed 10-second intervals, never sooner than 30 s.
	if h.now().Sub(d.LastSeen) <= 30*time.Second {
		return "up"
	}
	return "down"
}

type siteSummary struct {
	tenancy.Site
	Devices int            `json:"devices"`
	ByState map[string]int `json:"by_state"`
}

func (h *Handler) sites(w http.ResponseWriter, r *http.Request) {
	p := tenancy.FromContext(r.Context())
	sites, err := h.Dir.Sites(r.Context(), p)
	if err != nil {
		Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]siteSummary, 0, len(sites))
	for _, s := range sites {
		devs, err := h.Dir.Devices(r.Context(), s.ID)
		if err != nil {
			Error(w, http.StatusInternalServerError, err.Error())
			return
		}
		sum := siteSummary{Site: s, Devices: len(devs), ByState: map[string]int{}}
		for _, d := range devs {
			sum.ByState[h.StatusOf(d)]++
		}
		out = append(out, sum)
	}
	WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) devices(w http.ResponseWriter, r *http.Request) {
	p := tenancy.FromContext(r.Context())
	s, err := SiteFor(r.Context(), h.Dir, p, r.PathValue("site"))
	if err != nil {
		Error(w, http.StatusNotFound, err.Error())
		return
	}
	devs, err := h.Dir.Devices(r.Context(), s.ID)
	if err != nil {
		Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]DeviceStatus, len(devs))
	for i, d := range devs {
		out[i] = DeviceStatus{Device: d, Status: h.StatusOf(d)}
	}
	WriteJSON(w, http.StatusOK, out)
}

// ParseTime accepts RFC 3339, Unix seconds, or a duration before now ("-1h").
func ParseTime(s string, now time.Time, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use RFC 3339, Unix seconds or a duration such as -1h", s)
}

func (h *Handler) series(w http.ResponseWriter, r *http.Request) {
	p := tenancy.FromContext(r.Context())
	q := r.URL.Query()
	siteName := q.Get("site")
	if siteName == "" && p.WriteSite != nil {
		siteName = p.WriteSite.Name
	}
	if siteName == "" {
		Error(w, http.StatusBadRequest, "missing parameter site")
		return
	}
	s, err := SiteFor(r.Context(), h.Dir, p, siteName)
	if err != nil {
		Error(w, http.StatusNotFound, err.Error())
		return
	}
	for _, k := range []string{"device", "measurement", "field"} {
		if q.Get(k) == "" {
			Error(w, http.StatusBadRequest, "missing parameter "+k)
			return
		}
	}
	dev, err := h.Dir.DeviceByName(r.Context(), s.ID, q.Get("device"))
	if err != nil {
		Error(w, http.StatusNotFound, err.Error())
		return
	}
	now := h.now()
	from, err := ParseTime(q.Get("from"), now, now.Add(-time.Hour))
	if err != nil {
		Error(w, http.StatusBadRequest, err.Error())
		return
	}
	to, err := ParseTime(q.Get("to"), now, now.Add(time.Minute))
	if err != nil {
		Error(w, http.StatusBadRequest, err.Error())
		return
	}
	var step time.Duration
	if v := q.Get("step"); v != "" {
		if step, err = time.ParseDuration(v); err != nil || step < 0 {
			Error(w, http.StatusBadRequest, fmt.Sprintf("invalid step %q: use a duration such as 1m", v))
			return
		}
	}
	series, err := h.Store.Query(r.Context(), store.Query{SiteID: s.ID, Site: s.Name, DeviceID: dev.ID, Device: dev.Name,
		Measurement: q.Get("measurement"), Field: q.Get("field"), From: from, To: to, Step: step})
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, context.Canceled) {
			status = http.StatusServiceUnavailable
		}
		Error(w, status, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, series)
}
