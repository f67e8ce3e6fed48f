package availability

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"
)

func school(first time.Time) Object {
	return Object{MunicipalityID: 1, SiteID: 1, Municipality: "Moers", Site: "GS Am Park", Device: "srv1", Class: "server", Critical: true, Heartbeat: true, FirstSeen: ms(first)}
}

func num(n *json.Number) string {
	if n == nil {
		return "null"
	}
	return string(*n)
}

func TestYear365DayBudgetAndSixHours(t *testing.T) {
	db := openDB(t)
	y, _ := ParsePeriod("2026", time.UTC, time.Time{})
	id := addObject(t, db, school(y.From))
	r := report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: y})
	row := r.Total
	if row.ServiceMS != 365*24*3600*1000 || row.ServiceMin != "525600" {
		t.Fatalf("service %d ms (%s min), want 365 days", row.ServiceMS, row.ServiceMin)
	}
	if row.BudgetAllowedMin != "105.12" || row.TargetPercent != "99.98" {
		t.Fatalf("budget %s min at target %s, want 105.12 at 99.98", row.BudgetAllowedMin, row.TargetPercent)
	}
	if num(row.AvailabilityPercent) != "100" || row.Met == nil || !*row.Met {
		t.Fatalf("no outages: availability %s met %v", num(row.AvailabilityPercent), row.Met)
	}
	// Six hours down in the year: 99.93 % and the budget overspent.
	addSpan(t, db, id, StateDown, mustTime(t, "2026-06-01T08:00:00Z"), mustTime(t, "2026-06-01T14:00:00Z"))
	row = report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: y}).Total
	if got := num(row.AvailabilityPercent); got != "99.9315" { // 31,514,400 / 31,536,000 = 99.93150…
		t.Fatalf("availability %s, want 99.9315 (99.93 %%)", got)
	}
	if *row.Met {
		t.Fatal("six hours down met 99.98 %")
	}
	if row.BudgetUsedMin != "360" || row.BudgetRemainingMin != "-254.88" || row.Outages != 1 || num(row.MTTRMin) != "360" {
		t.Fatalf("used %s remaining %s outages %d mttr %s", row.BudgetUsedMin, row.BudgetRemainingMin, row.Outages, num(row.MTTRMin))
	}
	if num(row.MTBFMin) != "525240" {
		t.Fatalf("mtbf %s, want 525240 (up minutes / 1 outage)", num(row.MTBFMin))
	}
}

func TestLeapYearBudget(t *testing.T) {
	db := openDB(t)
	y, _ := ParsePeriod("2028", time.UTC, time.Time{})
	addObject(t, db, school(y.From))
	row := report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: y}).Total
	if row.ServiceMin != "527040" || row.BudgetAllowedMin != "105.408" {
		t.Fatalf("leap year: service %s min budget %s min, want 527040 and 105.408", row.ServiceMin, row.BudgetAllowedMin)
	}
	// Exactly the budget used is still met; one millisecond more is not.
	id := int64(1)
	start := mustTime(t, "2028-02-29T10:00:00Z")
	addSpan(t, db, id, StateDown, start, start.Add(6324480*time.Millisecond))
	row = report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: y}).Total
	if !*row.Met || row.BudgetRemainingMin != "0" {
		t.Fatalf("budget used exactly: met %v remaining %s", *row.Met, row.BudgetRemainingMin)
	}
	addSpan(t, db, id, StateDown, start.Add(-time.Hour), start.Add(-time.Hour+time.Millisecond))
	row = report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: y}).Total
	if *row.Met {
		t.Fatal("one millisecond over budget still met")
	}
}

func Test30DayMonthBudget(t *testing.T) {
	db := openDB(t)
	m, err := ParsePeriod("2026-11", berlin, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	addObject(t, db, school(m.From.AddDate(0, -1, 0)))
	row := report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: m}).Total
	if row.ServiceMin != "43200" || row.BudgetAllowedMin != "8.64" {
		t.Fatalf("November: service %s min budget %s, want 43200 and 8.64", row.ServiceMin, row.BudgetAllowedMin)
	}
}

