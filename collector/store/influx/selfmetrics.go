package influx

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

// SelfMeasurement is the collector's own metrics in InfluxDB.
const SelfMeasurement = "schulmon_collector"

// selfFields maps Prometheus metrics of the collector's registry to fields
// of SelfMeasurement (docs/schema.md lists them with units).
var selfFields = map[string]string{
	"schulmon_collector_points_written_total": "points_written",
	"go_goroutines":                 "goroutines",
	"process_resident_memory_bytes": "rss_bytes",
	"process_cpu_seconds_total":     "cpu_s",
	"process_open_fds":              "open_fds",
}

// SelfMetricsJob returns a server job that writes one SelfMeasurement point
// per run: write requests by status class, points written, write latency,
// process figures and this store's queue, tagged with host.
func (s *Store) SelfMetricsJob(reg prometheus.Gatherer, started time.Time) func(ctx context.Context, now time.Time) error {
	host, _ := os.Hostname()
	return func(ctx context.Context, now time.Time) error {
		p, err := s.selfPoint(reg, host, started, now)
		if err != nil {
			return err
		}
		return s.WriteMetricPoints(ctx, []metric.Point{p})
	}
}

func (s *Store) selfPoint(reg prometheus.Gatherer, host string, started, now time.Time) (metric.Point, error) {
	fields := map[string]metric.Value{"uptime_s": metric.Float(now.Sub(started).Seconds()), "version": metric.String(metric.Version)}
	mfs, err := reg.Gather()
	if err != nil {
		return metric.Point{}, fmt.Errorf("gather collector metrics: %w", err)
	}
	var req2, req4, req5 int64
	for _, mf := range mfs {
		name := mf.GetName()
		if f, ok := selfFields[name]; ok && len(mf.Metric) > 0 {
			fields[f] = metric.Float(value(mf.Metric[0]))
		}
		switch name {
		case "schulmon_collector_write_requests_total":
			for _, m := range mf.Metric {
				for _, l := range m.Label {
					if l.GetName() == "code" {
						n := int64(value(m))
						switch {
						case strings.HasPrefix(l.GetValue(), "2"):
							req2 += n
						case strings.HasPrefix(l.GetValue(), "4"):
							req4 += n
						case strings.HasPrefix(l.GetValue(), "5"):
							req5 += n
						}
					}
				}
			}
		case "schulmon_collector_write_duration_seconds":
			if len(mf.Metric) > 0 && mf.Metric[0].Histogram != nil {
				h := mf.Metric[0].Histogram
				fields["write_requests_acked"] = metric.Int(int64(h.GetSampleCount()))
				fields["write_duration_sum_s"] = metric.Float(h.GetSampleSum())
			}
		}
	}
	fields["write_requests_2xx"] = metric.Int(req2)
	fields["write_requests_4xx"] = metric.Int(req4)
	fields["write_requests_5xx"] = metric.Int(req5)
	st := s.Stats()
	fields["influx_written_points"] = metric.Int(int64(st.WrittenPoints))
	fields["influx_queued_points"] = metric.Int(int64(st.QueuedPoints))
	fields["influx_replayed_points"] = metric.Int(int64(st.ReplayedPoints))
	fields["influx_rejected_points"] = metric.Int(int64(st.RejectedPoints))
	fields["influx_dropped_points"] = metric.Int(int64(st.DroppedPoints))
	fields["influx_write_errors"] = metric.Int(int64(st.WriteErrors))
	fields["influx_queue_full_refusals"] = metric.Int(int64(st.FullRefusals))
	fields["queue_points"] = metric.Int(st.PendingPoints)
	fields["queue_bytes"] = metric.Int(st.QueueBytes)
	fields["influx_healthy"] = metric.Bool(st.Healthy)
	return metric.NewPoint(SelfMeasurement, map[string]string{"host": host}, fields, now.UTC()), nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// WriteMetricPoints writes points the collector produced itself (self
// metrics, availability and staffing exports) through Write. Their tags
// are written as given; municipality, site, device and class, if present,
// become the trusted tags.
func (s *Store) WriteMetricPoints(ctx context.Context, pts []metric.Point) error {
	return s.Write(ctx, StorePoints(pts))
}

// StorePoints converts owned points into store points for Store.Write.
func StorePoints(pts []metric.Point) []store.Point {
	out := make([]store.Point, len(pts))
	for i := range pts {
		p := &pts[i]
		row := &metric.Row{Measurement: []byte(p.Measurement), Time: p.Time.UnixNano()}
		sp := store.Point{Row: row}
		for _, t := range p.Tags {
			switch t.Key {
			case "municipality":
				sp.Municipality = t.Value
			case "site":
				sp.Site = t.Value
			case "device":
				sp.Device = t.Value
			case "class":
				sp.Class = t.Value
			default:
				row.Tags = append(row.Tags, metric.RawTag{Key: []byte(t.Key), Value: []byte(t.Value)})
			}
		}
		for _, f := range p.Fields {
			rf := metric.RawField{Key: []byte(f.Key), Kind: f.Value.Kind()}
			switch f.Value.Kind() {
			case metric.KindFloat:
				rf.Num = math.Float64bits(f.Value.FloatValue())
			case metric.KindInt:
				rf.Num = uint64(f.Value.IntValue())
			case metric.KindUint:
				rf.Num = f.Value.UintValue()
			case metric.KindBool:
				if f.Value.BoolValue() {
					rf.Num = 1
				}
			case metric.KindString:
				rf.Str = []byte(f.Value.StringValue())
			default:
				continue
			}
			row.Fields = append(row.Fields, rf)
		}
		out[i] = sp
	}
	return out
}

// Describe and Collect export the store's counters to Prometheus.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range promDescs {
		ch <- d
	}
}

