// Package export writes what the collector computes — availability states,
// daily and monthly availability per object and group, outages, and the
// staffing model's results — into the metric store as points, so that
// Grafana dashboards on InfluxDB can show them. The measurements are
// documented in docs/schema.md.
//
// Every run rewrites the current day's and month's figures (and, after
// midnight, the previous day's and month's): the same series and timestamp
// overwrite the older value in InfluxDB, so the export is idempotent.
package export

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/store/influx"
	"github.com/schulmon/schulmon/metric"
)

// Writer is where the points go (influx.Store implements it).
type Writer interface {
	WriteMetricPoints(ctx context.Context, pts []metric.Point) error
}

// StateSource gives the current state of every object (the availability
// engine implements it).
type StateSource interface {
	States(match func(*availability.Object) bool) []availability.ObjectState
}

// Exporter exports availability and staffing figures.
type Exporter struct {
	DB     *sql.DB
	Writer Writer
	// States is optional: without it no availability_state is written.
	States StateSource
	// Staffing is optional: without it no staffing points are written.
	Staffing *staffing.Handler
	// Loc cuts days and months (default Europe/Berlin).
	Loc *time.Location
	Log *slog.Logger

	mu      sync.Mutex
	lastDay time.Time
}

// Measurements the exporter writes.
const (
	MeasState   = "availability_state"
	MeasDaily   = "availability_daily"
	MeasMonthly = "availability_monthly"
	MeasOutage  = "outage"
	MeasStaff   = "staffing"
)

// Run exports everything once; it is a server job.
func (e *Exporter) Run(ctx context.Context, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	loc := e.Loc
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation("Europe/Berlin"); err != nil {
			loc = time.UTC
		}
	}
	var pts []metric.Point
	var errs []error
	if e.States != nil {
		pts = append(pts, StatePoints(e.States.States(nil), now)...)
	}
	local := now.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	month := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
	windows := []availability.Window{{Label: "day", From: day, To: day.AddDate(0, 0, 1)}, {Label: "month", From: month, To: month.AddDate(0, 1, 0)}}
	if !e.lastDay.Equal(day) {
		// First run, or a new day: finish the previous day and month.
		prev := day.AddDate(0, 0, -1)
		windows = append(windows, availability.Window{Label: "day", From: prev, To: day})
		if prev.Before(month) {
			windows = append(windows, availability.Window{Label: "month", From: month.AddDate(0, -1, 0), To: month})
		}
	}
	for _, w := range windows {
		p, err := e.availabilityPoints(ctx, w, now)
		if err != nil {
			errs = append(errs, err)
		}
		pts = append(pts, p...)
	}
	outages, err := availability.ListOutages(ctx, e.DB, availability.OutageFilter{From: day.AddDate(0, 0, -1), To: now, State: "down", Limit: 100000}, now)
	if err != nil {
		errs = append(errs, fmt.Errorf("list outages for export: %w", err))
	}
	pts = append(pts, OutagePoints(outages)...)
	if e.Staffing != nil {
		rep, err := e.Staffing.Compute(ctx, nil, staffing.Options{Now: now})
		if err != nil {
			errs = append(errs, fmt.Errorf("compute staffing for export: %w", err))
		} else {
			pts = append(pts, StaffingPoints(rep, now)...)
		}
	}
	if len(pts) > 0 {
		if err := e.Writer.WriteMetricPoints(ctx, pts); err != nil {
			errs = append(errs, fmt.Errorf("write %d exported points: %w", len(pts), err))
		}
	}
	if len(errs) == 0 {
		e.lastDay = day
	}
	return errors.Join(errs...)
}

func (e *Exporter) availabilityPoints(ctx context.Context, w availability.Window, now time.Time) ([]metric.Point, error) {
	meas := MeasDaily
	if w.Label == "month" {
		meas = MeasMonthly
	}
	var pts []metric.Point
	for i, level := range []string{"object", "site", "municipality"} {
		rep, err := availability.BuildReport(ctx, e.DB, availability.Query{Window: w, GroupBy: level, Now: now})
		if err != nil {
			return pts, fmt.Errorf("availability report by %s for %s–%s: %w", level, w.From.Format(time.DateOnly), w.To.Format(time.DateOnly), err)
		}
		for _, r := range rep.Rows {
			pts = append(pts, ReportPoint(meas, level, &r, w.From))
		}
		if i == 0 && rep.Total.Members > 0 {
			pts = append(pts, ReportPoint(meas, "all", &rep.Total, w.From))
		}
	}
	return pts, nil
}

