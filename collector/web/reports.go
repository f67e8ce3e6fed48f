package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/tenancy"
)

type option struct{ Value, Label string }

type reportData struct {
	Report                            *availability.Report
	Municipality, Site, Class, Period string
	Rule, GroupBy                     string
	Municipalities, Sites             []string
	Classes                           []string
	Periods                           []option
	Query                             template.URL
	Error                             string
}

func periodOptions(now time.Time, loc *time.Location) []option {
	n := now.In(loc)
	prev := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, loc).AddDate(0, -1, 0)
	q := (int(n.Month())-1)/3 + 1
	pq, py := q-1, n.Year()
	if pq == 0 {
		pq, py = 4, py-1
	}
	return []option{
		{n.Format("2006-01"), n.Format("2006-01")},
		{prev.Format("2006-01"), prev.Format("2006-01")},
		{fmt.Sprintf("%d-Q%d", n.Year(), q), fmt.Sprintf("%d-Q%d", n.Year(), q)},
		{fmt.Sprintf("%d-Q%d", py, pq), fmt.Sprintf("%d-Q%d", py, pq)},
		{fmt.Sprint(n.Year()), fmt.Sprint(n.Year())},
		{fmt.Sprint(n.Year() - 1), fmt.Sprint(n.Year() - 1)},
		{"rolling-30d", "rolling-30d"},
	}
}

// scopeIDs are the site ids a report may cover (nil: all).
func scopeIDs(p *tenancy.Principal) []int64 {
	if p.AllSites {
		return nil
	}
	return append([]int64{0}, p.SiteIDs...) // never empty: 0 matches nothing
}

func (u *UI) buildAvailability(r *http.Request) (*reportData, error) {
	p := sessionFrom(r).User.Principal()
	q := r.URL.Query()
	now := u.now()
	d := &reportData{Municipality: q.Get("municipality"), Site: q.Get("site"), Class: q.Get("class"), Period: q.Get("period"),
		Rule: q.Get("rule"), GroupBy: q.Get("group_by"), Classes: tenancy.Classes, Periods: periodOptions(now, u.deps.TZ)}
	if d.Period == "" {
		d.Period = d.Periods[0].Value
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
	v := url.Values{}
	for k, val := range map[string]string{"municipality": d.Municipality, "site": d.Site, "class": d.Class, "period": d.Period, "rule": d.Rule, "group_by": d.GroupBy} {
		if val != "" {
			v.Set(k, val)
		}
	}
	d.Query = template.URL(v.Encode()) // already escaped
	if d.Site != "" {
		if _, ok := u.siteFor(r.Context(), p, d.Site); !ok {
			return d, errNotInScope
		}
	}
	win, err := availability.ParsePeriod(d.Period, u.deps.TZ, now)
	if err != nil {
		d.Error = err.Error()
		return d, nil
	}
	rule, err := availability.ParseGroupRule(d.Rule)
	if err != nil {
		d.Error = err.Error()
		return d, nil
	}
	if d.GroupBy != "" && d.GroupBy != "object" && d.GroupBy != "site" && d.GroupBy != "municipality" {
		d.GroupBy = ""
	}
	if u.deps.DB == nil {
		d.Error = "no database"
		return d, nil
	}
	d.Report, err = availability.BuildReport(r.Context(), u.deps.DB, availability.Query{Municipality: d.Municipality, Site: d.Site, Class: d.Class,
		SiteIDs: scopeIDs(p), Window: win, GroupBy: d.GroupBy, Rule: rule, Now: now})
	return d, err
}

var errNotInScope = fmt.Errorf("not in scope: %w", tenancy.ErrNotFound)

func (u *UI) availabilityReport(w http.ResponseWriter, r *http.Request) {
	d, err := u.buildAvailability(r)
	if err == errNotInScope {
		u.notFound(w, r)
		return
	}
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	u.render(w, r, "report.html", http.StatusOK, page{Nav: "reports", Title: tr(lang(r), "availability_report"), Data: d})
}

func (u *UI) availabilityCSV(w http.ResponseWriter, r *http.Request) {
	d, err := u.buildAvailability(r)
	if err == errNotInScope {
		u.notFound(w, r)
		return
	}
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if d.Report == nil {
		u.fail(w, r, http.StatusBadRequest, d.Error)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"availability-%s.csv\"", sanitizeFile(d.Period)))
	if err := d.Report.Write(w, "csv"); err != nil {
		u.log.Error("availability CSV", "err", err)
	}
}

func sanitizeFile(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
