package availability

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"
)

// GroupRule says how a group's (site's, municipality's) figure is formed.
type GroupRule string

// Group rules.
const (
	// RuleTimeWeighted: the group's up and down time are the sums of its
	// members' (each within its own calendar): Σup ÷ (Σup + Σdown).
	RuleTimeWeighted GroupRule = "time-weighted"
	// RuleAnyCritical: the group is down whenever any critical member
	// (router, switch, server by default) is down, within the group's own
	// calendar.
	RuleAnyCritical GroupRule = "any-critical-member-down"
)

// ParseGroupRule accepts the rule names and short forms.
func ParseGroupRule(s string) (GroupRule, error) {
	switch strings.ToLower(s) {
	case "", "time-weighted", "weighted", "tw":
		return RuleTimeWeighted, nil
	case "any-critical-member-down", "any-critical", "critical", "any":
		return RuleAnyCritical, nil
	}
	return "", fmt.Errorf("group rule %q: want time-weighted or any-critical", s)
}

// Query selects what a report covers.
type Query struct {
	Municipality, Site, Class, Device, Check string
	// SiteIDs restricts the report to these sites (tenancy); nil: all.
	SiteIDs []int64
	Window  Window
	// GroupBy is "object", "site" or "municipality"; empty picks one level
	// below the narrowest filter.
	GroupBy string
	Rule    GroupRule
	// Now bounds windows that reach into the future (default time.Now).
	Now time.Time
}

// Figures are the numbers of one report row. Durations are in
// milliseconds; minutes are exact decimals rounded to 4 places.
type Figures struct {
	ServiceMS     int64 `json:"service_ms"`
	UpMS          int64 `json:"up_ms"`
	DownMS        int64 `json:"down_ms"`
	UnknownMS     int64 `json:"unknown_ms"`
	UnreachableMS int64 `json:"unreachable_ms"`
	MaintenanceMS int64 `json:"maintenance_ms"`
	Outages       int   `json:"outages"`
	// Target in ppm; budget in microseconds for exactness.
	Target   Target `json:"-"`
	budgetUS int64
	// criticalDown is the union of critical members' down time (groups).
	CriticalDownMS int64 `json:"critical_down_ms"`
}

// Row is one line of a report: an object or a group.
type Row struct {
	Kind         string    `json:"kind"` // object, site, municipality, all
	Name         string    `json:"name"`
	Municipality string    `json:"municipality,omitempty"`
	Site         string    `json:"site,omitempty"`
	Device       string    `json:"device,omitempty"`
	Check        string    `json:"check,omitempty"`
	Class        string    `json:"class,omitempty"`
	Calendar     string    `json:"calendar,omitempty"`
	Rule         GroupRule `json:"rule,omitempty"`
	Members      int       `json:"members,omitempty"`
	Figures

	ServiceMin          json.Number  `json:"service_min"`
	UpMin               json.Number  `json:"up_min"`
	DownMin             json.Number  `json:"down_min"`
	UnknownMin          json.Number  `json:"unknown_min"`
	UnreachableMin      json.Number  `json:"unreachable_min"`
	MaintenanceMin      json.Number  `json:"maintenance_min"`
	AvailabilityPercent *json.Number `json:"availability_percent"` // null without up or down time
	TargetPercent       json.Number  `json:"target_percent"`
	Met                 *bool        `json:"met"`
	BudgetAllowedMin    json.Number  `json:"budget_allowed_min"`
	BudgetUsedMin       json.Number  `json:"budget_used_min"`
	BudgetRemainingMin  json.Number  `json:"budget_remaining_min"`
	MTTRMin             *json.Number `json:"mttr_min"`
	MTBFMin             *json.Number `json:"mtbf_min"`
	CriticalDownMin     json.Number  `json:"critical_down_min,omitempty"`
}

// Report is an availability report.
type Report struct {
	Window      Window    `json:"window"`
	Generated   time.Time `json:"generated"`
	Rule        GroupRule `json:"rule"`
	RuleText    string    `json:"rule_description"`
	GroupBy     string    `json:"group_by"`
	Rows        []Row     `json:"rows"`
	Total       Row       `json:"total"`
	Definitions string    `json:"definitions"`
}

