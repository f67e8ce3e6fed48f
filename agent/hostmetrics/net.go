package hostmetrics

import (
	"context"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v3/net"

	"github.com/schulmon/schulmon/metric"
)

// Net reports counters per interface (Telegraf's net input), skipping
// loopback as Telegraf does.
type Net struct{}

// Name implements Collector.
func (Net) Name() string { return "net" }

// Collect implements Collector.
func (Net) Collect(ctx context.Context, now time.Time, emit Emit) error {
	stats, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return fmt.Errorf("read network counters: %w", err)
	}
	for _, s := range stats {
		if s.Name == "lo" || s.Name == "all" {
			continue
		}
		p := point("net", now, "interface", s.Name)
		i := func(k string, v uint64) {
			p.Fields = append(p.Fields, metric.Field{Key: k, Value: metric.Int(int64(v))})
		}
		i("bytes_sent", s.BytesSent)
		i("bytes_recv", s.BytesRecv)
		i("packets_sent", s.PacketsSent)
		i("packets_recv", s.PacketsRecv)
		i("err_in", s.Errin)
		i("err_out", s.Errout)
		i("drop_in", s.Dropin)
		i("drop_out", s.Dropout)
		emit(p)
	}
	return nil
}
