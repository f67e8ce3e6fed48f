package hostmetrics

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/load"

	"github.com/schulmon/schulmon/metric"
)

// System reports load, uptime, CPUs and users (Telegraf's system input).
// Load averages do not exist on Windows; there the fields are left out.
type System struct{}

// Name implements Collector.
func (System) Name() string { return "system" }

// Collect implements Collector.
func (System) Collect(ctx context.Context, now time.Time, emit Emit) error {
	p := point("system", now)
	if runtime.GOOS != "windows" {
		l, err := load.AvgWithContext(ctx)
		if err != nil {
			return fmt.Errorf("read load average: %w", err)
		}
		p.Fields = append(p.Fields,
			metric.Field{Key: "load1", Value: metric.Float(l.Load1)},
			metric.Field{Key: "load5", Value: metric.Float(l.Load5)},
			metric.Field{Key: "load15", Value: metric.Float(l.Load15)})
	}
	up, err := host.UptimeWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read uptime: %w", err)
	}
	p.Fields = append(p.Fields,
		metric.Field{Key: "uptime", Value: metric.Int(int64(up))},
		metric.Field{Key: "n_cpus", Value: metric.Int(int64(runtime.NumCPU()))})
	// Logged-in users need utmp, which containers and some hosts lack:
	// report what can be read rather than failing the round.
	if users, err := host.UsersWithContext(ctx); err == nil {
		unique := map[string]bool{}
		for _, u := range users {
			unique[u.User] = true
		}
		p.Fields = append(p.Fields,
			metric.Field{Key: "n_users", Value: metric.Int(int64(len(users)))},
			metric.Field{Key: "n_unique_users", Value: metric.Int(int64(len(unique)))})
	}
	emit(p)
	return nil
}
