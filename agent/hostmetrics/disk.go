package hostmetrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/disk"

	"github.com/schulmon/schulmon/metric"
)

// ignoredFS are pseudo file systems Telegraf's disk input skips by default.
var ignoredFS = map[string]bool{"tmpfs": true, "devtmpfs": true, "devfs": true, "iso9660": true, "overlay": true, "aufs": true, "squashfs": true, "nsfs": true}

// Disk reports usage and inodes per mount point (Telegraf's disk input).
type Disk struct{}

// Name implements Collector.
func (Disk) Name() string { return "disk" }

// Collect implements Collector.
func (Disk) Collect(ctx context.Context, now time.Time, emit Emit) error {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return fmt.Errorf("list mount points: %w", err)
	}
	seen := map[string]bool{}
	for _, part := range parts {
		if ignoredFS[part.Fstype] || seen[part.Mountpoint] {
			continue
		}
		seen[part.Mountpoint] = true
		u, err := disk.UsageWithContext(ctx, part.Mountpoint)
		if err != nil || u.Total == 0 {
			continue // unreadable or empty mounts are not worth failing the round for
		}
		mode := "rw"
		for _, o := range part.Opts {
			if o == "ro" {
				mode = "ro"
			}
		}
		p := point("disk", now, "path", part.Mountpoint, "device", strings.TrimPrefix(part.Device, "/dev/"), "fstype", part.Fstype, "mode", mode)
		p.Fields = []metric.Field{
			{Key: "total", Value: metric.Int(int64(u.Total))},
			{Key: "free", Value: metric.Int(int64(u.Free))},
			{Key: "used", Value: metric.Int(int64(u.Used))},
			{Key: "used_percent", Value: metric.Float(u.UsedPercent)},
			{Key: "inodes_total", Value: metric.Int(int64(u.InodesTotal))},
			{Key: "inodes_free", Value: metric.Int(int64(u.InodesFree))},
			{Key: "inodes_used", Value: metric.Int(int64(u.InodesUsed))},
		}
		emit(p)
	}
	return nil
}

// DiskIO reports counters per block device (Telegraf's diskio input).
type DiskIO struct{}

// Name implements Collector.
func (DiskIO) Name() string { return "diskio" }

// Collect implements Collector.
func (DiskIO) Collect(ctx context.Context, now time.Time, emit Emit) error {
	stats, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read disk counters: %w", err)
	}
	for name, s := range stats {
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		p := point("diskio", now, "name", name)
		i := func(k string, v uint64) {
			p.Fields = append(p.Fields, metric.Field{Key: k, Value: metric.Int(int64(v))})
		}
		i("reads", s.ReadCount)
		i("writes", s.WriteCount)
		i("read_bytes", s.ReadBytes)
		i("write_bytes", s.WriteBytes)
		i("read_time", s.ReadTime)
		i("write_time", s.WriteTime)
		i("io_time", s.IoTime)
		i("weighted_io_time", s.WeightedIO)
		i("iops_in_progress", s.IopsInProgress)
		i("merged_reads", s.MergedReadCount)
		i("merged_writes", s.MergedWriteCount)
		emit(p)
	}
	return nil
}
