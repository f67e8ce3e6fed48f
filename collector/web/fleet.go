package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/tenancy"
)

type classCount struct {
	Class                    string
	Total, Up, Down, Unknown int
}

type fleetSite struct {
	tenancy.Site
	Total, Up, Down, Unknown, Maintenance int
	Classes                               []classCount
	Availability                          *json.Number
	Target                                json.Number
	Met                                   *bool
	BudgetLeftMin, BudgetAllowedMin       json.Number
	BudgetLeftPct                         int // 0–100 for the bar; -1 unknown
	OpenOutages                           int
}

type fleetMun struct {
	Name                                  string
	Sites                                 []fleetSite
	Total, Up, Down, Unknown, OpenOutages int
}

type fleetFilter struct {
	Q, Municipality, Class string
	Problems               bool
}

type fleetData struct {
	Muns                         []fleetMun
	Filter                       fleetFilter
	Municipalities               []string
	Classes                      []string
	ShownSites, TotalSites       int
	Total, Up, Down, Unknown     int
	OpenOutages                  int
	Month                        string
	AvailabilityNote             string
	HasEngine, HasAvailability   bool
	ShownDevices, DevicesInScope int
	openBySite                   map[int64]int
}

// countDevices fills the per-site, per-class counts. The device counts
// come from one aggregate query; the states from one pass over the
// engine's in-memory states (devices the engine has not seen yet are
// unknown). Without an engine, a device is up if it wrote data within the
// last 30 seconds. Nothing here reads 30,000 rows through database/sql.
func (u *UI) countDevices(ctx context.Context, inScope map[int64]int, classPos map[string]int, class string, now time.Time, counts [][]classCount, d *fleetData) error {
	d.openBySite = map[int64]int{}
	if u.deps.DB == nil {
		devs, err := u.dir.AllDevices(ctx)
		if err != nil {
			return err
		}
		for _, dv := range devs {
			i, ok := inScope[dv.SiteID]
			if !ok || (class != "" && dv.Class != class) {
				continue
			}
			cc := &counts[i][classPos[dv.Class]]
			cc.Total++
			switch bucket(u.api.StatusOf(dv)) {
			case "up":
				cc.Up++
			case "down":
				cc.Down++
			default:
				cc.Unknown++
			}
		}
		return nil
	}
	agg, err := u.deviceCounts(ctx, now)
	if err != nil {
		return err
	}
	recent := make([][]int, len(counts))
	for _, a := range agg {
		i, ok := inScope[a.site]
		pos, known := classPos[a.class]
		if !ok || !known {
			continue
		}
		d.DevicesInScope += a.n
		if class != "" && a.class != class {
			continue
		}
		counts[i][pos].Total += a.n
		if recent[i] == nil {
			recent[i] = make([]int, len(classPos))
		}
		recent[i][pos] += a.fresh
	}
	u.mu.Lock()
	src := u.states
	u.mu.Unlock()
	d.HasEngine = src != nil
	for i := range counts {
		for j := range counts[i] {
			cc := &counts[i][j]
			if src == nil && recent[i] != nil {
				cc.Up = recent[i][j]
				cc.Down = cc.Total - cc.Up
			}
		}
	}
	if src == nil {
		return nil
	}
	maint := make([][]int, len(counts))
	for _, st := range src.States(func(o *availability.Object) bool { _, ok := inScope[o.SiteID]; return ok }) {
		o := &st.Object
		if st.State == availability.StateDown {
			d.openBySite[o.SiteID]++
		}
		if o.Check != "" || (class != "" && o.Class != class) {
			continue
		}
		pos, known := classPos[o.Class]
		if !known {
			continue
		}
		i := inScope[o.SiteID]
		cc := &counts[i][pos]
		switch bucket(string(st.State)) {
		case "up":
			cc.Up++
		case "down":
			cc.Down++
		case "maintenance":
			if maint[i] == nil {
				maint[i] = make([]int, len(classPos))
			}
			maint[i][pos]++
		}
	}
	for i := range counts {
		for j := range counts[i] {
			cc := &counts[i][j]
			m := 0
			if maint[i] != nil {
				m = maint[i][j]
			}
			cc.Unknown = max(0, cc.Total-cc.Up-cc.Down-m)
		}
	}
	return nil
}

// deviceStates maps (site id, device) to the device's current state for
// the sites match accepts; objects of checks count toward open outages.
type stateIndex struct {
	dev  map[devKey]string
	down map[int64]int // site id → objects currently down (open outages)
}

