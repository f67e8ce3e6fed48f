package web

import (
	"net/http"
	"sort"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/events"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// chartMetric is one metric the device page can chart.
type chartMetric struct {
	Key, Measurement, Field, Unit string
}

// chartMetrics are host metrics (Telegraf names) and SNMP metrics.
var chartMetrics = []chartMetric{
	{"cpu", "cpu", "usage_user", "%"},
	{"cpu_system", "cpu", "usage_system", "%"},
	{"mem", "mem", "used_percent", "%"},
	{"disk", "disk", "used_percent", "%"},
	{"load", "system", "load1", ""},
	{"net_in", "net", "bytes_recv", "B"},
	{"net_out", "net", "bytes_sent", "B"},
	{"uptime", "schulmon_agent", "uptime_s", "s"},
	{"poll", "snmp_poll", "duration_s", "s"},
	{"reachable", "snmp_poll", "reachable", ""},
	{"if_in", "snmp_if", "in_bps", "bit/s"},
	{"if_out", "snmp_if", "out_bps", "bit/s"},
	{"if_errors", "snmp_if", "ifInErrors", ""},
	{"hr_cpu", "snmp_hr_cpu", "load", "%"},
	{"check", "check", "status", ""},
}

type chartRange struct {
	Key  string
	From time.Duration
	Step time.Duration
}

var chartRanges = []chartRange{
	{"1h", time.Hour, 0},
	{"6h", 6 * time.Hour, time.Minute},
	{"24h", 24 * time.Hour, 5 * time.Minute},
	{"7d", 7 * 24 * time.Hour, 30 * time.Minute},
	{"30d", 30 * 24 * time.Hour, 2 * time.Hour},
}

type checkRow struct {
	Name, State string
	// Since is when the current state began; for an up check without an
	// open span, the end of its last listed outage.
	Since time.Time
	// Quiet: up, and no outage in the listed days.
	Quiet bool
}

// The device page lists outages and trap events of these many days (its
// headings say so).
const (
	deviceOutageDays = 90
	deviceEventDays  = 30
)

type deviceData struct {
	Site    tenancy.Site
	Device  tenancy.Device
	Status  string
	Metrics []chartMetric
	Ranges  []chartRange
	Metric  chartMetric
	Range   chartRange
	Outages []availability.Outage
	Events  []events.Event
	Checks  []checkRow
	// OutageDays and EventDays are the lists' windows.
	OutageDays, EventDays int
}

func (u *UI) device(w http.ResponseWriter, r *http.Request) {
	p := sessionFrom(r).User.Principal()
	s, ok := u.siteFor(r.Context(), p, r.PathValue("site"))
	if !ok {
		u.notFound(w, r)
		return
	}
	ctx := r.Context()
	dev, err := u.dir.DeviceByName(ctx, s.ID, r.PathValue("device"))
	if err != nil {
		u.notFound(w, r)
		return
	}
	d := &deviceData{Site: s, Device: dev, Metrics: chartMetrics, Ranges: chartRanges, Metric: chartMetrics[0], Range: chartRanges[1],
		OutageDays: deviceOutageDays, EventDays: deviceEventDays}
	if dev.Class != "server" && dev.Class != "endpoint" {
		d.Metric = chartMetrics[8] // SNMP devices: poll duration
	}
	for _, m := range chartMetrics {
		if m.Key == r.URL.Query().Get("metric") {
			d.Metric = m
		}
	}
	for _, rg := range chartRanges {
		if rg.Key == r.URL.Query().Get("range") {
			d.Range = rg
		}
	}
	u.mu.Lock()
	src := u.states
	u.mu.Unlock()
	d.Status = u.api.StatusOf(dev)
	if src != nil {
		d.Status = string(availability.StateUnknown)
		for _, st := range src.States(func(o *availability.Object) bool { return o.SiteID == s.ID && o.Device == dev.Name }) {
			if st.Object.Check == "" {
				d.Status = string(st.State)
			} else {
				d.Checks = append(d.Checks, checkRow{Name: st.Object.Check, State: string(st.State), Since: st.Since})
			}
		}
		sort.Slice(d.Checks, func(a, b int) bool { return d.Checks[a].Name < d.Checks[b].Name })
	}
	now := u.now()
	if u.deps.DB != nil {
		d.Outages, err = availability.ListOutages(ctx, u.deps.DB, availability.OutageFilter{Site: s.Name, Device: dev.Name, State: "down", From: now.Add(-deviceOutageDays * 24 * time.Hour), To: now, Limit: 100}, now)
		if err != nil {
			u.log.Error("device page: outages", "err", err)
		}
	}
	d.Checks = checksSince(d.Checks, d.Outages)
	if u.events != nil {
		d.Events, err = u.events.List(ctx, events.Query{SiteID: s.ID, Device: dev.Name, From: now.Add(-deviceEventDays * 24 * time.Hour), To: now.Add(time.Minute), Limit: 100})
		if err != nil {
			u.log.Error("device page: events", "err", err)
		}
	}
	u.render(w, r, "device.html", http.StatusOK, page{Nav: "fleet", Title: dev.Name, Data: d})
}

// checksSince fills the "since" of up checks the engine gives no start
// for (it has no open span for them): the end of the check's last listed
// outage, or Quiet when there was none.
func checksSince(checks []checkRow, outages []availability.Outage) []checkRow {
	for i := range checks {
		c := &checks[i]
		if !c.Since.IsZero() || c.State != string(availability.StateUp) {
			continue
		}
		for _, o := range outages {
			if o.Check == c.Name && o.End != nil && o.End.After(c.Since) {
				c.Since = *o.End
			}
		}
		c.Quiet = c.Since.IsZero()
	}
	return checks
}
