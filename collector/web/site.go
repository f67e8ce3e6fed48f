package web

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/events"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
)

type devRow struct {
	tenancy.Device
	Status string
}

type classGroup struct {
	Class   string
	Devices []devRow
	Up      int
	Down    int
}

type portRow struct {
	Device, IfName, Oper string
	InBps, OutBps        string
	Errors               string
	PoE                  string
}

type endpointRow struct {
	MAC, IP, Hostname, Switch, Port string
	LastSeen                        time.Time
}

type siteData struct {
	Site        tenancy.Site
	Groups      []classGroup
	Ports       []portRow
	Outages     []availability.Outage
	Events      []events.Event
	Endpoints   []endpointRow
	Maintenance []availability.Maintenance
	CanManage   bool
	Total, Down int
	// OutageDays and EventDays are the lists' windows.
	OutageDays, EventDays int
}

// The site page lists outages and trap events of these many days.
const (
	siteOutageDays = 30
	siteEventDays  = 7
)

func (u *UI) site(w http.ResponseWriter, r *http.Request) {
	p := sessionFrom(r).User.Principal()
	s, ok := u.siteFor(r.Context(), p, r.PathValue("site"))
	if !ok {
		u.notFound(w, r)
		return
	}
	ctx := r.Context()
	devs, err := u.dir.Devices(ctx, s.ID)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	idx := u.stateIndex(func(id int64) bool { return id == s.ID })
	d := &siteData{Site: s, CanManage: p.CanManageSite(s.ID), Total: len(devs), OutageDays: siteOutageDays, EventDays: siteEventDays}
	byClass := map[string]*classGroup{}
	var switches []tenancy.Device
	for _, dv := range devs {
		g := byClass[dv.Class]
		if g == nil {
			g = &classGroup{Class: dv.Class}
			byClass[dv.Class] = g
		}
		st := u.statusOf(idx, dv)
		g.Devices = append(g.Devices, devRow{Device: dv, Status: st})
		switch bucket(st) {
		case "up":
			g.Up++
		case "down":
			g.Down++
			d.Down++
		}
		if dv.Class == "switch" {
			switches = append(switches, dv)
		}
	}
	for _, c := range tenancy.Classes {
		if g := byClass[c]; g != nil {
			d.Groups = append(d.Groups, *g)
		}
	}
	now := u.now()
	d.Ports = u.ports(ctx, s, switches, now)
	if u.deps.DB != nil {
		d.Outages, err = availability.ListOutages(ctx, u.deps.DB, availability.OutageFilter{Site: s.Name, State: "down", From: now.Add(-siteOutageDays * 24 * time.Hour), To: now, Limit: 50}, now)
		if err != nil {
			u.log.Error("site page: outages", "err", err)
		}
		d.Endpoints = u.endpoints(ctx, s.ID)
		all, err := availability.ListMaintenance(ctx, u.deps.DB)
		if err != nil {
			u.log.Error("site page: maintenance", "err", err)
		}
		for _, m := range all {
			if m.Scope.Site == s.Name || (m.Scope.Site == "" && m.Scope.Municipality == s.Municipality) || m.Scope == (availability.Scope{Class: m.Scope.Class}) {
				d.Maintenance = append(d.Maintenance, m)
			}
		}
	}
	if u.events != nil {
		d.Events, err = u.events.List(ctx, events.Query{SiteID: s.ID, From: now.Add(-siteEventDays * 24 * time.Hour), To: now.Add(time.Minute), Limit: 50})
		if err != nil {
			u.log.Error("site page: events", "err", err)
		}
	}
	u.render(w, r, "site.html", http.StatusOK, page{Nav: "fleet", Title: s.Name, Data: d})
}

// latest returns the last sample of each series of one field, keyed by
// the tag key's value.
func (u *UI) latest(ctx context.Context, s tenancy.Site, dev tenancy.Device, meas, field, tag string, from, to time.Time) map[string]float64 {
	out := map[string]float64{}
	if u.deps.Store == nil {
		return out
	}
	series, err := u.deps.Store.Query(ctx, store.Query{SiteID: s.ID, Site: s.Name, DeviceID: dev.ID, Device: dev.Name, Measurement: meas, Field: field, From: from, To: to})
	if err != nil {
		u.log.Error("site page: query", "measurement", meas, "field", field, "err", err)
		return out
	}
	for _, se := range series {
		if n := len(se.Samples); n > 0 {
			out[se.Tags[tag]] = se.Samples[n-1].Value
		}
	}
	return out
}