func weekly(name string, from, to string, days ...time.Weekday) Calendar {
	return Calendar{Name: name, Kind: KindWeekly, TZ: "Europe/Berlin", Weekly: []WeeklyHours{{Days: days, From: from, To: to}}}
}

var allDays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
var schoolDays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

func TestDSTDaysInWeeklyCalendar(t *testing.T) {
	full := weekly("full", "00:00", "24:00", allDays...)
	hours := weekly("hours", "07:00", "17:00", allDays...)
	night := weekly("night", "01:00", "04:00", allDays...)
	for _, c := range []*Calendar{&full, &hours, &night} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	day := func(d string) (int64, int64) {
		f, _ := time.ParseInLocation("2006-01-02", d, berlin)
		return ms(f), ms(f.AddDate(0, 0, 1))
	}
	cases := []struct {
		cal  *Calendar
		day  string
		want time.Duration
	}{
		{&full, "2026-03-29", 23 * time.Hour}, // spring forward
		{&full, "2026-10-25", 25 * time.Hour}, // fall back
		{&full, "2026-06-01", 24 * time.Hour},
		{&hours, "2026-03-29", 10 * time.Hour},
		{&hours, "2026-10-25", 10 * time.Hour},
		{&night, "2026-03-29", 2 * time.Hour}, // 02:00–03:00 does not exist
		{&night, "2026-10-25", 4 * time.Hour}, // 02:00–03:00 happens twice
	}
	for _, c := range cases {
		f, to := day(c.day)
		if got := c.cal.ServiceIntervals(f, to).Total(); got != c.want.Milliseconds() {
			t.Errorf("%s on %s: %v, want %v", c.cal.Name, c.day, time.Duration(got)*time.Millisecond, c.want)
		}
	}
	// Through the report: October 2026 in Berlin has 31 days + 1 hour.
	db := openDB(t)
	oct, _ := ParsePeriod("2026-10", berlin, time.Time{})
	addObject(t, db, school(oct.From.AddDate(0, -1, 0)))
	ctx := context.Background()
	if err := SaveCalendar(ctx, db, full); err != nil {
		t.Fatal(err)
	}
	if err := SetRule(ctx, db, Rule{Kind: RuleCalendar, Scope: Scope{Site: "GS Am Park"}, Value: "full"}); err != nil {
		t.Fatal(err)
	}
	row := report(t, db, Query{Site: "GS Am Park", Window: oct}).Total
	if row.ServiceMS != (31*24+1)*3600*1000 {
		t.Fatalf("October in Berlin: %d ms service, want 745 h", row.ServiceMS)
	}
}

func TestOutageCrossingMonthBoundary(t *testing.T) {
	db := openDB(t)
	oct, _ := ParsePeriod("2026-10", berlin, time.Time{})
	nov, _ := ParsePeriod("2026-11", berlin, time.Time{})
	id := addObject(t, db, school(oct.From))
	start := time.Date(2026, 10, 31, 23, 50, 0, 0, berlin)
	addSpan(t, db, id, StateDown, start, start.Add(30*time.Minute))
	o := report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: oct}).Total
	n := report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: nov}).Total
	if o.DownMin != "10" || n.DownMin != "20" || o.Outages != 1 || n.Outages != 1 {
		t.Fatalf("October down %s (%d outages), November %s (%d), want 10 and 20", o.DownMin, o.Outages, n.DownMin, n.Outages)
	}
	if o.UpMS+o.DownMS != o.ServiceMS || n.UpMS+n.DownMS != n.ServiceMS {
		t.Fatal("up + down != service")
	}
}

