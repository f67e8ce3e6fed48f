package hostmetrics

import (
	"context"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"

	"github.com/schulmon/schulmon/metric"
)

// CPU reports usage percentages per core and in total (cpu=cpu-total),
// computed from the difference to the previous round as Telegraf does.
type CPU struct {
	prev map[string]cpu.TimesStat
}

// Name implements Collector.
func (*CPU) Name() string { return "cpu" }

// Collect implements Collector.
func (c *CPU) Collect(ctx context.Context, now time.Time, emit Emit) error {
	per, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return fmt.Errorf("read per-core CPU times: %w", err)
	}
	total, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return fmt.Errorf("read total CPU times: %w", err)
	}
	if len(total) == 1 {
		total[0].CPU = "cpu-total"
	}
	all := append(per, total...)
	prev := c.prev
	c.prev = make(map[string]cpu.TimesStat, len(all))
	for _, t := range all {
		c.prev[t.CPU] = t
	}
	if prev == nil {
		return ErrNoData
	}
	for _, t := range all {
		p, ok := prev[t.CPU]
		if !ok {
			continue
		}
		d := totalTime(t) - totalTime(p)
		if d <= 0 {
			continue
		}
		pct := func(cur, old float64) metric.Value { return metric.Float(100 * (cur - old) / d) }
		pt := point("cpu", now, "cpu", t.CPU)
		pt.Fields = []metric.Field{
			{Key: "usage_user", Value: pct(t.User-t.Guest, p.User-p.Guest)},
			{Key: "usage_system", Value: pct(t.System, p.System)},
			{Key: "usage_idle", Value: pct(t.Idle, p.Idle)},
			{Key: "usage_nice", Value: pct(t.Nice-t.GuestNice, p.Nice-p.GuestNice)},
			{Key: "usage_iowait", Value: pct(t.Iowait, p.Iowait)},
			{Key: "usage_irq", Value: pct(t.Irq, p.Irq)},
			{Key: "usage_softirq", Value: pct(t.Softirq, p.Softirq)},
			{Key: "usage_steal", Value: pct(t.Steal, p.Steal)},
			{Key: "usage_guest", Value: pct(t.Guest, p.Guest)},
			{Key: "usage_guest_nice", Value: pct(t.GuestNice, p.GuestNice)},
		}
		emit(pt)
	}
	return nil
}

// totalTime is the sum Telegraf uses: guest time is already in user time.
func totalTime(t cpu.TimesStat) float64 {
	return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
}