// ports lists the switch ports (snmp_if, snmp_poe_port) of up to 20
// switches from their last 30 minutes of data.
func (u *UI) ports(ctx context.Context, s tenancy.Site, switches []tenancy.Device, now time.Time) []portRow {
	var out []portRow
	from, to := now.Add(-30*time.Minute), now.Add(time.Minute)
	for i, sw := range switches {
		if i == 20 {
			break
		}
		oper := u.latest(ctx, s, sw, "snmp_if", "ifOperStatus", "ifName", from, to)
		in := u.latest(ctx, s, sw, "snmp_if", "in_bps", "ifName", from, to)
		outb := u.latest(ctx, s, sw, "snmp_if", "out_bps", "ifName", from, to)
		ie := u.latest(ctx, s, sw, "snmp_if", "ifInErrors", "ifName", from, to)
		oe := u.latest(ctx, s, sw, "snmp_if", "ifOutErrors", "ifName", from, to)
		poe := u.latest(ctx, s, sw, "snmp_poe_port", "delivering", "ifName", from, to)
		names := make([]string, 0, len(oper))
		for n := range oper {
			names = append(names, n)
		}
		sort.Slice(names, func(a, b int) bool { return natLess(names[a], names[b]) })
		for _, n := range names {
			row := portRow{Device: sw.Name, IfName: n, Oper: operStatus(oper[n]), InBps: "—", OutBps: "—", Errors: "—", PoE: "—"}
			if v, ok := in[n]; ok {
				row.InBps = bps(v)
			}
			if v, ok := outb[n]; ok {
				row.OutBps = bps(v)
			}
			if _, ok := ie[n]; ok {
				row.Errors = strconv.FormatInt(int64(ie[n]+oe[n]), 10)
			}
			if v, ok := poe[n]; ok {
				row.PoE = "off"
				if v != 0 {
					row.PoE = "on"
				}
			}
			out = append(out, row)
		}
	}
	return out
}

// natLess sorts "Gi1/0/10" after "Gi1/0/9".
func natLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitsPrefix(a), digitsPrefix(b)
		if da > 0 && db > 0 {
			na, _ := strconv.Atoi(a[:da])
			nb, _ := strconv.Atoi(b[:db])
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitsPrefix(s string) int {
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func operStatus(v float64) string {
	switch int(v) {
	case 1:
		return "up"
	case 2:
		return "down"
	case 5:
		return "dormant"
	case 7:
		return "lowerLayerDown"
	}
	return "unknown"
}

func bps(v float64) string {
	switch {
	case v >= 1e9:
		return fmtFloat(v/1e9, 2) + " Gbit/s"
	case v >= 1e6:
		return fmtFloat(v/1e6, 1) + " Mbit/s"
	case v >= 1e3:
		return fmtFloat(v/1e3, 1) + " kbit/s"
	}
	return fmtFloat(v, 0) + " bit/s"
}

// endpoints reads the end devices the switches' ARP and bridge tables
// revealed (recorded by the staffing package's ingest observer).
func (u *UI) endpoints(ctx context.Context, siteID int64) []endpointRow {
	rows, err := u.deps.DB.QueryContext(ctx, `SELECT mac, ip, hostname, source_switch, port, last_seen FROM staffing_discovered_endpoints
		WHERE site_id=? ORDER BY last_seen DESC, mac LIMIT 500`, siteID)
	if err != nil {
		u.log.Debug("site page: endpoints", "err", err)
		return nil
	}
	defer rows.Close()
	var out []endpointRow
	for rows.Next() {
		var e endpointRow
		var last int64
		if err := rows.Scan(&e.MAC, &e.IP, &e.Hostname, &e.Switch, &e.Port, &last); err != nil {
			u.log.Error("site page: endpoints", "err", err)
			return out
		}
		e.LastSeen = unixAny(last)
		out = append(out, e)
	}
	return out
}

// unixAny reads a stored time in s, ms or ns since the epoch.
func unixAny(v int64) time.Time {
	switch {
	case v > 1e17:
		return time.Unix(0, v)
	case v > 1e14:
		return time.UnixMicro(v)
	case v > 1e11:
		return time.UnixMilli(v)
	}
	return time.Unix(v, 0)
}
