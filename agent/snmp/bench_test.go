package snmp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/schulmon/schulmon/agent/snmp/internal/snmpsim"
	"github.com/schulmon/schulmon/metric"
)

const simChildEnv = "SCHULMON_SNMPSIM_CHILD"

// TestMain doubles as the load simulator: the benchmark re-executes the
// test binary with simChildEnv set, so that the simulated devices run in
// their own process and the CPU time measured here is the poller's alone.
func TestMain(m *testing.M) {
	if spec := os.Getenv(simChildEnv); spec != "" {
		runSimChild(spec)
		return
	}
	os.Exit(m.Run())
}

// runSimChild serves N synthetic 48-port switches, community "devNNNN",
// prints its port and runs until stdin closes.
func runSimChild(spec string) {
	var n, ports int
	fmt.Sscanf(spec, "%d:%d", &n, &ports)
	devs := make(map[string]*snmpsim.Device, n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("dev%04d", i)
		d, err := snmpsim.NewDevice(snmpsim.SyntheticSwitch(name, ports, uint64(i)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		devs[name] = d
	}
	srv := &snmpsim.Server{Lookup: func(c string) *snmpsim.Device { return devs[c] }}
	if err := srv.Listen(context.Background(), "127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(srv.Addr().Port)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	srv.Close()
}

func startSimChild(b *testing.B, devices, ports int) int {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d", simChildEnv, devices, ports))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("simulator did not start: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		b.Fatalf("simulator port %q: %v", line, err)
	}
	return port
}

// countSink counts points and failed polls without keeping them.
type countSink struct {
	points, ifs, failed atomic.Int64
	requests, varbinds  atomic.Int64
}

func (c *countSink) Add(pts ...metric.Point) {
	c.points.Add(int64(len(pts)))
	for i := range pts {
		switch pts[i].Measurement {
		case "snmp_if":
			c.ifs.Add(1)
		case "snmp_poll":
			if v, _ := pts[i].Field("reachable"); !v.BoolValue() {
				c.failed.Add(1)
			}
			r, _ := pts[i].Field("requests")
			v, _ := pts[i].Field("varbinds")
			c.requests.Add(r.IntValue())
			c.varbinds.Add(v.IntValue())
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPollCycle2000x48 polls 2,000 simulated switches with 48 ports
// each (interfaces profile) once per iteration: one iteration is one
// polling cycle. The target is that a cycle fits into 60 s using at most
// one core, i.e. cpu-s/cycle ≤ 60.
func BenchmarkPollCycle2000x48(b *testing.B) {
	const devices, ports = 2000, 48
	port := startSimChild(b, devices, ports)
	cfg := Config{MaxConcurrency: 64}
	for i := 0; i < devices; i++ {
		cfg.Targets = append(cfg.Targets, Target{Address: "127.0.0.1", Port: port, Class: "switch", Profiles: []string{"interfaces"},
			Credentials: Credentials{Community: fmt.Sprintf("dev%04d", i)}, Timeout: 5 * time.Second})
	}
	p, err := New(cfg, WithAgentHost("bench"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p.PollAll(ctx, &countSink{}) // first cycle learns 64-bit counter support
	b.ReportAllocs()
	b.ResetTimer()
	var total countSink
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		p.PollAll(ctx, &total)
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.StopTimer()
	if f := total.failed.Load(); f > 0 {
		b.Fatalf("%d polls failed", f)
	}
	if got, want := total.ifs.Load(), int64(b.N*devices*ports); got != want {
		b.Fatalf("got %d interface points, want %d", got, want)
	}
	cycles := float64(b.N)
	b.ReportMetric(cpu.Seconds()/cycles, "cpu-s/cycle")
	b.ReportMetric(wall.Seconds()/cycles, "wall-s/cycle")
	b.ReportMetric(float64(total.varbinds.Load())/cpu.Seconds(), "varbinds/cpu-s")
	b.ReportMetric(float64(total.varbinds.Load())/cycles/60, "varbinds/s@60s")
	b.ReportMetric(float64(total.requests.Load())/cycles/devices, "requests/device")
}
