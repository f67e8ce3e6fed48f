package hostmetrics

import (
	"context"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v3/mem"

	"github.com/schulmon/schulmon/metric"
)

// Mem reports memory in bytes and percent (Telegraf's mem input).
type Mem struct{}

// Name implements Collector.
func (Mem) Name() string { return "mem" }

// Collect implements Collector.
func (Mem) Collect(ctx context.Context, now time.Time, emit Emit) error {
	v, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read memory: %w", err)
	}
	p := point("mem", now)
	u := func(k string, x uint64) {
		p.Fields = append(p.Fields, metric.Field{Key: k, Value: metric.Int(int64(x))})
	}
	u("total", v.Total)
	u("available", v.Available)
	u("used", v.Used)
	u("free", v.Free)
	u("cached", v.Cached)
	u("buffered", v.Buffers)
	u("active", v.Active)
	u("inactive", v.Inactive)
	u("shared", v.Shared)
	u("slab", v.Slab)
	u("dirty", v.Dirty)
	u("swap_total", v.SwapTotal)
	u("swap_free", v.SwapFree)
	p.Fields = append(p.Fields,
		metric.Field{Key: "used_percent", Value: metric.Float(v.UsedPercent)},
		metric.Field{Key: "available_percent", Value: metric.Float(percent(v.Available, v.Total))})
	emit(p)
	return nil
}

func percent(part, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(part) / float64(total)
}

// Swap reports swap usage and paging (Telegraf's swap input).
type Swap struct{}

// Name implements Collector.
func (Swap) Name() string { return "swap" }

// Collect implements Collector.
func (Swap) Collect(ctx context.Context, now time.Time, emit Emit) error {
	s, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read swap: %w", err)
	}
	p := point("swap", now)
	p.Fields = []metric.Field{
		{Key: "total", Value: metric.Int(int64(s.Total))},
		{Key: "used", Value: metric.Int(int64(s.Used))},
		{Key: "free", Value: metric.Int(int64(s.Free))},
		{Key: "used_percent", Value: metric.Float(s.UsedPercent)},
		{Key: "in", Value: metric.Int(int64(s.Sin))},
		{Key: "out", Value: metric.Int(int64(s.Sout))},
	}
	emit(p)
	return nil
}
