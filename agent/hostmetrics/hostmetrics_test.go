package hostmetrics

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v3/host"

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
		"net":       {"bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out", "drop_in", "drop_out"},
		"diskio":    {"reads", "writes", "read_bytes", "write_bytes", "read_time", "write_time", "io_time", "weighted_io_time", "iops_in_progress", "merged_reads", "merged_writes"},
	}
	// net and diskio may rightly be empty (a container without block
	// devices); they must report when this host has something to report.
	mustReport := map[string]bool{"net": hasNonLoopbackInterface(t), "diskio": hasBlockDevice()}
	cols, err := New([]string{"mem", "swap", "system", "processes", "disk", "net", "diskio"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		pts := collect(t, c)
		if len(pts) == 0 && ((c.Name() != "net" && c.Name() != "diskio") || mustReport[c.Name()]) {
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
			for _, k := range []string{"path", "device", "fstype", "mode"} {
				if _, ok := pts[0].Tag(k); !ok {
					t.Errorf("disk point without %s tag: %v", k, pts[0].Tags)
				}
			}
		}
		if c.Name() == "net" {
			for _, p := range pts {
				if ifc, _ := p.Tag("interface"); ifc == "" || ifc == "lo" {
					t.Errorf("net point for interface %q", ifc)
				}
			}
		}
		if c.Name() == "system" {
			checkUsers(t, pts[0])
		}
	}
	if _, err := New([]string{"gpu"}); err == nil {
		t.Error("unknown input accepted")
	}
}

// checkUsers: n_users and n_unique_users are there exactly when the
// sessions can be read (utmp), and agree with them.
func checkUsers(t *testing.T, p metric.Point) {
	t.Helper()
	n, hasN := p.Field("n_users")
	u, hasU := p.Field("n_unique_users")
	users, err := host.Users()
	if err != nil {
		if hasN || hasU {
			t.Errorf("system: n_users reported although sessions are unreadable (%v)", err)
		}
		return
	}
	unique := map[string]bool{}
	for _, x := range users {
		unique[x.User] = true
	}
	if !hasN || !hasU || n.IntValue() != int64(len(users)) || u.IntValue() != int64(len(unique)) {
		t.Errorf("system: n_users %v (%v) n_unique_users %v (%v), want %d and %d", n.Any(), hasN, u.Any(), hasU, len(users), len(unique))
	}
}

func hasNonLoopbackInterface(t *testing.T) bool {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return true
		}
	}
	return false
}

// hasBlockDevice reports whether /proc/diskstats lists a device diskio
// does not skip (Linux; elsewhere diskio may be empty).
func hasBlockDevice() bool {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && !strings.HasPrefix(f[2], "loop") && !strings.HasPrefix(f[2], "ram") {
			return true
		}
	}
	return false
}