const definitions = "availability = up / (up + down) within the service calendar, maintenance excluded; " +
	"unknown (no data, collector or uplink down) and unreachable (parent down, counted at the parent) are neither up nor down; " +
	"error budget = (1 - target) x service time; MTTR = down / outages; MTBF = up / outages"

func ruleText(r GroupRule) string {
	if r == RuleAnyCritical {
		return "group is down while any critical member is down (within the group's calendar); figures are for the group as one object"
	}
	return "group figures are the sums of the members' times: availability = sum(up) / (sum(up) + sum(down))"
}

type spanRow struct {
	id, obj    int64
	start, end int64
	code       byte // stateCodes: 1 down, 2 unknown, 3 unreachable
}

// BuildReport computes a report from the database.
func BuildReport(ctx context.Context, db *sql.DB, q Query) (*Report, error) {
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	if q.Rule == "" {
		q.Rule = RuleTimeWeighted
	}
	if !q.Window.To.After(q.Window.From) {
		return nil, fmt.Errorf("report window: end %s is not after start %s", q.Window.To, q.Window.From)
	}
	set, err := loadSettings(ctx, db)
	if err != nil {
		return nil, err
	}
	objs, err := loadReportObjects(ctx, db, q)
	if err != nil {
		return nil, err
	}
	from, to := ms(q.Window.From), min(ms(q.Window.To), ms(q.Now))
	byID := make(map[int64]*Object, len(objs))
	for i := range objs {
		byID[objs[i].ID] = &objs[i]
	}
	// Parents outside the selection are needed for "unreachable".
	var extra []int64
	for i := range objs {
		if p := objs[i].ParentID; p != 0 && byID[p] == nil {
			extra = append(extra, p)
		}
	}
	parents := map[int64]*Object{}
	if len(extra) > 0 {
		more, err := loadObjectsByID(ctx, db, extra)
		if err != nil {
			return nil, err
		}
		for i := range more {
			parents[more[i].ID] = &more[i]
		}
	}
	spans, err := loadReportSpans(ctx, db, q, objs, extra, from, to)
	if err != nil {
		return nil, err
	}
	// Spans sorted by object: each object's spans are one slice of the
	// sorted list, found by binary search (no per-object maps or slices:
	// 1,000,000 outages stay one allocation). The span log delivers them
	// in this order already; only open spans may need sorting in.
	cmpSpan := func(a, b spanRow) int {
		if a.obj != b.obj {
			return cmp.Compare(a.obj, b.obj)
		}
		return cmp.Compare(a.start, b.start)
	}
	if !slices.IsSortedFunc(spans, cmpSpan) {
		slices.SortFunc(spans, cmpSpan)
	}
	// of appends the object's spans of one state, clipped to the window,
	// to buf (sorted by start).
	of := func(id int64, state State, buf []Interval) []Interval {
		code := stateCodes[state]
		i := sort.Search(len(spans), func(i int) bool { return spans[i].obj >= id })
		for ; i < len(spans) && spans[i].obj == id; i++ {
			s := &spans[i]
			if s.code != code {
				continue
			}
			end := s.end
			if end == 0 || end > to {
				end = to
			}
			if iv := (Interval{max(s.start, from), end}); iv.Len() > 0 {
				buf = append(buf, iv)
			}
		}
		return buf
	}
	lookup := func(id int64) *Object {
		if o := byID[id]; o != nil {
			return o
		}
		return parents[id]
	}
	// Down set of an object's ancestors (for unreachable).
	ancestorDown := func(o *Object) Set {
		var acc []Interval
		seen := map[int64]bool{o.ID: true}
		for p := o.ParentID; p != 0 && !seen[p]; {
			seen[p] = true
			acc = of(p, StateDown, acc)
			po := lookup(p)
			if po == nil {
				break
			}
			p = po.ParentID
		}
		return Normalize(acc)
	}

	cc := newServiceCache(set, from, to)
	rep := &Report{Window: q.Window, Generated: q.Now.UTC(), Rule: q.Rule, RuleText: ruleText(q.Rule), Definitions: definitions}
	rep.GroupBy = q.GroupBy
	if rep.GroupBy == "" {
		switch {
		case q.Device != "" || q.Site != "":
			rep.GroupBy = "object"
		case q.Municipality != "":
			rep.GroupBy = "site"
		default:
			rep.GroupBy = "municipality"
		}
	}
	groups := map[string]*group{}
	var order []string
	total := &group{row: Row{Kind: "all", Name: "all", Rule: q.Rule}}
	switch {
	case q.Device != "":
		total.row = Row{Kind: "object", Name: q.Site + "/" + q.Device, Municipality: q.Municipality, Site: q.Site, Device: q.Device, Rule: q.Rule}
	case q.Site != "":
		total.row = Row{Kind: "site", Name: q.Site, Municipality: q.Municipality, Site: q.Site, Rule: q.Rule}
	case q.Municipality != "":
		total.row = Row{Kind: "municipality", Name: q.Municipality, Municipality: q.Municipality, Rule: q.Rule}
	}
	var objRows []Row
	// Per-object scratch, reused: nothing below keeps these slices beyond
	// one object (sets kept for groups are copies made by Intersect).
	var dnBuf, urBuf, unBuf Set
	for i := range objs {
		o := &objs[i]
		start, end := max(from, o.FirstSeen), to
		if o.Retired > 0 {
			end = min(end, o.Retired)
		}
		if start >= end {
			continue
		}
		svc, svcTotal, maint, calName := cc.service(o, start, end)
		dnBuf = normalizeSorted(of(o.ID, StateDown, dnBuf[:0]))
		urBuf = normalizeSorted(of(o.ID, StateUnreachable, urBuf[:0]))
		dn, unreach := dnBuf, urBuf
		if o.ParentID != 0 && len(dn) > 0 {
			// Stored spans are split already; this covers parents set
			// after the fact.
			pd := ancestorDown(o)
			unreach = Union(unreach, Intersect(dn, pd))
			dn = Subtract(dn, pd)
		}
		unBuf = normalizeSorted(of(o.ID, StateUnknown, unBuf[:0]))
		unk := Subtract(unBuf, dn)
		f := Figures{MaintenanceMS: maint, ServiceMS: svcTotal}
		f.DownMS = IntersectLen(dn, svc)
		f.UnreachableMS = IntersectLen(unreach, svc)
		f.UnknownMS = IntersectLen(Subtract(unk, unreach), svc)
		f.UpMS = f.ServiceMS - f.DownMS - f.UnknownMS - f.UnreachableMS
		for i := range dn {
			if IntersectLen(dn[i:i+1], svc) > 0 {
				f.Outages++
			}
		}
		f.Target = set.target(o)
		f.budgetUS = budgetUS(f.ServiceMS, f.Target)
		crit := set.critical(o)
		if crit {
			f.CriticalDownMS = f.DownMS
		}
		row := Row{Kind: "object", Name: o.Name(), Municipality: o.Municipality, Site: o.Site, Device: o.Device, Check: o.Check, Class: o.Class, Calendar: calName, Figures: f}
		if rep.GroupBy == "object" {
			objRows = append(objRows, row)
		} else {
			key, kind, name := o.Municipality, "municipality", o.Municipality
			if rep.GroupBy == "site" {
				key, kind, name = fmt.Sprintf("%s\x00%s", o.Municipality, o.Site), "site", o.Site
			}
			g := groups[key]
			if g == nil {
				g = &group{row: Row{Kind: kind, Name: name, Municipality: o.Municipality, Rule: q.Rule}}
				if kind == "site" {
					g.row.Site = o.Site
				}
				groups[key] = g
				order = append(order, key)
			}
			g.add(f)
			g.objs = append(g.objs, o)
			if crit {
				g.critDown = append(g.critDown, Intersect(dn, svc)...)
				g.critUnk = append(g.critUnk, Intersect(unk, svc)...)
			}
		}
		total.add(f)
		total.objs = append(total.objs, o)
		if crit {
			total.critDown = append(total.critDown, Intersect(dn, svc)...)
			total.critUnk = append(total.critUnk, Intersect(unk, svc)...)
		}
	}
	finish := func(g *group) Row {
		r := g.row
		if r.Municipality == "" && r.Kind != "all" && len(g.objs) > 0 {
			r.Municipality = g.objs[0].Municipality // a site belongs to one municipality
		}
		r.CriticalDownMS = Normalize(g.critDown).Total()
		scope := &Object{Municipality: r.Municipality, Site: r.Site, Device: r.Device}
		r.Target = set.target(scope)
		if q.Rule == RuleAnyCritical && r.Kind != "object" {
			// The group as one object: its own calendar and maintenance.
			svc, _, maint, calName := cc.service(scope, from, to)
			dn := Intersect(Normalize(g.critDown), svc)
			unk := Subtract(Intersect(Normalize(g.critUnk), svc), dn)
			f := Figures{ServiceMS: svc.Total(), MaintenanceMS: maint, DownMS: dn.Total(), UnknownMS: unk.Total(), Outages: len(dn), Target: r.Target, CriticalDownMS: r.CriticalDownMS}
			f.UpMS = f.ServiceMS - f.DownMS - f.UnknownMS
			f.budgetUS = budgetUS(f.ServiceMS, f.Target)
			r.Figures, r.Calendar = f, calName
		} else {
			r.budgetUS = budgetUS(r.ServiceMS, r.Target)
		}
		r.Members = len(g.objs)
		return r
	}
	if rep.GroupBy == "object" {
		rep.Rows = objRows
	} else {
		for _, k := range order {
			rep.Rows = append(rep.Rows, finish(groups[k]))
		}
	}
	if total.row.Kind == "object" {
		if len(objRows) == 1 {
			total.row = objRows[0]
		} else {
			total.row = finish(total)
		}
	} else {
		total.row = finish(total)
	}
	rep.Total = total.row
	for i := range rep.Rows {
		rep.Rows[i].compute()
	}
	rep.Total.compute()
	sort.SliceStable(rep.Rows, func(i, j int) bool { return rep.Rows[i].Name < rep.Rows[j].Name })
	return rep, nil
}

