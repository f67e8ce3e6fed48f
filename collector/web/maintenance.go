package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/tenancy"
)

type mwRow struct {
	availability.Maintenance
	CanEdit bool
	End     time.Time
}

type mwForm struct {
	ID                                int64
	Municipality, Site, Class, Device string
	Start, Duration, Repeat, Until    string
	RRule, Reason                     string
}

type maintenanceData struct {
	Windows        []mwRow
	Form           mwForm
	CanCreate      bool
	Operator       bool
	Sites          []string // the sites the user may plan for
	Municipalities []string
	Classes        []string
}

func (u *UI) canSeeScope(ctx context.Context, p *tenancy.Principal, s availability.Scope) bool {
	if p.AllSites {
		return true
	}
	if s.Site == "" {
		return false
	}
	_, ok := u.siteFor(ctx, p, s.Site)
	return ok
}

func (u *UI) canManageScope(ctx context.Context, p *tenancy.Principal, s availability.Scope) bool {
	if p.IsOperator() {
		return true
	}
	if s.Site == "" {
		return false
	}
	site, err := u.dir.SiteByName(ctx, s.Site)
	return err == nil && p.CanManageSite(site.ID)
}

func (u *UI) maintenanceData(r *http.Request, form mwForm) (*maintenanceData, error) {
	p := sessionFrom(r).User.Principal()
	ctx := r.Context()
	d := &maintenanceData{Form: form, Operator: p.IsOperator(), Classes: tenancy.Classes}
	sites, err := u.dir.Sites(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, s := range sites {
		if p.CanManageSite(s.ID) {
			d.Sites = append(d.Sites, s.Name)
		}
		if n := len(d.Municipalities); n == 0 || d.Municipalities[n-1] != s.Municipality {
			d.Municipalities = append(d.Municipalities, s.Municipality)
		}
	}
	d.CanCreate = len(d.Sites) > 0
	if u.deps.DB == nil {
		return d, nil
	}
	all, err := availability.ListMaintenance(ctx, u.deps.DB)
	if err != nil {
		return nil, err
	}
	for _, m := range all {
		if u.canSeeScope(ctx, p, m.Scope) {
			d.Windows = append(d.Windows, mwRow{Maintenance: m, CanEdit: u.canManageScope(ctx, p, m.Scope), End: m.Start.Add(m.Duration)})
		}
	}
	return d, nil
}

func (u *UI) maintenanceList(w http.ResponseWriter, r *http.Request) {
	f := mwForm{Site: r.URL.Query().Get("site"), Duration: "2h", Repeat: "none",
		Start: u.now().In(u.deps.TZ).Add(time.Hour).Truncate(time.Hour).Format("2006-01-02T15:04")}
	d, err := u.maintenanceData(r, f)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	u.render(w, r, "maintenance.html", http.StatusOK, page{Nav: "maintenance", Title: tr(lang(r), "maintenance"), Data: d})
}

func (u *UI) findWindow(r *http.Request) (*availability.Maintenance, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || u.deps.DB == nil {
		return nil, false
	}
	all, err := availability.ListMaintenance(r.Context(), u.deps.DB)
	if err != nil {
		return nil, false
	}
	p := sessionFrom(r).User.Principal()
	for _, m := range all {
		if m.ID == id && u.canSeeScope(r.Context(), p, m.Scope) {
			return &m, true
		}
	}
	return nil, false
}

// formFromWindow fills the form from a stored window (recurrence shown as
// its RRULE when it is not one of the simple choices).
func (u *UI) formFromWindow(m *availability.Maintenance) mwForm {
	loc := u.deps.TZ
	if m.TZ != "" {
		if l, err := time.LoadLocation(m.TZ); err == nil {
			loc = l
		}
	}
	f := mwForm{ID: m.ID, Municipality: m.Scope.Municipality, Site: m.Scope.Site, Class: m.Scope.Class, Device: m.Scope.Device,
		Start: m.Start.In(loc).Format("2006-01-02T15:04"), Duration: m.Duration.String(), Reason: m.Reason, Repeat: "none"}
	switch rr := strings.ToUpper(m.RRule); {
	case rr == "":
	case rr == "FREQ=DAILY" || rr == "FREQ=WEEKLY" || rr == "FREQ=MONTHLY":
		f.Repeat = strings.ToLower(strings.TrimPrefix(rr, "FREQ="))
	default:
		f.Repeat, f.RRule = "custom", m.RRule
	}
	return f
}

func (u *UI) maintenanceEdit(w http.ResponseWriter, r *http.Request) {
	m, ok := u.findWindow(r)
	if !ok {
		u.notFound(w, r)
		return
	}
	if !u.canManageScope(r.Context(), sessionFrom(r).User.Principal(), m.Scope) {
		u.forbidden(w, r)
		return
	}
	d, err := u.maintenanceData(r, u.formFromWindow(m))
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	u.render(w, r, "maintenance.html", http.StatusOK, page{Nav: "maintenance", Title: tr(lang(r), "maintenance"), Data: d})
}

// toRequest turns the form into the availability package's request.
func (f mwForm) toRequest(tz *time.Location) (availability.Maintenance, error) {
	req := availability.MaintenanceRequest{Scope: availability.Scope{Municipality: f.Municipality, Site: f.Site, Class: f.Class, Device: f.Device},
		Start: f.Start, Duration: f.Duration, Reason: f.Reason, TZ: tz.String()}
	switch f.Repeat {
	case "", "none":
	case "daily", "weekly", "monthly":
		req.RRule = "FREQ=" + strings.ToUpper(f.Repeat)
	case "custom":
		req.RRule = strings.TrimSpace(f.RRule)
		if req.RRule == "" {
			return availability.Maintenance{}, fmt.Errorf("give a recurrence rule (RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=WE) or choose another repetition")
		}
	default:
		return availability.Maintenance{}, fmt.Errorf("repeat %q: choose none, daily, weekly, monthly or custom", f.Repeat)
	}
	if f.Until != "" && req.RRule != "" && !strings.Contains(strings.ToUpper(req.RRule), "UNTIL=") {
		until, err := time.ParseInLocation("2006-01-02", f.Until, tz)
		if err != nil {
			return availability.Maintenance{}, fmt.Errorf("until %q: give a date such as 2027-07-31", f.Until)
		}
		req.RRule += ";UNTIL=" + until.AddDate(0, 0, 1).UTC().Format("20060102T150405Z")
	}
	return req.ToMaintenance(tz)
}

func (u *UI) maintenanceSave(w http.ResponseWriter, r *http.Request) {
	p := sessionFrom(r).User.Principal()
	ctx := r.Context()
	f := mwForm{Municipality: r.PostFormValue("municipality"), Site: r.PostFormValue("site"), Class: r.PostFormValue("class"),
		Device: strings.TrimSpace(r.PostFormValue("device")), Start: r.PostFormValue("start"), Duration: strings.TrimSpace(r.PostFormValue("duration")),
		Repeat: r.PostFormValue("repeat"), Until: r.PostFormValue("until"), RRule: r.PostFormValue("rrule"), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	if !p.IsOperator() {
		f.Municipality = "" // school admins plan per site
	}
	var old *availability.Maintenance
	if r.PathValue("id") != "" {
		var ok bool
		if old, ok = u.findWindow(r); !ok {
			u.notFound(w, r)
			return
		}
		if !u.canManageScope(ctx, p, old.Scope) {
			u.forbidden(w, r)
			return
		}
		f.ID = old.ID
	}
	fail := func(status int, msg string) {
		d, err := u.maintenanceData(r, f)
		if err != nil {
			u.fail(w, r, http.StatusInternalServerError, err.Error())
			return
		}
		u.render(w, r, "maintenance.html", status, page{Nav: "maintenance", Title: tr(lang(r), "maintenance"), Error: msg, Data: d})
	}
	if f.Site != "" {
		if _, ok := u.siteFor(ctx, p, f.Site); !ok {
			fail(http.StatusNotFound, tr(lang(r), "not_found"))
			return
		}
	}
	m, err := f.toRequest(u.deps.TZ)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	if !u.canManageScope(ctx, p, m.Scope) {
		fail(http.StatusForbidden, tr(lang(r), "maintenance_own_sites"))
		return
	}
	m.CreatedBy, m.Created = p.Name, u.now()
	if old != nil {
		m.CreatedBy = old.CreatedBy + ", " + p.Name
		if old.CreatedBy == p.Name {
			m.CreatedBy = p.Name
		}
		if err := availability.DeleteMaintenance(ctx, u.deps.DB, old.ID); err != nil {
			fail(http.StatusNotFound, err.Error())
			return
		}
	}
	if _, err := availability.AddMaintenance(ctx, u.deps.DB, m); err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	u.log.Info("maintenance window saved", "user", p.Name, "scope", m.Scope.String(), "start", m.Start, "duration", m.Duration, "rrule", m.RRule)
	http.Redirect(w, r, "/maintenance", http.StatusSeeOther)
}

func (u *UI) maintenanceDelete(w http.ResponseWriter, r *http.Request) {
	p := sessionFrom(r).User.Principal()
	m, ok := u.findWindow(r)
	if !ok {
		u.notFound(w, r)
		return
	}
	if !u.canManageScope(r.Context(), p, m.Scope) {
		u.forbidden(w, r)
		return
	}
	if err := availability.DeleteMaintenance(r.Context(), u.deps.DB, m.ID); err != nil {
		u.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	u.log.Info("maintenance window deleted", "user", p.Name, "id", m.ID)
	http.Redirect(w, r, "/maintenance", http.StatusSeeOther)
}
