package influx

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/store"
)

// Query reads one field of a device's measurement with Flux. With a Step
// the samples are the mean per step, stamped with the step's start (as the
// embedded store does).
func (s *Store) Query(ctx context.Context, q store.Query) ([]store.Series, error) {
	if q.Device == "" || q.Measurement == "" || q.Field == "" {
		return nil, fmt.Errorf("query needs a device name, a measurement and a field")
	}
	if !q.To.After(q.From) {
		return nil, fmt.Errorf("query range is empty: from %s is not before to %s", q.From, q.To)
	}
	flux := BuildQuery(s.opt.Bucket, q)
	res, err := s.query.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("query InfluxDB %s.%s of %s: %w", q.Measurement, q.Field, q.Device, err)
	}
	defer res.Close()
	byTable := map[int]*store.Series{}
	var order []int
	for res.Next() {
		rec := res.Record()
		v, ok := asFloat(rec.Value())
		if !ok {
			continue
		}
		sr := byTable[rec.Table()]
		if sr == nil {
			sr = &store.Series{Measurement: q.Measurement, Field: q.Field, Tags: map[string]string{}}
			for k, val := range rec.Values() {
				if strings.HasPrefix(k, "_") || k == "result" || k == "table" || k == "municipality" || k == "class" {
					continue
				}
				if sv, ok := val.(string); ok && sv != "" {
					sr.Tags[k] = sv
				}
			}
			byTable[rec.Table()] = sr
			order = append(order, rec.Table())
		}
		sr.Samples = append(sr.Samples, store.Sample{Time: rec.Time().UTC(), Value: v})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("read InfluxDB result of %s.%s of %s: %w", q.Measurement, q.Field, q.Device, err)
	}
	out := make([]store.Series, 0, len(order))
	for _, t := range order {
		out = append(out, *byTable[t])
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i].Tags) < fmt.Sprint(out[j].Tags) })
	return out, nil
}

// BuildQuery returns the Flux query Query runs.
func BuildQuery(bucket string, q store.Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "from(bucket: %s)\n  |> range(start: %s, stop: %s)\n", FluxString(bucket), q.From.UTC().Format(time.RFC3339Nano), q.To.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "  |> filter(fn: (r) => r._measurement == %s and r._field == %s and r.device == %s", FluxString(q.Measurement), FluxString(q.Field), FluxString(q.Device))
	if q.Site != "" {
		fmt.Fprintf(&b, " and r.site == %s", FluxString(q.Site))
	}
	b.WriteString(")\n")
	if q.Step > 0 {
		fmt.Fprintf(&b, "  |> toFloat()\n  |> aggregateWindow(every: %s, fn: mean, createEmpty: false, timeSrc: \"_start\")\n", FluxDuration(q.Step))
	}
	return b.String()
}

// FluxString quotes s as a Flux string literal.
func FluxString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`)
	return `"` + r.Replace(s) + `"`
}

// FluxDuration writes d as a Flux duration literal.
func FluxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Nanoseconds(), 10) + "ns"
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
