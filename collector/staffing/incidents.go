package staffing

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
)

// SpanIncidents counts outages recorded by the availability engine (its
// av_spans table: one "down" span per outage, counted once at the parent
// when children were unreachable) as on-site incidents. The engine stores
// an outage during planned maintenance as "down" like any other, so the
// maintenance windows (availability.ListMaintenance) are subtracted here:
// an outage entirely inside a window is no incident, one that outlasts it
// counts with its time outside. Outages shorter than the workload
// method's min_outage_minutes resolved themselves and are not counted. It
// answers all sites of one window with one query and caches the result.
type SpanIncidents struct {
	DB *sql.DB

	mu    sync.Mutex
	key   incidentKey
	valid bool
	// counts by site for key
	counts map[int64]int
}

type incidentKey struct {
	from, to, min int64 // ms
}

// OnSiteIncidents implements IncidentCounter.
func (c *SpanIncidents) OnSiteIncidents(ctx context.Context, siteID int64, from, to time.Time, minDuration time.Duration) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := incidentKey{from.UnixMilli(), to.UnixMilli(), minDuration.Milliseconds()}
	if !c.valid || c.key != k {
		counts, err := c.count(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("count incidents: %w", err)
		}
		c.counts, c.key, c.valid = counts, k, true
	}
	return c.counts[siteID], nil
}

func (c *SpanIncidents) count(ctx context.Context, k incidentKey) (map[int64]int, error) {
	var n int
	if err := c.DB.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('av_spans', 'av_objects', 'av_maintenance')`).Scan(&n); err != nil {
		return nil, err
	}
	if n < 3 {
		return nil, fmt.Errorf("the availability engine has recorded no outages yet (table av_spans missing): start the collector once with availability enabled")
	}
	maint, err := availability.ListMaintenance(ctx, c.DB)
	if err != nil {
		return nil, err
	}
	if len(maint) == 0 {
		return c.countPlain(ctx, k)
	}
	return c.countOutsideMaintenance(ctx, k, maint)
}

// countPlain is the common case without maintenance windows: one grouped
// query.
func (c *SpanIncidents) countPlain(ctx context.Context, k incidentKey) (map[int64]int, error) {
	rows, err := c.DB.QueryContext(ctx, `SELECT site_id, count(*) FROM av_spans
		WHERE state='down' AND start_ms >= ? AND start_ms < ? AND (end_ms IS NULL OR end_ms - start_ms >= ?)
		GROUP BY site_id`, k.from, k.to, k.min)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[int64]int{}
	for rows.Next() {
		var site int64
		var n int
		if err := rows.Scan(&site, &n); err != nil {
			return nil, err
		}
		counts[site] = n
	}
	return counts, rows.Err()
}

// countOutsideMaintenance reads each outage with its object (maintenance
// scopes name municipality, site, class, device and check) and counts it
// when the part outside its maintenance windows starts within the window
// and, for a closed outage, lasts at least the minimum. Without windows it
// gives the same answer as countPlain.
func (c *SpanIncidents) countOutsideMaintenance(ctx context.Context, k incidentKey, maint []availability.Maintenance) (map[int64]int, error) {
	rows, err := c.DB.QueryContext(ctx, `SELECT s.site_id, s.start_ms, s.end_ms, o.municipality, o.site, o.class, o.device, o.check_name
		FROM av_spans s JOIN av_objects o ON o.id = s.object_id
		WHERE s.state='down' AND s.start_ms < ? AND (s.end_ms IS NULL OR s.end_ms > ?)`, k.to, k.from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[int64]int{}
	var o availability.Object
	var occ []availability.Interval
	for rows.Next() {
		var site, start int64
		var end sql.NullInt64
		if err := rows.Scan(&site, &start, &end, &o.Municipality, &o.Site, &o.Class, &o.Device, &o.Check); err != nil {
			return nil, err
		}
		stop := k.to // an ongoing outage counts up to the end of the window
		if end.Valid {
			stop = end.Int64
		}
		if stop <= start {
			continue
		}
		occ = occ[:0]
		for i := range maint {
			if maint[i].Scope.Matches(&o) {
				occ = append(occ, maint[i].Occurrences(start, stop)...)
			}
		}
		rest := availability.Set{{Start: start, End: stop}}
		if len(occ) > 0 {
			rest = availability.Subtract(rest, availability.Normalize(occ))
		}
		if len(rest) == 0 || rest[0].Start < k.from || rest[0].Start >= k.to {
			continue
		}
		if end.Valid && rest.Total() < k.min {
			continue
		}
		counts[site]++
	}
	return counts, rows.Err()
}