var promDescs = []*prometheus.Desc{
	prometheus.NewDesc("schulmon_influx_written_points_total", "Points InfluxDB accepted (direct and from the queue).", nil, nil),
	prometheus.NewDesc("schulmon_influx_queued_points_total", "Points put into the on-disk queue because InfluxDB did not take them.", nil, nil),
	prometheus.NewDesc("schulmon_influx_replayed_points_total", "Points written from the on-disk queue.", nil, nil),
	prometheus.NewDesc("schulmon_influx_rejected_points_total", "Points InfluxDB refused as invalid (400/413/422) after splitting the request; not retried.", nil, nil),
	prometheus.NewDesc("schulmon_influx_dropped_points_total", "Queued (already acknowledged) points InfluxDB refused for good and the queue dropped; each drop is a schulmon_influx_rejected event.", nil, nil),
	prometheus.NewDesc("schulmon_influx_write_errors_total", "Failed requests to InfluxDB.", nil, nil),
	prometheus.NewDesc("schulmon_influx_queue_full_total", "Writes refused with 503 because the queue was full.", nil, nil),
	prometheus.NewDesc("schulmon_influx_queue_points", "Points waiting in the on-disk queue.", nil, nil),
	prometheus.NewDesc("schulmon_influx_queue_bytes", "Size of the on-disk queue.", nil, nil),
	prometheus.NewDesc("schulmon_influx_healthy", "1 if the last request to InfluxDB succeeded.", nil, nil),
}

func (s *Store) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	healthy := 0.0
	if st.Healthy {
		healthy = 1
	}
	vals := []float64{float64(st.WrittenPoints), float64(st.QueuedPoints), float64(st.ReplayedPoints), float64(st.RejectedPoints), float64(st.DroppedPoints),
		float64(st.WriteErrors), float64(st.FullRefusals), float64(st.PendingPoints), float64(st.QueueBytes), healthy}
	for i, d := range promDescs {
		t := prometheus.CounterValue
		if i >= 7 { // after the counters
			t = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(d, t, vals[i])
	}
}
