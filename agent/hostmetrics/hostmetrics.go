// Package hostmetrics gathers the agent host's own metrics with gopsutil,
// under Telegraf's measurement and field names (cpu, mem, swap, disk,
// diskio, net, system, processes) so that Telegraf dashboards work on
// schulmon data unchanged. Each collector is one file; platform-specific
// parts carry the operating system in the file name.
package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// ErrNoData means a collector has nothing to report this round (e.g. the
// first CPU sample, which has no previous one to compute usage from). It
// is not a failure.
var ErrNoData = errors.New("no data this round")

// Emit receives the points a collector produces.
type Emit func(p metric.Point)

// Collector is one input.
type Collector interface {
	Name() string
	Collect(ctx context.Context, now time.Time, emit Emit) error
}

// New returns the collectors named (Telegraf's input names).
func New(names []string) ([]Collector, error) {
	var out []Collector
	for _, n := range names {
		var c Collector
		switch n {
		case "cpu":
			c = &CPU{}
		case "mem":
			c = Mem{}
		case "swap":
			c = Swap{}
		case "disk":
			c = Disk{}
		case "diskio":
			c = DiskIO{}
		case "net":
			c = Net{}
		case "system":
			c = System{}
		case "processes":
			c = Processes{}
		default:
			return nil, fmt.Errorf("unknown host metric input %q", n)
		}
		out = append(out, c)
	}
	return out, nil
}

func point(measurement string, now time.Time, tags ...string) metric.Point {
	p := metric.Point{Measurement: measurement, Time: now}
	for i := 0; i+1 < len(tags); i += 2 {
		p.Tags = append(p.Tags, metric.Tag{Key: tags[i], Value: tags[i+1]})
	}
	metric.SortTags(p.Tags)
	return p
}