type devKey struct {
	site int64
	name string
}

func (u *UI) stateIndex(match func(siteID int64) bool) *stateIndex {
	u.mu.Lock()
	src := u.states
	u.mu.Unlock()
	if src == nil {
		return nil
	}
	idx := &stateIndex{dev: map[devKey]string{}, down: map[int64]int{}}
	for _, st := range src.States(func(o *availability.Object) bool { return match(o.SiteID) }) {
		if st.Object.Check == "" {
			idx.dev[devKey{st.Object.SiteID, st.Object.Device}] = string(st.State)
		}
		if st.State == availability.StateDown {
			idx.down[st.Object.SiteID]++
		}
	}
	return idx
}

// statusOf is a device's state: from the engine when attached, else from
// its last-seen time.
func (u *UI) statusOf(idx *stateIndex, d tenancy.Device) string {
	if idx != nil {
		if s, ok := idx.dev[devKey{d.SiteID, d.Name}]; ok {
			return s
		}
		return string(availability.StateUnknown)
	}
	return u.api.StatusOf(d)
}

// bucket folds the states into up, down and unknown (unreachable and
// no-data) for counting; maintenance is kept apart.
func bucket(state string) string {
	switch state {
	case "up", "down", "maintenance":
		return state
	}
	return "unknown"
}

// countRow is one (site, class) group of the devices table.
type countRow struct {
	site     int64
	class    string
	n, fresh int
}

type countCache struct {
	at   time.Time
	rows []countRow
}

