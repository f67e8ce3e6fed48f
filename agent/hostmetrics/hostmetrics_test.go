package hostmetrics

import (
	"context"
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/schulmon/schulmon/metric"
)

func collect(t *testing.T, c Collector) []metric.Point {
	t.Helper()
	var pts []metric.Point
	if err := c.Collect(context.Background(), time.Now(), func(p metric.Point) { pts = append(pts, p) }); err != nil {
		t.Fatalf("%s: %v", c.Name(), err)
	}
	return pts
}

func TestCPUUsageAddsUpAfterPriming(t *testing.T) {
	c := &CPU{}
	err := c.Collect(context.Background(), time.Now(), func(metric.Point) { t.Error("first round emitted a point") })
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("first round: %v, want ErrNoData", err)
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU so the delta is not zero
	}
	pts := collect(t, c)
	if len(pts) != runtime.NumCPU()+1 {
		t.Errorf("%d cpu points, want %d cores + total", len(pts), runtime.NumCPU())
	}
	for _, p := range pts {
		sum := 0.0
		for _, f := range p.Fields {
			if f.Key == "usage_guest" || f.Key == "usage_guest_nice" {
				continue // already inside user and nice
			}
			v := f.Value.FloatValue()
			if v < 0 || v > 100.0001 {
				t.Errorf("%v %s = %v", p.Tags, f.Key, v)
			}
			sum += v
		}
		if math.Abs(sum-100) > 0.01 {
			t.Errorf("%v: usage fields add up to %v, want 100", p.Tags, sum)
		}
	}
}

func TestHostCollectorsUseTelegrafNames(t *testing.T) {
	want := map[string][]string{
		"mem":       {"total", "available", "used", "free", "used_percent", "available_percent"},
		"swap":      {"total", "used", "free", "used_percent"},
		"system":    {"load1", "load5", "load15", "uptime", "n_cpus"},
		"processes": {"total", "running", "sleeping", "zombies", "total_threads"},
		"disk":      {"total", "free", "used", "used_percent", "inodes_total", "inodes_free", "inodes_used"},
	}
	cols, err := New([]string{"mem", "swap", "system", "processes", "disk", "net", "diskio"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		pts := collect(t, c)
		if len(pts) == 0 && c.Name() != "net" && c.Name() != "diskio" {
			t.Errorf("%s: no points", c.Name())
			continue
		}
		for _, p := range pts {
			if p.Measurement != c.Name() {
				t.Errorf("%s emitted measurement %s", c.Name(), p.Measurement)
			}
			for _, k := range want[c.Name()] {
				if _, ok := p.Field(k); !ok {
					t.Errorf("%s lacks field %s", c.Name(), k)
				}
			}
		}
		if c.Name() == "processes" {
			// Every process is counted in exactly one state.
			var sum, total int64
			for _, f := range pts[0].Fields {
				switch f.Key {
				case "total":
					total = f.Value.IntValue()
				case "total_threads":
				default:
					sum += f.Value.IntValue()
				}
			}
			if total < 1 || sum != total {
				t.Errorf("processes: states add up to %d, total %d", sum, total)
			}
		}
		if c.Name() == "disk" {
			if _, ok := pts[0].Tag("path"); !ok {
				t.Errorf("disk point without path tag: %v", pts[0].Tags)
			}
		}
	}
	if _, err := New([]string{"gpu"}); err == nil {
		t.Error("unknown input accepted")
	}
}