type group struct {
	row      Row
	critDown []Interval
	critUnk  []Interval
	objs     []*Object
}

func (g *group) add(f Figures) {
	r := &g.row.Figures
	r.ServiceMS += f.ServiceMS
	r.UpMS += f.UpMS
	r.DownMS += f.DownMS
	r.UnknownMS += f.UnknownMS
	r.UnreachableMS += f.UnreachableMS
	r.MaintenanceMS += f.MaintenanceMS
	r.Outages += f.Outages
}

// budgetUS is (1 − target) × service time in microseconds, exact for any
// service time in whole milliseconds.
func budgetUS(serviceMS int64, t Target) int64 {
	n := new(big.Int).Mul(big.NewInt(serviceMS), big.NewInt(1_000_000-int64(t)))
	return n.Div(n, big.NewInt(1000)).Int64()
}

// minutes formats milliseconds as minutes, rounded half up to 4 decimals.
func minutes(msv int64) json.Number {
	neg := msv < 0
	if neg {
		msv = -msv
	}
	v := (msv + 3) / 6 // minutes × 10^4 = ms / 6, rounded
	if neg {
		v = -v
	}
	return json.Number(formatFixed(v, 4))
}

// minutesUS formats microseconds as minutes rounded to 4 decimals.
func minutesUS(us int64) json.Number {
	neg := us < 0
	if neg {
		us = -us
	}
	v := (us + 3000) / 6000
	if neg {
		v = -v
	}
	return json.Number(formatFixed(v, 4))
}