func TestOutageCrossingMaintenanceBoundary(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	day := Window{From: mustTime(t, "2026-05-05T00:00:00Z"), To: mustTime(t, "2026-05-06T00:00:00Z")}
	id := addObject(t, db, school(day.From))
	addSpan(t, db, id, StateDown, mustTime(t, "2026-05-05T10:00:00Z"), mustTime(t, "2026-05-05T11:00:00Z"))
	if _, err := AddMaintenance(ctx, db, Maintenance{Scope: Scope{Site: "GS Am Park"}, Start: mustTime(t, "2026-05-05T10:30:00Z"), Duration: 90 * time.Minute, Reason: "switch firmware"}); err != nil {
		t.Fatal(err)
	}
	row := report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: day}).Total
	if row.DownMin != "30" || row.MaintenanceMin != "90" || row.ServiceMin != "1350" || row.Outages != 1 {
		t.Fatalf("down %s maintenance %s service %s outages %d, want 30, 90, 1350, 1", row.DownMin, row.MaintenanceMin, row.ServiceMin, row.Outages)
	}
}

func TestRecurringMaintenanceAcrossDST(t *testing.T) {
	m := Maintenance{Scope: Scope{Site: "x"}, Start: time.Date(2026, 10, 21, 22, 0, 0, 0, berlin), Duration: time.Hour, RRule: "FREQ=WEEKLY;BYDAY=WE;COUNT=3", TZ: "Europe/Berlin"}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	occ := m.Occurrences(ms(mustTime(t, "2026-10-01T00:00:00Z")), ms(mustTime(t, "2026-12-01T00:00:00Z")))
	if len(occ) != 3 {
		t.Fatalf("%d occurrences, want 3", len(occ))
	}
	for _, iv := range occ {
		if h := fromMS(iv.Start).In(berlin).Hour(); h != 22 {
			t.Errorf("occurrence at %v local, want 22:00 across the DST change", fromMS(iv.Start).In(berlin))
		}
	}
}

