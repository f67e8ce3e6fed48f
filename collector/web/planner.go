package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// addRow is one "add devices" line of the scenario form.
type addRow struct {
	Site, Class string
	Count       string
}

type plannerData struct {
	Report       *staffing.Report
	Municipality string
	// Scenario form values, echoed back.
	Name, Ratio, AnnualCost       string
	VAT                           bool
	Adds                          []addRow
	NewName, NewMun, NewType      string
	NewEndpoints                  string
	HasScenario                   bool
	Municipalities, Sites         []string
	Classes, SchoolTypes          []string
	Query                         template.URL
	Error                         string
	MethodNames                   []string
	TotalFigures, BaselineFigures map[string]staffing.Figure
	DeltaFigures                  map[string]staffing.Figure
}

const scenarioRows = 3

// scenarioFromForm builds a scenario from the planner form; nil when the
// form asks for none.
func scenarioFromForm(q url.Values, d *plannerData) (*staffing.Scenario, error) {
	sc := &staffing.Scenario{Name: strings.TrimSpace(q.Get("name"))}
	if sc.Name == "" {
		sc.Name = "Szenario"
	}
	d.Name, d.Ratio, d.AnnualCost, d.VAT = q.Get("name"), strings.TrimSpace(q.Get("ratio")), strings.TrimSpace(q.Get("annual_cost")), q.Get("vat") == "1"
	changed := false
	if d.Ratio != "" {
		f, err := strconv.ParseFloat(strings.ReplaceAll(d.Ratio, ",", "."), 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("ratio %q: give devices per FTE as a positive number, e.g. 350", d.Ratio)
		}
		sc.Ratio, changed = &f, true
	}
	params := map[string]any{}
	if d.VAT {
		params["vat"] = true
	}
	if d.AnnualCost != "" {
		f, err := strconv.ParseFloat(strings.ReplaceAll(d.AnnualCost, ",", "."), 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("annual cost %q: give EUR per FTE and year as a positive number, e.g. 95000", d.AnnualCost)
		}
		params["annual_cost_per_fte_eur"] = f
	}
	if len(params) > 0 {
		b, _ := json.Marshal(params)
		sc.Params, changed = b, true
	}
	for i := range scenarioRows {
		row := addRow{Site: q.Get(fmt.Sprintf("add_site_%d", i)), Class: q.Get(fmt.Sprintf("add_class_%d", i)), Count: strings.TrimSpace(q.Get(fmt.Sprintf("add_count_%d", i)))}
		d.Adds = append(d.Adds, row)
		if row.Site == "" || row.Count == "" {
			continue
		}
		n, err := strconv.Atoi(row.Count)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("row %d: count %q: give a whole number of devices (negative removes)", i+1, row.Count)
		}
		if row.Class == "" {
			row.Class = "endpoint"
		}
		sc.Changes = append(sc.Changes, staffing.Change{AddDevices: &staffing.AddDevices{SiteRef: staffing.SiteRef{Site: row.Site}, Class: row.Class, Count: n}})
		changed = true
	}
	d.NewName, d.NewMun, d.NewType, d.NewEndpoints = strings.TrimSpace(q.Get("new_name")), strings.TrimSpace(q.Get("new_municipality")), q.Get("new_type"), strings.TrimSpace(q.Get("new_endpoints"))
	if d.NewName != "" {
		ns := &staffing.NewSite{Name: d.NewName, Municipality: d.NewMun, SchoolType: d.NewType}
		if d.NewEndpoints != "" {
			n, err := strconv.Atoi(d.NewEndpoints)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("new site: endpoints %q: give a whole number", d.NewEndpoints)
			}
			ns.Devices = map[string]int{"endpoint": n}
		}
		sc.Changes = append(sc.Changes, staffing.Change{NewSite: ns})
		changed = true
	}
	if !changed {
		return nil, nil
	}
	return sc, nil
}

func (u *UI) buildPlanner(r *http.Request) (*plannerData, error) {
	p := sessionFrom(r).User.Principal()
	q := r.URL.Query()
	d := &plannerData{Municipality: q.Get("municipality"), Classes: tenancy.Classes}
	for _, t := range staffing.SchoolTypes() {
		if t != staffing.TypeUnknown {
			d.SchoolTypes = append(d.SchoolTypes, t.String())
		}
	}
	sites, err := u.dir.Sites(r.Context(), p)
	if err != nil {
		return nil, err
	}
	for _, s := range sites {
		d.Sites = append(d.Sites, s.Name)
		if n := len(d.Municipalities); n == 0 || d.Municipalities[n-1] != s.Municipality {
			d.Municipalities = append(d.Municipalities, s.Municipality)
		}
	}
	d.Query = template.URL(q.Encode()) // already escaped
	u.mu.Lock()
	h := u.staffing
	u.mu.Unlock()
	if h == nil {
		d.Error = "staffing is not available"
		return d, nil
	}
	sc, err := scenarioFromForm(q, d)
	if err != nil {
		d.Error = err.Error()
		sc = nil
	}
	d.HasScenario = sc != nil
	var ids map[int64]bool
	if !p.AllSites {
		ids = map[int64]bool{}
		for _, id := range p.SiteIDs {
			ids[id] = true
		}
	}
	opt := staffing.Options{Municipality: d.Municipality, SiteIDs: ids, Incidents: h.Incidents, Now: u.now()}
	d.Report, err = h.Compute(r.Context(), sc, opt)
	if err != nil {
		var pe *staffing.ParamError
		if errors.As(err, &pe) || sc != nil {
			d.Error = err.Error()
			d.HasScenario = false
			d.Report, err = h.Compute(r.Context(), nil, opt)
		}
		if err != nil {
			// A municipality that matches none of the user's sites is a
			// parameter error as well (shown, HTTP 400), not a server error.
			if errors.Is(err, staffing.ErrNoTenancy) || errors.As(err, &pe) {
				d.Error = err.Error()
				return d, nil
			}
			return nil, err
		}
	}
	d.TotalFigures = map[string]staffing.Figure{}
	for _, f := range d.Report.Total.Figures {
		d.TotalFigures[f.Method] = f
	}
	for _, m := range d.Report.Methods {
		d.MethodNames = append(d.MethodNames, m.Name)
	}
	if s := d.Report.Scenario; s != nil {
		d.BaselineFigures, d.DeltaFigures = map[string]staffing.Figure{}, map[string]staffing.Figure{}
		for _, f := range s.Baseline.Figures {
			d.BaselineFigures[f.Method] = f
		}
		for _, f := range s.Delta {
			d.DeltaFigures[f.Method] = f
		}
	}
	return d, nil
}

func (u *UI) planner(w http.ResponseWriter, r *http.Request) {
	d, err := u.buildPlanner(r)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	status := http.StatusOK
	if d.Error != "" && d.Report == nil {
		status = http.StatusBadRequest
	}
	u.render(w, r, "planner.html", status, page{Nav: "planner", Title: tr(lang(r), "planner"), Data: d})
}

func (u *UI) plannerCSV(w http.ResponseWriter, r *http.Request) {
	d, err := u.buildPlanner(r)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if d.Report == nil {
		u.fail(w, r, http.StatusBadRequest, d.Error)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="staffing.csv"`)
	if err := d.Report.Write(w, "csv"); err != nil {
		u.log.Error("staffing CSV", "err", err)
	}
}