// ReportPoint turns one availability report row into a point.
func ReportPoint(meas, level string, r *availability.Row, at time.Time) metric.Point {
	tags := map[string]string{"level": level}
	set := func(k, v string) {
		if v != "" {
			tags[k] = v
		}
	}
	switch level {
	case "object":
		set("municipality", r.Municipality)
		set("site", r.Site)
		set("device", r.Device)
		set("class", r.Class)
		set("check", r.Check)
	case "site":
		set("municipality", r.Municipality)
		set("site", firstNonEmpty(r.Site, r.Name))
	case "municipality":
		set("municipality", firstNonEmpty(r.Municipality, r.Name))
	}
	mins := func(ms int64) metric.Value { return metric.Float(float64(ms) / 60000) }
	fields := map[string]metric.Value{
		"service_min":     mins(r.ServiceMS),
		"up_min":          mins(r.UpMS),
		"down_min":        mins(r.DownMS),
		"unknown_min":     mins(r.UnknownMS),
		"unreachable_min": mins(r.UnreachableMS),
		"maintenance_min": mins(r.MaintenanceMS),
		"outages":         metric.Int(int64(r.Outages)),
	}
	num := func(k string, n json.Number) {
		if f, err := strconv.ParseFloat(string(n), 64); err == nil && n != "" {
			fields[k] = metric.Float(f)
		}
	}
	if r.AvailabilityPercent != nil {
		num("availability_pct", *r.AvailabilityPercent)
	}
	num("target_pct", r.TargetPercent)
	num("budget_allowed_min", r.BudgetAllowedMin)
	num("budget_used_min", r.BudgetUsedMin)
	num("budget_remaining_min", r.BudgetRemainingMin)
	if r.Met != nil {
		fields["met"] = metric.Bool(*r.Met)
	}
	allowed, _ := strconv.ParseFloat(string(r.BudgetAllowedMin), 64)
	remaining, _ := strconv.ParseFloat(string(r.BudgetRemainingMin), 64)
	if allowed > 0 {
		fields["budget_remaining_pct"] = metric.Float(100 * remaining / allowed)
	}
	if r.Members > 0 {
		fields["members"] = metric.Int(int64(r.Members))
	}
	return metric.NewPoint(meas, tags, fields, at.UTC())
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

var stateCodes = map[availability.State]int64{
	availability.StateUp: 0, availability.StateDown: 1, availability.StateUnreachable: 2,
	availability.StateUnknown: 3, availability.StateMaintenance: 4,
}

// StatePoints turns the engine's current states into availability_state
// points at now.
func StatePoints(states []availability.ObjectState, now time.Time) []metric.Point {
	pts := make([]metric.Point, 0, len(states))
	for _, s := range states {
		o := s.Object
		tags := map[string]string{"municipality": o.Municipality, "site": o.Site, "device": o.Device, "class": o.Class}
		if o.Check != "" {
			tags["check"] = o.Check
		}
		down := int64(0)
		if s.State == availability.StateDown {
			down = 1
		}
		code, ok := stateCodes[s.State]
		if !ok {
			code = 3
		}
		fields := map[string]metric.Value{
			"state": metric.String(string(s.State)), "state_code": metric.Int(code),
			"down": metric.Int(down), "critical": metric.Bool(o.Critical),
		}
		if !s.Since.IsZero() {
			fields["since_s"] = metric.Float(now.Sub(s.Since).Seconds())
		}
		pts = append(pts, metric.NewPoint(MeasState, tags, fields, now.UTC()))
	}
	return pts
}

// OutagePoints turns outages into points stamped with their start.
func OutagePoints(list []availability.Outage) []metric.Point {
	pts := make([]metric.Point, 0, len(list))
	for _, o := range list {
		tags := map[string]string{"municipality": o.Municipality, "site": o.Site, "device": o.Device, "class": o.Class}
		if o.Check != "" {
			tags["check"] = o.Check
		}
		if o.Cause != "" {
			tags["cause"] = string(o.Cause)
		}
		var end int64
		if o.End != nil {
			end = o.End.Unix()
		}
		pts = append(pts, metric.NewPoint(MeasOutage, tags, map[string]metric.Value{
			"duration_s": metric.Float(o.DurationSeconds), "ongoing": metric.Bool(o.Ongoing),
			"end_unix_s": metric.Int(end), "affected_children": metric.Int(int64(len(o.AffectedChildren))),
		}, o.Start.UTC()))
	}
	return pts
}

// StaffingPoints turns a staffing report into points at now: one per
// method for the total, every municipality and every site.
func StaffingPoints(rep *staffing.Report, now time.Time) []metric.Point {
	var pts []metric.Point
	add := func(level string, tags map[string]string, contracted float64, devices, endpoints int, figs []staffing.Figure) {
		for _, f := range figs {
			t := map[string]string{"level": level, "method": f.Method}
			for k, v := range tags {
				if v != "" {
					t[k] = v
				}
			}
			pts = append(pts, metric.NewPoint(MeasStaff, t, map[string]metric.Value{
				"fte": metric.Float(f.FTE), "fte_contract": metric.Float(f.FTEContract),
				"person_days": metric.Float(f.PersonDays), "person_days_contract": metric.Float(f.PersonDaysContract),
				"cost_eur": metric.Float(f.CostEUR), "cost_contract_eur": metric.Float(f.CostContractEUR),
				"market_min_eur": metric.Float(f.MarketMinEUR), "market_max_eur": metric.Float(f.MarketMaxEUR),
				"contracted_person_days": metric.Float(contracted), "gap_person_days": metric.Float(f.GapPersonDays),
				"devices": metric.Int(int64(devices)), "endpoints": metric.Int(int64(endpoints)),
			}, now.UTC()))
		}
	}
	add("total", nil, rep.Total.ContractedPersonDays, rep.Total.Devices.Total(), rep.Total.Devices[staffing.ClassEndpoint], rep.Total.Figures)
	for _, m := range rep.Municipalities {
		add("municipality", map[string]string{"municipality": m.Municipality}, m.ContractedPersonDays, m.Devices.Total(), m.Devices[staffing.ClassEndpoint], m.Figures)
	}
	for _, s := range rep.Sites {
		add("site", map[string]string{"municipality": s.Municipality, "site": s.Name}, s.ContractedPersonDays, s.Devices.Total(), s.Devices[staffing.ClassEndpoint], s.Figures)
	}
	return pts
}

// Attach adds the export job to a collector whose store is InfluxDB (it
// does nothing for the embedded store, which the web UI and reports read
// directly). att may be nil (availability disabled): then only outages
// and staffing are exported.
func Attach(ctx context.Context, srv *server.Server, att *avserver.Attached, cfg config.Config) (*Exporter, error) {
	st, ok := srv.Store.(*influx.Store)
	if !ok {
		return nil, nil
	}
	tz := cfg.Availability.TZ
	if tz == "" {
		tz = "Europe/Berlin"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("availability.tz: %w", err)
	}
	e := &Exporter{DB: srv.MetaDB, Writer: st, Loc: loc, Log: srv.Log}
	if att != nil && att.Engine != nil {
		e.States = att.Engine
	}
	if err := availability.Migrate(ctx, srv.MetaDB); err != nil {
		return nil, fmt.Errorf("export: availability tables: %w", err)
	}
	// The same figures as the API and the planner's page.
	e.Staffing = srv.Staffing
	if e.Staffing == nil {
		sst, err := staffing.NewStore(ctx, srv.MetaDB)
		if err != nil {
			return nil, fmt.Errorf("export: staffing tables: %w", err)
		}
		e.Staffing = &staffing.Handler{Store: sst, Incidents: &staffing.SpanIncidents{DB: srv.MetaDB}, Log: srv.Log}
	}
	srv.AddJob("influx-export", cfg.Storage.InfluxDB.ExportInterval, e.Run)
	return e, nil
}