func TestHolidayFromICSExcluded(t *testing.T) {
	f, err := os.Open("testdata/holidays-nrw-2026.ics")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex, err := ParseICS(f, berlin, time.Date(2027, 12, 31, 0, 0, 0, 0, berlin))
	if err != nil {
		t.Fatal(err)
	}
	cal := weekly("school", "07:00", "17:00", schoolDays...)
	cal.Exceptions = ex
	db := openDB(t)
	ctx := context.Background()
	if err := SaveCalendar(ctx, db, cal); err != nil {
		t.Fatal(err)
	}
	if err := SetRule(ctx, db, Rule{Kind: RuleCalendar, Scope: Scope{Municipality: "Moers"}, Value: "school"}); err != nil {
		t.Fatal(err)
	}
	dec, _ := ParsePeriod("2026-12", berlin, time.Time{})
	id := addObject(t, db, school(dec.From.AddDate(0, -2, 0)))
	// An outage on 28 December, in the Christmas holidays: not counted.
	addSpan(t, db, id, StateDown, time.Date(2026, 12, 28, 9, 0, 0, 0, berlin), time.Date(2026, 12, 28, 12, 0, 0, 0, berlin))
	// One on 22 December, a school day: counted between 09:00 and 10:00.
	addSpan(t, db, id, StateDown, time.Date(2026, 12, 22, 9, 0, 0, 0, berlin), time.Date(2026, 12, 22, 10, 0, 0, 0, berlin))
	row := report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: dec}).Total
	// School days 1–22 December 2026: 16 days × 10 h.
	if row.ServiceMin != "9600" || row.DownMin != "60" || row.Outages != 1 || row.Calendar != "school" {
		t.Fatalf("service %s down %s outages %d calendar %q, want 9600, 60, 1, school", row.ServiceMin, row.DownMin, row.Outages, row.Calendar)
	}
	// November: 21 school days, minus the holiday rule on Sunday 1 Nov
	// (none lost) and the afternoon of 18 Nov (12:00–17:00).
	nov, _ := ParsePeriod("2026-11", berlin, time.Time{})
	row = report(t, db, Query{Site: "GS Am Park", Device: "srv1", Window: nov}).Total
	if row.ServiceMin != "12300" { // 21 × 600 − 300
		t.Fatalf("November service %s min, want 12300", row.ServiceMin)
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{"99.98": 999800, "99.98%": 999800, "0.9998": 999800, "99.9": 999000, "100": 1000000, "99.995": 999950} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "101", "99.999999", "-5"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestTargetOverridesMostSpecificWins(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	y, _ := ParsePeriod("2026", time.UTC, time.Time{})
	o := school(y.From)
	addObject(t, db, o)
	o2 := o
	o2.Device, o2.Class = "printer1", "printer"
	addObject(t, db, o2)
	for _, r := range []struct {
		s Scope
		v string
	}{{Scope{Municipality: "Moers"}, "99.9"}, {Scope{Class: "printer"}, "99"}, {Scope{Site: "GS Am Park", Class: "printer"}, "98"}, {Scope{Device: "srv1"}, "99.99"}} {
		tg, err := ParseTarget(r.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := SetTarget(ctx, db, r.s, tg); err != nil {
			t.Fatal(err)
		}
	}
	r := report(t, db, Query{Site: "GS Am Park", Window: y})
	got := map[string]string{}
	for _, row := range r.Rows {
		got[row.Device] = string(row.TargetPercent)
	}
	if got["srv1"] != "99.99" || got["printer1"] != "98" {
		t.Fatalf("targets %v, want srv1 99.99 (device rule) and printer1 98 (site+class rule)", got)
	}
	if r.Total.TargetPercent != "99.9" {
		t.Fatalf("site target %s, want the municipality's 99.9", r.Total.TargetPercent)
	}
}

func TestGroupRules(t *testing.T) {
	db := openDB(t)
	day := Window{From: mustTime(t, "2026-05-05T00:00:00Z"), To: mustTime(t, "2026-05-06T00:00:00Z")}
	srv := school(day.From)
	sid := addObject(t, db, srv)
	ap := srv
	ap.Device, ap.Class, ap.Critical = "ap1", "access_point", false
	aid := addObject(t, db, ap)
	sw := srv
	sw.Device, sw.Class = "sw1", "switch"
	wid := addObject(t, db, sw)
	addSpan(t, db, sid, StateDown, mustTime(t, "2026-05-05T10:00:00Z"), mustTime(t, "2026-05-05T11:00:00Z"))
	addSpan(t, db, wid, StateDown, mustTime(t, "2026-05-05T10:30:00Z"), mustTime(t, "2026-05-05T12:00:00Z"))
	addSpan(t, db, aid, StateDown, mustTime(t, "2026-05-05T15:00:00Z"), mustTime(t, "2026-05-05T15:30:00Z"))

	tw := report(t, db, Query{Municipality: "Moers", Window: day, Rule: RuleTimeWeighted})
	if len(tw.Rows) != 1 || tw.Rows[0].Kind != "site" || tw.Rows[0].Rule != RuleTimeWeighted {
		t.Fatalf("rows %+v", tw.Rows)
	}
	row := tw.Rows[0]
	// Members: 3 × 1440 min service; down 60 + 90 + 30 = 180 min.
	if row.ServiceMin != "4320" || row.DownMin != "180" || row.CriticalDownMin != "120" || row.Members != 3 {
		t.Fatalf("time-weighted: service %s down %s critical %s members %d", row.ServiceMin, row.DownMin, row.CriticalDownMin, row.Members)
	}
	ac := report(t, db, Query{Municipality: "Moers", Window: day, Rule: RuleAnyCritical})
	row = ac.Rows[0]
	// The site as one object: down while srv1 or sw1 is down, 10:00–12:00.
	if row.ServiceMin != "1440" || row.DownMin != "120" || row.Outages != 1 || row.Rule != RuleAnyCritical {
		t.Fatalf("any-critical: service %s down %s outages %d rule %s", row.ServiceMin, row.DownMin, row.Outages, row.Rule)
	}
	if ac.RuleText == tw.RuleText {
		t.Fatal("the rule is not explained in the output")
	}
}