// deviceCounts aggregates the devices table by site and class. The
// result is reused for 10 seconds: devices appear rarely, and the
// aggregate is the most expensive part of the overview (it reads every
// device row inside SQLite).
func (u *UI) deviceCounts(ctx context.Context, now time.Time) ([]countRow, error) {
	u.mu.Lock()
	c := u.counts
	u.mu.Unlock()
	if c != nil && now.Sub(c.at) < 10*time.Second && !now.Before(c.at) {
		return c.rows, nil
	}
	rows, err := u.deps.DB.QueryContext(ctx, `SELECT site_id, class, count(*), sum(last_seen >= ?) FROM devices GROUP BY site_id, class`, now.Add(-30*time.Second).UnixNano())
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	var out []countRow
	for rows.Next() {
		var r countRow
		if err := rows.Scan(&r.site, &r.class, &r.n, &r.fresh); err != nil {
			return nil, fmt.Errorf("count devices: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	u.mu.Lock()
	u.counts = &countCache{at: now, rows: out}
	u.mu.Unlock()
	return out, nil
}

type avCacheEntry struct {
	at   time.Time
	rows map[string]availability.Row
	err  error
}

// siteAvailability returns this month's availability rows per site name,
// computed for all sites and shared by everybody (each page filters by its
// user's scope). Figures older than a minute are served while a fresh
// computation runs in the background, so only the first request after a
// start (or a month change) waits for the report.
func (u *UI) siteAvailability(ctx context.Context, now time.Time) (availability.Window, map[string]availability.Row, error) {
	w, err := availability.ParsePeriod(now.In(u.deps.TZ).Format("2006-01"), u.deps.TZ, now)
	if err != nil || u.deps.DB == nil {
		return w, nil, err
	}
	u.mu.Lock()
	e, ok := u.avCache[w.Label]
	if ok && now.Sub(e.at) >= time.Minute && !u.avRefreshing {
		u.avRefreshing = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			u.computeAvailability(ctx, w, now)
			u.mu.Lock()
			u.avRefreshing = false
			u.mu.Unlock()
		}()
	}
	u.mu.Unlock()
	if ok {
		return w, e.rows, e.err
	}
	e = u.computeAvailability(ctx, w, now)
	return w, e.rows, e.err
}

func (u *UI) computeAvailability(ctx context.Context, w availability.Window, now time.Time) avCacheEntry {
	rep, err := availability.BuildReport(ctx, u.deps.DB, availability.Query{Window: w, GroupBy: "site", Now: now})
	e := avCacheEntry{at: now, err: err, rows: map[string]availability.Row{}}
	if err == nil {
		for _, r := range rep.Rows {
			e.rows[r.Site] = r
		}
	}
	u.mu.Lock()
	u.avCache = map[string]avCacheEntry{w.Label: e}
	u.mu.Unlock()
	return e
}

func (u *UI) fleet(w http.ResponseWriter, r *http.Request) {
	p := sessionFrom(r).User.Principal()
	q := r.URL.Query()
	f := fleetFilter{Q: strings.TrimSpace(q.Get("q")), Municipality: q.Get("municipality"), Class: q.Get("class"), Problems: q.Get("problems") == "1"}
	if f.Class != "" && !tenancy.ValidClass(f.Class) {
		f.Class = ""
	}
	data, err := u.fleetData(r.Context(), p, f)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	u.render(w, r, "fleet.html", http.StatusOK, page{Nav: "fleet", Title: tr(lang(r), "fleet"), Data: data})
}

// fleetData builds the overview. It is linear in the number of devices:
// one query for the sites, one for all devices, one pass over the
// engine's states, and the cached availability figures.
func (u *UI) fleetData(ctx context.Context, p *tenancy.Principal, f fleetFilter) (*fleetData, error) {
	sites, err := u.dir.Sites(ctx, p)
	if err != nil {
		return nil, err
	}
	d := &fleetData{Filter: f, Classes: tenancy.Classes, TotalSites: len(sites)}
	inScope := make(map[int64]int, len(sites)) // site id → index in sites
	for i, s := range sites {
		inScope[s.ID] = i
		if n := len(d.Municipalities); n == 0 || d.Municipalities[n-1] != s.Municipality {
			d.Municipalities = append(d.Municipalities, s.Municipality)
		}
	}
	now := u.now()
	win, av, err := u.siteAvailability(ctx, now)
	if err != nil {
		u.log.Error("fleet: availability figures", "err", err)
	}
	d.Month, d.HasAvailability = win.Label, av != nil

	fs := make([]fleetSite, len(sites))
	classPos := map[string]int{}
	for i, c := range tenancy.Classes {
		classPos[c] = i
	}
	counts := make([][]classCount, len(sites))
	for i, s := range sites {
		fs[i].Site = s
		counts[i] = make([]classCount, len(tenancy.Classes))
	}
	if err := u.countDevices(ctx, inScope, classPos, f.Class, now, counts, d); err != nil {
		return nil, err
	}
	for i := range fs {
		s := &fs[i]
		for _, cc := range counts[i] {
			s.Total += cc.Total
			s.Up += cc.Up
			s.Down += cc.Down
			s.Unknown += cc.Unknown
		}
		s.Maintenance = s.Total - s.Up - s.Down - s.Unknown
	}
	q := strings.ToLower(f.Q)
	for i := range fs {
		s := &fs[i]
		for j, cc := range counts[i] {
			if cc.Total > 0 {
				cc.Class = tenancy.Classes[j]
				s.Classes = append(s.Classes, cc)
			}
		}
		s.OpenOutages = d.openBySite[s.ID]
		s.BudgetLeftPct = -1
		if row, ok := av[s.Name]; ok {
			s.Availability, s.Target, s.Met = row.AvailabilityPercent, row.TargetPercent, row.Met
			s.BudgetLeftMin, s.BudgetAllowedMin = row.BudgetRemainingMin, row.BudgetAllowedMin
			left, _ := row.BudgetRemainingMin.Float64()
			all, _ := row.BudgetAllowedMin.Float64()
			if all > 0 {
				s.BudgetLeftPct = max(0, min(100, int(left/all*100)))
			}
		}
		if f.Municipality != "" && s.Municipality != f.Municipality {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(s.Name), q) && !strings.Contains(strings.ToLower(s.Title), q) && !strings.Contains(strings.ToLower(s.Municipality), q) {
			continue
		}
		if f.Problems && s.Down == 0 && s.OpenOutages == 0 && (s.Met == nil || *s.Met) {
			continue
		}
		if n := len(d.Muns); n == 0 || d.Muns[n-1].Name != s.Municipality {
			d.Muns = append(d.Muns, fleetMun{Name: s.Municipality})
		}
		m := &d.Muns[len(d.Muns)-1]
		m.Sites = append(m.Sites, *s)
		m.Total += s.Total
		m.Up += s.Up
		m.Down += s.Down
		m.Unknown += s.Unknown
		m.OpenOutages += s.OpenOutages
		d.ShownSites++
		d.ShownDevices += s.Total
		d.Total += s.Total
		d.Up += s.Up
		d.Down += s.Down
		d.Unknown += s.Unknown
		d.OpenOutages += s.OpenOutages
	}
	// Sites with problems first within their municipality, then by name.
	for _, m := range d.Muns {
		sort.SliceStable(m.Sites, func(a, b int) bool { return m.Sites[a].Down > 0 && m.Sites[b].Down == 0 })
	}
	return d, nil
}
