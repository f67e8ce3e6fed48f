package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

// Query reads one field of a device's measurement. Steps of five minutes
// or more read the rollups (which reach back two years) up to the rollup
// watermark and raw points after it, so that a chart of a day also shows
// the last minutes, which are not rolled up yet; shorter steps read raw
// points.
func (s *Store) Query(ctx context.Context, q store.Query) ([]store.Series, error) {
	if q.DeviceID == 0 || q.Measurement == "" || q.Field == "" {
		return nil, fmt.Errorf("query needs a device, a measurement and a field")
	}
	if !q.To.After(q.From) {
		return nil, fmt.Errorf("query range is empty: from %s is not before to %s", q.From, q.To)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, tags FROM series WHERE device_id=? AND measurement=?`, q.DeviceID, q.Measurement)
	if err != nil {
		return nil, fmt.Errorf("find series: %w", err)
	}
	bySeries := map[int64]*store.Series{}
	var ids []string
	for rows.Next() {
		var id int64
		var tj string
		if err := rows.Scan(&id, &tj); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find series: %w", err)
		}
		sr := &store.Series{Measurement: q.Measurement, Field: q.Field, Tags: map[string]string{}}
		if err := json.Unmarshal([]byte(tj), &sr.Tags); err != nil {
			rows.Close()
			return nil, fmt.Errorf("series %d has corrupt tags: %w", id, err)
		}
		sr.Tags["site"], sr.Tags["device"] = q.Site, q.Device
		bySeries[id] = sr
		ids = append(ids, fmt.Sprint(id))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return []store.Series{}, nil
	}
	in := strings.Join(ids, ",")
	if q.Step >= rollupStep {
		// Split at a step boundary, so that no step is half rollups and
		// half raw points.
		split := s.wm.Load()
		split -= split % q.Step.Nanoseconds()
		split -= split % rollupStep.Nanoseconds()
		ro, raw := q, q
		if t := time.Unix(0, split); t.Before(q.To) {
			ro.To = t
		}
		if t := time.Unix(0, split); t.After(q.From) {
			raw.From = t
		}
		if ro.To.After(ro.From) {
			err = s.queryRollups(ctx, ro, in, bySeries)
		}
		if err == nil && raw.To.After(raw.From) {
			err = s.queryRaw(ctx, raw, in, bySeries)
		}
	} else {
		err = s.queryRaw(ctx, q, in, bySeries)
	}
	if err != nil {
		return nil, err
	}
	out := make([]store.Series, 0, len(bySeries))
	for _, sr := range bySeries {
		if len(sr.Samples) > 0 {
			out = append(out, *sr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i].Tags) < fmt.Sprint(out[j].Tags) })
	return out, nil
}

func (s *Store) queryRaw(ctx context.Context, q store.Query, in string, bySeries map[int64]*store.Series) error {
	rows, err := s.db.QueryContext(ctx, `SELECT time, series_id, fields FROM points WHERE time >= ? AND time < ? AND series_id IN (`+in+`) ORDER BY time`,
		q.From.UnixNano(), q.To.UnixNano())
	if err != nil {
		return fmt.Errorf("read points: %w", err)
	}
	defer rows.Close()
	type acc struct {
		bucket int64
		sum    float64
		n      int
	}
	accs := map[int64]*acc{}
	step := q.Step.Nanoseconds()
	for rows.Next() {
		var t, id int64
		var blob []byte
		if err := rows.Scan(&t, &id, &blob); err != nil {
			return fmt.Errorf("read points: %w", err)
		}
		var v float64
		var found bool
		if err := eachField(blob, func(key []byte, kind metric.Kind, num uint64, _ []byte) bool {
			if string(key) == q.Field {
				v, found = numeric(kind, num)
				return false
			}
			return true
		}); err != nil {
			return fmt.Errorf("read point of series %d at %d: %w", id, t, err)
		}
		if !found {
			continue
		}
		sr := bySeries[id]
		if step <= 0 {
			sr.Samples = append(sr.Samples, store.Sample{Time: time.Unix(0, t).UTC(), Value: v})
			continue
		}
		b := t - t%step
		a := accs[id]
		if a == nil || a.bucket != b {
			if a != nil && a.n > 0 {
				sr.Samples = append(sr.Samples, store.Sample{Time: time.Unix(0, a.bucket).UTC(), Value: a.sum / float64(a.n)})
			}
			a = &acc{bucket: b}
			accs[id] = a
		}
		a.sum += v
		a.n++
	}
	for id, a := range accs {
		if a.n > 0 {
			bySeries[id].Samples = append(bySeries[id].Samples, store.Sample{Time: time.Unix(0, a.bucket).UTC(), Value: a.sum / float64(a.n)})
		}
	}
	return rows.Err()
}

// rollupQuerySQL reads one field of some series from the rollups: a
// recursive list of the buckets in range, and for each an index seek per
// series. The rollups are keyed by bucket first (so that they are written
// as appends), and a plain range on bucket would read every series of
// every bucket: three million rows a bucket at 10,000 schools. CROSS JOIN
// keeps SQLite from turning the join around. Arguments: first bucket,
// bucket step, end, chart step, field.
func rollupQuerySQL(seriesIDs string) string {
	return strings.Replace(rollupQueryTemplate, "$series", seriesIDs, 1)
}

const rollupQueryTemplate = `WITH RECURSIVE b(x) AS (SELECT ?1 UNION ALL SELECT x + ?2 FROM b WHERE x + ?2 < ?3)
	SELECT r.series_id, r.bucket - r.bucket % ?4, sum(r.sum) / sum(r.count) FROM b CROSS JOIN rollups r
	WHERE r.bucket = b.x AND r.field = ?5 AND r.series_id IN ($series) GROUP BY 1, 2 ORDER BY 1, 2`

func (s *Store) queryRollups(ctx context.Context, q store.Query, in string, bySeries map[int64]*store.Series) error {
	from, to := q.From.UnixNano(), q.To.UnixNano()
	first := bucketOf(from)
	if first < from {
		first += rollupStep.Nanoseconds()
	}
	if first >= to {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, rollupQuerySQL(in), first, rollupStep.Nanoseconds(), to, q.Step.Nanoseconds(), q.Field)
	if err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, b int64
		var v float64
		if err := rows.Scan(&id, &b, &v); err != nil {
			return fmt.Errorf("read rollups: %w", err)
		}
		bySeries[id].Samples = append(bySeries[id].Samples, store.Sample{Time: time.Unix(0, b).UTC(), Value: v})
	}
	return rows.Err()
}
