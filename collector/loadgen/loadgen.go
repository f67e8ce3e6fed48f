// Package loadgen makes the batches of simulated schulmon agents: host
// metrics of one school server plus the SNMP polls of its switches,
// access points and printers, with realistic tags. The load harness
// (cmd/schulmon-loadtest) and the write-path benchmarks share it, so both
// measure the same traffic.
package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// AgentTemplate returns the n points (at most; typically 50) one agent
// sends per interval: its heartbeat, host metrics, and one snmp_poll per
// polled device (about 30 per school). id makes device names and
// addresses unique per agent.
func AgentTemplate(host string, n, id int) []metric.Point {
	var pts []metric.Point
	hostTags := func(kv ...string) map[string]string {
		m := map[string]string{"host": host}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	f := metric.Float(0)
	add := func(meas string, tags map[string]string, fields ...string) {
		fm := map[string]metric.Value{}
		for _, k := range fields {
			fm[k] = f
		}
		pts = append(pts, metric.NewPoint(meas, tags, fm, time.Time{}))
	}
	add("schulmon_agent", hostTags(), "uptime_s")
	pts[0].AddField("version", metric.String("loadtest"))
	add("cpu", hostTags("cpu", "cpu-total"), "usage_user", "usage_system", "usage_idle", "usage_iowait")
	for c := 0; c < 4; c++ {
		add("cpu", hostTags("cpu", "cpu"+strconv.Itoa(c)), "usage_user", "usage_system", "usage_idle", "usage_iowait")
	}
	add("mem", hostTags(), "used_percent", "available", "used", "total")
	add("swap", hostTags(), "used_percent", "used")
	add("system", hostTags(), "load1", "load5", "load15", "uptime")
	add("processes", hostTags(), "running", "sleeping", "total")
	for _, p := range []string{"/", "/var", "/srv"} {
		add("disk", hostTags("path", p, "fstype", "ext4"), "used_percent", "used", "free")
	}
	for _, d := range []string{"sda", "sdb"} {
		add("diskio", hostTags("name", d), "read_bytes", "write_bytes", "io_time")
	}
	for _, i := range []string{"eth0", "eth1"} {
		add("net", hostTags("interface", i), "bytes_recv", "bytes_sent", "err_in", "drop_in")
	}
	for d := 0; len(pts) < n; d++ {
		class, name := "switch", fmt.Sprintf("sw-%05d-%d", id, d)
		switch d % 4 {
		case 1:
			class, name = "access_point", fmt.Sprintf("ap-%05d-%d", id, d)
		case 3:
			class, name = "printer", fmt.Sprintf("prn-%05d-%d", id, d)
		}
		add("snmp_poll", map[string]string{"device": name, "class": class, "agent_host": host, "target": fmt.Sprintf("10.%d.%d.%d", id/250%250, id%250, d+10)}, "duration_s", "sys_uptime_s")
		pts[len(pts)-1].AddField("reachable", metric.Bool(true))
	}
	return pts[:min(n, len(pts))]
}

// AppendRound stamps the template with one round's time and fresh values
// and appends it as line protocol to dst. Uptimes grow with ts - start (a
// decrease would read as a reboot); other floats are random.
func AppendRound(dst []byte, template []metric.Point, ts, start time.Time, rng *rand.Rand) []byte {
	for i := range template {
		p := &template[i]
		p.Time = ts
		for j := range p.Fields {
			f := &p.Fields[j]
			switch {
			case f.Key == "uptime_s" || f.Key == "sys_uptime_s" || f.Key == "uptime":
				f.Value = metric.Float(1e6 + ts.Sub(start).Seconds())
			case f.Value.Kind() == metric.KindFloat:
				f.Value = metric.Float(float64(rng.IntN(10000)) / 100)
			}
		}
		dst = metric.AppendLine(dst, p)
	}
	return dst
}