func (r *Row) compute() {
	f := &r.Figures
	r.ServiceMin, r.UpMin, r.DownMin = minutes(f.ServiceMS), minutes(f.UpMS), minutes(f.DownMS)
	r.UnknownMin, r.UnreachableMin, r.MaintenanceMin = minutes(f.UnknownMS), minutes(f.UnreachableMS), minutes(f.MaintenanceMS)
	r.TargetPercent = json.Number(f.Target.Percent())
	r.BudgetAllowedMin = minutesUS(f.budgetUS)
	r.BudgetUsedMin = minutes(f.DownMS)
	r.BudgetRemainingMin = minutesUS(f.budgetUS - f.DownMS*1000)
	if r.Kind != "object" {
		r.CriticalDownMin = minutes(f.CriticalDownMS)
	}
	if d := f.UpMS + f.DownMS; d > 0 {
		// Floor to 4 decimals of a percent: a report never rounds up into
		// "met".
		n := new(big.Int).Mul(big.NewInt(f.UpMS), big.NewInt(1_000_000))
		n.Div(n, big.NewInt(d))
		a := json.Number(formatFixed(n.Int64(), 4))
		r.AvailabilityPercent = &a
		lhs := new(big.Int).Mul(big.NewInt(f.UpMS), big.NewInt(1_000_000))
		rhs := new(big.Int).Mul(big.NewInt(int64(f.Target)), big.NewInt(d))
		met := lhs.Cmp(rhs) >= 0
		r.Met = &met
	}
	if f.Outages > 0 {
		mttr := minutes(f.DownMS / int64(f.Outages))
		mtbf := minutes(f.UpMS / int64(f.Outages))
		r.MTTRMin, r.MTBFMin = &mttr, &mtbf
	}
}

