//go:build !linux

package hostmetrics

import (
	"context"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/schulmon/schulmon/metric"
)

// Processes counts processes by state through gopsutil (Windows, macOS,
// BSD). Windows has no process states: there only total is reported.
type Processes struct{}

// Name implements Collector.
func (Processes) Name() string { return "processes" }

// Collect implements Collector.
func (Processes) Collect(ctx context.Context, now time.Time, emit Emit) error {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	counts := map[string]int64{}
	for _, p := range procs {
		st, err := p.StatusWithContext(ctx)
		if err != nil || len(st) == 0 {
			continue
		}
		switch st[0] {
		case process.Running:
			counts["running"]++
		case process.Sleep:
			counts["sleeping"]++
		case process.Stop:
			counts["stopped"]++
		case process.Idle:
			counts["idle"]++
		case process.Zombie:
			counts["zombies"]++
		case process.Wait, process.Lock:
			counts["blocked"]++
		default:
			counts["unknown"]++
		}
	}
	p := point("processes", now)
	for _, k := range []string{"blocked", "idle", "running", "sleeping", "stopped", "unknown", "zombies"} {
		p.Fields = append(p.Fields, metric.Field{Key: k, Value: metric.Int(counts[k])})
	}
	p.Fields = append(p.Fields, metric.Field{Key: "total", Value: metric.Int(int64(len(procs)))})
	emit(p)
	return nil
}
