package staffing

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// SpanIncidents counts outages recorded by the availability engine (its
// av_spans table: one "down" span per outage, counted once at the parent
// when children were unreachable, maintenance excluded) as on-site
// incidents. Outages shorter than MinDuration resolved themselves and are
// not counted. It answers all sites of one window with a single grouped
// query and caches the result.
type SpanIncidents struct {
	DB          *sql.DB
	MinDuration time.Duration

	mu     sync.Mutex
	window [2]int64
	counts map[int64]int
}

// OnSiteIncidents implements IncidentCounter.
func (c *SpanIncidents) OnSiteIncidents(ctx context.Context, siteID int64, from, to time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := [2]int64{from.UnixMilli(), to.UnixMilli()}
	if c.counts == nil || c.window != w {
		var n int
		if err := c.DB.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='av_spans'`).Scan(&n); err != nil {
			return 0, fmt.Errorf("count incidents: %w", err)
		}
		if n == 0 {
			return 0, fmt.Errorf("count incidents: the availability engine has recorded no outages yet (table av_spans missing)")
		}
		rows, err := c.DB.QueryContext(ctx, `SELECT site_id, count(*) FROM av_spans
			WHERE state='down' AND start_ms >= ? AND start_ms < ? AND (end_ms IS NULL OR end_ms - start_ms >= ?)
			GROUP BY site_id`, w[0], w[1], c.MinDuration.Milliseconds())
		if err != nil {
			return 0, fmt.Errorf("count incidents: %w", err)
		}
		defer rows.Close()
		counts := map[int64]int{}
		for rows.Next() {
			var site int64
			var k int
			if err := rows.Scan(&site, &k); err != nil {
				return 0, fmt.Errorf("count incidents: %w", err)
			}
			counts[site] = k
		}
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("count incidents: %w", err)
		}
		c.counts, c.window = counts, w
	}
	return c.counts[siteID], nil
}