// serviceCache shares calendar and maintenance computations between
// objects with the same calendar and windows: a yearly weekly calendar is
// built once, not once per object.
type serviceCache struct {
	set      *settings
	from, to int64
	cal      map[string]Set
	maint    map[string]Set
	done     map[string]serviceResult
}

func newServiceCache(set *settings, from, to int64) *serviceCache {
	return &serviceCache{set: set, from: from, to: to, cal: map[string]Set{}, maint: map[string]Set{}, done: map[string]serviceResult{}}
}

// service returns the object's service time within [start, c.to) — as a
// set that may reach back to c.from (callers intersect it with spans that
// lie after start), its exact total from start, the maintenance time taken
// out of it from start, and the calendar's name. Results are shared by all
// objects with the same calendar and maintenance windows; nothing is
// copied per object.
func (c *serviceCache) service(o *Object, start, end int64) (Set, int64, int64, string) {
	cal, name := c.set.calendar(o)
	idx := c.set.maintenanceFor(o)
	var key strings.Builder
	key.WriteString(name)
	for _, i := range idx {
		fmt.Fprintf(&key, ",%d", i)
	}
	r, ok := c.done[key.String()]
	if !ok {
		base, ok := c.cal[name]
		if !ok {
			base = cal.ServiceIntervals(c.from, c.to)
			c.cal[name] = base
		}
		mkey := key.String()[len(name):]
		m, ok := c.maint[mkey]
		if !ok {
			var ivs []Interval
			for _, i := range idx {
				ivs = append(ivs, c.set.maint[i].Occurrences(c.from, c.to)...)
			}
			m = Normalize(ivs)
			c.maint[mkey] = m
		}
		r = serviceResult{svc: base}
		if len(m) > 0 {
			r.inMaint = Intersect(base, m)
			r.svc, r.maint = Subtract(base, m), r.inMaint.Total()
		}
		r.total = r.svc.Total()
		c.done[key.String()] = r
	}
	total, maint := r.total, r.maint
	if start > c.from {
		head := Set{{c.from, start}}
		total -= IntersectLen(r.svc, head)
		maint -= IntersectLen(r.inMaint, head)
	}
	if end < c.to {
		tail := Set{{end, c.to}}
		total -= IntersectLen(r.svc, tail)
		maint -= IntersectLen(r.inMaint, tail)
	}
	return r.svc, total, maint, name
}

type serviceResult struct {
	svc, inMaint Set
	total, maint int64
}

