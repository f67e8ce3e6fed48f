package hostmetrics

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// Processes counts processes by state from /proc, as Telegraf's processes
// input does on Linux (cheaper than asking gopsutil for every process).
type Processes struct{}

// Name implements Collector.
func (Processes) Name() string { return "processes" }

// Collect implements Collector.
func (Processes) Collect(ctx context.Context, now time.Time, emit Emit) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("list /proc: %w", err)
	}
	counts := map[string]int64{}
	var total, threads int64
	buf := make([]byte, 0, 512)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		buf, err = readFileInto(buf[:0], "/proc/"+e.Name()+"/stat")
		if err != nil {
			continue // the process ended meanwhile
		}
		// The state follows the command name in parentheses, which may
		// itself contain parentheses and spaces.
		i := bytes.LastIndexByte(buf, ')')
		if i < 0 || i+2 >= len(buf) {
			continue
		}
		total++
		switch buf[i+2] {
		case 'R':
			counts["running"]++
		case 'S':
			counts["sleeping"]++
		case 'D':
			counts["blocked"]++
		case 'Z':
			counts["zombies"]++
		case 'T', 't':
			counts["stopped"]++
		case 'X', 'x':
			counts["dead"]++
		case 'I':
			counts["idle"]++
		case 'W':
			counts["paging"]++
		default:
			counts["unknown"]++
		}
		// Field 20 (num_threads), counted from after the command name.
		fields := bytes.Fields(buf[i+2:])
		if len(fields) > 17 {
			if n, err := strconv.ParseInt(string(fields[17]), 10, 64); err == nil {
				threads += n
			}
		}
	}
	p := point("processes", now)
	for _, k := range []string{"blocked", "dead", "idle", "paging", "running", "sleeping", "stopped", "unknown", "zombies"} {
		p.Fields = append(p.Fields, metric.Field{Key: k, Value: metric.Int(counts[k])})
	}
	p.Fields = append(p.Fields,
		metric.Field{Key: "total", Value: metric.Int(total)},
		metric.Field{Key: "total_threads", Value: metric.Int(threads)})
	emit(p)
	return nil
}

func readFileInto(buf []byte, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil || n == 0 {
			return buf, nil
		}
	}
}