func scanObjects(rows *sql.Rows) ([]Object, error) {
	defer rows.Close()
	var out []Object
	for rows.Next() {
		var o Object
		if err := rows.Scan(&o.ID, &o.MunicipalityID, &o.SiteID, &o.DeviceID, &o.Municipality, &o.Site, &o.Device, &o.Class, &o.Check,
			&o.ParentID, &o.Critical, &o.Heartbeat, &o.FirstSeen, &o.Retired); err != nil {
			return nil, fmt.Errorf("load objects: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

const objectCols = `id, municipality_id, site_id, device_id, municipality, site, device, class, check_name, parent_id, critical, heartbeat, first_seen_ms, retired_ms`

func loadReportObjects(ctx context.Context, db *sql.DB, q Query) ([]Object, error) {
	where, args := objectFilter(q.Municipality, q.Site, q.Class, q.Device, q.Check, q.SiteIDs)
	// No ORDER BY: a 100,000-row sort in SQLite spills to a temporary file.
	// Only the columns a report uses: with 100,000 objects every column
	// read is measurable.
	rows, err := db.QueryContext(ctx, `SELECT id, site_id, municipality, site, device, class, check_name, parent_id, critical, first_seen_ms, retired_ms FROM av_objects`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("load objects for report: %w", err)
	}
	defer rows.Close()
	// Rows are sorted by name at the end; the objects need no order.
	var out []Object
	for rows.Next() {
		var o Object
		if err := rows.Scan(&o.ID, &o.SiteID, &o.Municipality, &o.Site, &o.Device, &o.Class, &o.Check, &o.ParentID, &o.Critical, &o.FirstSeen, &o.Retired); err != nil {
			return nil, fmt.Errorf("load objects for report: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func objectFilter(mun, site, class, device, check string, siteIDs []int64) (string, []any) {
	var conds []string
	var args []any
	for _, kv := range []struct {
		col, v string
	}{{"municipality", mun}, {"site", site}, {"class", class}, {"device", device}, {"check_name", check}} {
		if kv.v != "" {
			conds = append(conds, kv.col+"=?")
			args = append(args, kv.v)
		}
	}
	if siteIDs != nil {
		if len(siteIDs) == 0 {
			conds = append(conds, "0")
		} else {
			conds = append(conds, "site_id IN ("+placeholders(len(siteIDs))+")")
			for _, id := range siteIDs {
				args = append(args, id)
			}
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func loadObjectsByID(ctx context.Context, db *sql.DB, ids []int64) ([]Object, error) {
	var out []Object
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, n)
		for i := range n {
			args[i] = ids[i]
		}
		rows, err := db.QueryContext(ctx, `SELECT `+objectCols+` FROM av_objects WHERE id IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("load parent objects: %w", err)
		}
		more, err := scanObjects(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
		ids = ids[n:]
	}
	return out, nil
}

// perObjectLimit is the number of objects up to which a report reads
// av_spans through its index; above it reads the span log.
var perObjectLimit = 200

// loadReportSpans reads the spans overlapping [from, to) of the selected
// objects (and extra parents). Few objects: per object through the index;
// many: one scan, filtered in memory.
func loadReportSpans(ctx context.Context, db *sql.DB, q Query, objs []Object, extra []int64, from, to int64) ([]spanRow, error) {
	want := make(map[int64]bool, len(objs)+len(extra))
	for i := range objs {
		want[objs[i].ID] = true
	}
	for _, id := range extra {
		want[id] = true
	}
	var out []spanRow
	scan := func(rows *sql.Rows) error {
		defer rows.Close()
		var state sql.RawBytes
		var end sql.NullInt64
		for rows.Next() {
			var s spanRow
			if err := rows.Scan(&s.obj, &state, &s.start, &end); err != nil {
				return fmt.Errorf("load outages: %w", err)
			}
			if !want[s.obj] {
				continue
			}
			switch string(state) { // no allocation: compared, not kept
			case "down":
				s.code = stateCodes[StateDown]
			case "unreachable":
				s.code = stateCodes[StateUnreachable]
			default:
				s.code = stateCodes[StateUnknown]
			}
			s.end = end.Int64
			out = append(out, s)
		}
		return rows.Err()
	}
	if len(want) <= perObjectLimit {
		for id := range want {
			rows, err := db.QueryContext(ctx, `SELECT object_id, state, start_ms, end_ms FROM av_spans WHERE object_id=? AND start_ms < ? AND (end_ms IS NULL OR end_ms > ?)`, id, to, from)
			if err != nil {
				return nil, fmt.Errorf("load outages: %w", err)
			}
			if err := scan(rows); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return loadLogSpans(ctx, db, want, from, to)
}
