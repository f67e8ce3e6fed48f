// Command schulmon-loadtest simulates many schulmon agents writing to one
// collector on loopback and reports what the collector sustained: accepted
// points per second, write latency (p50, p99), errors, rejected requests
// (429/503), the collector's RSS and CPU, and whether every acknowledged
// point is in the store exactly once.
//
// Each simulated agent is one school: its own site and agent token, its own
// keep-alive connection, and every interval one gzip-compressed batch of
// host and SNMP points with realistic tags, timestamped at the interval
// boundary. Rejected or failed batches are kept and retried after the
// collector's Retry-After (or a back-off with jitter), as the agent's outbox
// does, so "lost" means the collector acknowledged a point it did not store.
//
//	schulmon-loadtest --agents 10000 --duration 2m
//
// By default it creates a fresh data directory, the sites and tokens, starts
// bin/schulmon-collector on a free loopback port, and stops it gracefully at
// the end before counting the stored points.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schulmon/schulmon/collector/loadgen"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

type options struct {
	agents    int
	duration  time.Duration
	interval  time.Duration
	points    int
	drain     time.Duration
	warmup    time.Duration
	collector string
	dataDir   string
	keep      bool
	jsonOut   bool
	sharedCon bool
	collLog   string
	pprof     string
}

func main() {
	var o options
	flag.IntVar(&o.agents, "agents", 1000, "simulated agents (each its own site, token and connection)")
	flag.DurationVar(&o.duration, "duration", time.Minute, "how long agents produce new batches")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "agent interval")
	flag.IntVar(&o.points, "points", 50, "points per agent per interval")
	flag.DurationVar(&o.drain, "drain", 60*time.Second, "after --duration, how long to keep retrying rejected batches")
	flag.DurationVar(&o.warmup, "warmup", 0, "leave this first part out of the steady-state figures (default: two intervals)")
	flag.StringVar(&o.collector, "collector", "", "collector binary (default: schulmon-collector next to this binary, then in PATH)")
	flag.StringVar(&o.dataDir, "data-dir", "", "collector data directory; reused with its tokens if it holds a previous run's (default: a new temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary data directory")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.StringVar(&o.collLog, "collector-log", "", "write the collector's log to this file")
	flag.StringVar(&o.pprof, "collector-pprof", "", "start the collector with --pprof-listen on this address (e.g. 127.0.0.1:6060) to profile it during the run")
	flag.BoolVar(&o.sharedCon, "shared-connections", false, "share a connection pool between agents instead of one connection each")
	flag.Parse()
	if o.warmup == 0 {
		o.warmup = 2 * o.interval
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		res.print(os.Stdout)
	}
	if res.LostPoints != 0 || res.Unsent != 0 {
		os.Exit(2)
	}
}

// Result is what a run measured.
type Result struct {
	Agents          int     `json:"agents"`
	IntervalS       float64 `json:"interval_s"`
	PointsPerBatch  int     `json:"points_per_batch"`
	DurationS       float64 `json:"duration_s"`
	Requests        int64   `json:"requests"`
	Accepted        int64   `json:"accepted_requests"`
	Rejected        int64   `json:"rejected_requests"` // 429 and 503
	Errors          int64   `json:"errors"`            // network errors and other statuses
	AcceptedPoints  int64   `json:"accepted_points"`
	PointsPerSecond float64 `json:"accepted_points_per_s"` // over the whole run
	SteadyPPS       float64 `json:"steady_points_per_s"`   // after the warm-up
	LatencyAll      Latency `json:"latency_all_ms"`
	LatencySteady   Latency `json:"latency_steady_ms"`
	RSSMaxMiB       float64 `json:"collector_rss_max_mib"`
	RSSEndMiB       float64 `json:"collector_rss_end_mib"`
	CPUAvgPercent   float64 `json:"collector_cpu_avg_percent"` // of one core, steady state
	LoadgenCPU      float64 `json:"loadgen_cpu_avg_percent"`
	StoredPoints    int64   `json:"stored_points"`
	LostPoints      int64   `json:"lost_points"`    // acknowledged but not stored
	StoredUnacked   int64   `json:"stored_unacked"` // stored, but the client saw no 204 (timeouts)
	Unsent          int64   `json:"unsent_points"`
	SetupS          float64 `json:"setup_s"`
	ShutdownError   string  `json:"shutdown_error,omitempty"`
	// Timeline is the run in windows of one interval, by the time a
	// request was sent: it shows when latency rose (a stall, a burst of
	// first contacts) where the percentiles over the run cannot.
	Timeline []Window `json:"timeline"`
}

// Window is one interval of the run.
type Window struct {
	FromS     float64 `json:"from_s"` // since the agents started
	Accepted  int64   `json:"accepted_requests"`
	Rejected  int64   `json:"rejected_requests"`
	AcceptedP int64   `json:"accepted_points"`
	Latency   Latency `json:"latency_ms"`
}

// Latency are write latency percentiles in milliseconds (204 responses).
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (r *Result) print(w io.Writer) {
	fmt.Fprintf(w, "agents %d, %d points every %s, run %.0fs (+ drain), setup %.0fs\n", r.Agents, r.PointsPerBatch, time.Duration(r.IntervalS*float64(time.Second)), r.DurationS, r.SetupS)
	fmt.Fprintf(w, "requests %d: accepted %d, rejected (429/503) %d, errors %d\n", r.Requests, r.Accepted, r.Rejected, r.Errors)
	fmt.Fprintf(w, "accepted points %d: %.0f points/s overall, %.0f points/s steady\n", r.AcceptedPoints, r.PointsPerSecond, r.SteadyPPS)
	fmt.Fprintf(w, "write latency all:    n=%d p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", r.LatencyAll.N, r.LatencyAll.P50, r.LatencyAll.P90, r.LatencyAll.P99, r.LatencyAll.Max)
	fmt.Fprintf(w, "write latency steady: n=%d p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", r.LatencySteady.N, r.LatencySteady.P50, r.LatencySteady.P90, r.LatencySteady.P99, r.LatencySteady.Max)
	fmt.Fprintf(w, "collector RSS max %.0f MiB, at end %.0f MiB; CPU %.0f%% of one core (steady); load generator CPU %.0f%%\n", r.RSSMaxMiB, r.RSSEndMiB, r.CPUAvgPercent, r.LoadgenCPU)
	fmt.Fprintf(w, "stored points %d, acknowledged %d: lost %d (acknowledged, not stored), stored without acknowledgement %d, never accepted %d\n", r.StoredPoints, r.AcceptedPoints, r.LostPoints, r.StoredUnacked, r.Unsent)
	if r.ShutdownError != "" {
		fmt.Fprintf(w, "collector shutdown: %s\n", r.ShutdownError)
	}
	fmt.Fprintf(w, "timeline (by send time):\n%8s %9s %9s %10s %9s %9s %9s\n", "from", "accepted", "rejected", "points/s", "p50 ms", "p99 ms", "max ms")
	for _, t := range r.Timeline {
		fmt.Fprintf(w, "%7.0fs %9d %9d %10.0f %9.1f %9.1f %9.1f\n", t.FromS, t.Accepted, t.Rejected, float64(t.AcceptedP)/r.IntervalS, t.Latency.P50, t.Latency.P99, t.Latency.Max)
	}
}

type agent struct {
	id       int
	token    string
	host     string
	client   *http.Client
	template []metric.Point
	pending  [][]byte // gzip bodies waiting to be accepted, oldest first
	npoints  []int
	ts       []int64 // batch times of pending, parallel
	acked    []int64 // batch times the collector acknowledged
}

func run(ctx context.Context, o options, log *slog.Logger) (*Result, error) {
	res := &Result{Agents: o.agents, IntervalS: o.interval.Seconds(), PointsPerBatch: o.points}
	setupStart := time.Now()
	dir := o.dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "schulmon-loadtest-")
		if err != nil {
			return nil, err
		}
		dir = d
		if !o.keep {
			defer os.RemoveAll(dir)
		} else {
			log.Info("keeping data directory", "dir", dir)
		}
	}
	tokens, err := ensureTokens(ctx, dir, o.agents, log)
	if err != nil {
		return nil, err
	}
	// Points from an earlier run in a reused directory count as stored.
	before, err := countPoints(ctx, dir)
	if err != nil {
		return nil, err
	}

	bin, err := collectorBinary(o.collector)
	if err != nil {
		return nil, err
	}
	coll, err := startCollector(ctx, bin, dir, o.collLog, o.pprof, log)
	if err != nil {
		return nil, err
	}
	defer coll.kill()
	res.SetupS = time.Since(setupStart).Seconds()
	log.Info("collector up", "url", coll.url, "pid", coll.cmd.Process.Pid, "setup", time.Since(setupStart).Round(time.Millisecond))

	var shared *http.Transport
	if o.sharedCon {
		shared = newTransport(o.agents)
	}
	agents := make([]*agent, o.agents)
	for i := range agents {
		tr := shared
		if tr == nil {
			tr = newTransport(1)
		}
		a := &agent{id: i, token: tokens[i], host: fmt.Sprintf("srv-%05d", i), client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
		a.template = loadgen.AgentTemplate(a.host, o.points, i)
		agents[i] = a
	}

	var (
		requests, accepted, rejected, errs, acceptedPts atomic.Int64
		latMu                                           sync.Mutex
		latAll, latSteady                               []float64
		steadyPts                                       atomic.Int64
		windows                                         []windowAcc // under latMu
	)
	start := time.Now()
	produceUntil := start.Add(o.duration)
	steadyFrom := start.Add(o.warmup)
	drainUntil := produceUntil.Add(o.drain)
	writeURL := coll.url + "api/v2/write?org=schulmon&bucket=schulmon&precision=ns"

	// A compressor's state is about a megabyte: one per agent made the
	// load generator itself 8 GB and slow; agents compress one at a time.
	gzipWriters := sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}
	mon := monitor(coll.cmd.Process.Pid, steadyFrom, produceUntil)
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func(a *agent) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(a.id), 42))
			// A random phase within the interval, as agents started at
			// different times flush at different moments.
			next := start.Add(time.Duration(rng.Int64N(int64(o.interval))))
			var enc []byte
			var zbuf bytes.Buffer
			retryAt := time.Time{}
			backoff := time.Second
			for {
				now := time.Now()
				if now.After(drainUntil) || ctx.Err() != nil || (now.After(produceUntil) && len(a.pending) == 0) {
					return
				}
				wake := next
				if len(a.pending) > 0 && retryAt.Before(wake) {
					wake = retryAt
				}
				if now.After(produceUntil) {
					wake = retryAt
				}
				if d := time.Until(wake); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				now = time.Now()
				if !now.Before(next) && now.Before(produceUntil) {
					// A new batch, timestamped at its round's interval
					// boundary (from the schedule, not the clock: a late
					// round must not reuse the previous round's time).
					ts := next.Truncate(o.interval)
					enc = loadgen.AppendRound(enc[:0], a.template, ts, start, rng)
					zbuf.Reset()
					zw := gzipWriters.Get().(*gzip.Writer)
					zw.Reset(&zbuf)
					zw.Write(enc)
					zw.Close()
					gzipWriters.Put(zw)
					a.pending = append(a.pending, bytes.Clone(zbuf.Bytes()))
					a.npoints = append(a.npoints, len(a.template))
					a.ts = append(a.ts, ts.UnixNano())
					next = next.Add(o.interval)
				}
				if len(a.pending) == 0 || time.Now().Before(retryAt) {
					continue
				}
				body := a.pending[0]
				t0 := time.Now()
				status, retryAfter, err := post(ctx, a.client, writeURL, a.token, body)
				lat := time.Since(t0)
				requests.Add(1)
				switch {
				case err == nil && status == http.StatusNoContent:
					accepted.Add(1)
					n := int64(a.npoints[0])
					acceptedPts.Add(n)
					a.acked = append(a.acked, a.ts[0])
					a.pending, a.npoints, a.ts = a.pending[1:], a.npoints[1:], a.ts[1:]
					ms := float64(lat.Microseconds()) / 1000
					latMu.Lock()
					wa := windowAt(&windows, t0.Sub(start), o.interval)
					wa.lat = append(wa.lat, ms)
					wa.points += n
					latAll = append(latAll, ms)
					if t0.After(steadyFrom) && t0.Before(produceUntil) {
						latSteady = append(latSteady, ms)
						steadyPts.Add(n)
					}
					latMu.Unlock()
					backoff = time.Second
					retryAt = time.Time{}
				case err == nil && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable):
					rejected.Add(1)
					latMu.Lock()
					windowAt(&windows, t0.Sub(start), o.interval).rejected++
					latMu.Unlock()
					wait := retryAfter
					if wait <= 0 {
						wait = backoff
					}
					retryAt = time.Now().Add(wait + time.Duration(rng.Int64N(int64(wait)/2+1)))
				default:
					errs.Add(1)
					if err != nil && ctx.Err() == nil && errs.Load() <= 10 {
						log.Warn("write failed", "agent", a.id, "err", err)
					} else if err == nil && errs.Load() <= 10 {
						log.Warn("write failed", "agent", a.id, "status", status)
					}
					retryAt = time.Now().Add(backoff + time.Duration(rng.Int64N(int64(backoff)/2+1)))
					backoff = min(2*backoff, 30*time.Second)
				}
			}
		}(a)
	}
	wg.Wait()
	end := time.Now()
	m := mon.stop()

	res.DurationS = o.duration.Seconds()
	res.Requests, res.Accepted, res.Rejected, res.Errors = requests.Load(), accepted.Load(), rejected.Load(), errs.Load()
	res.AcceptedPoints = acceptedPts.Load()
	res.PointsPerSecond = float64(res.AcceptedPoints) / end.Sub(start).Seconds()
	if st := produceUntil.Sub(steadyFrom).Seconds(); st > 0 {
		res.SteadyPPS = float64(steadyPts.Load()) / st
	}
	res.LatencyAll = percentiles(latAll)
	res.LatencySteady = percentiles(latSteady)
	for i, w := range windows {
		res.Timeline = append(res.Timeline, Window{FromS: (time.Duration(i) * o.interval).Seconds(), Accepted: int64(len(w.lat)), Rejected: w.rejected, AcceptedP: w.points, Latency: percentiles(w.lat)})
	}
	res.RSSMaxMiB, res.RSSEndMiB, res.CPUAvgPercent, res.LoadgenCPU = m.rssMax, m.rssEnd, m.cpu, m.selfCPU
	for _, a := range agents {
		for _, n := range a.npoints {
			res.Unsent += int64(n)
		}
	}

	// Stop the collector gracefully, then count what it stored.
	if err := coll.stop(60 * time.Second); err != nil {
		// Acknowledged points must survive even a kill: count anyway.
		log.Warn("collector did not shut down cleanly; counting what it stored", "err", err)
		res.ShutdownError = err.Error()
	}
	after, err := countPoints(ctx, dir)
	if err != nil {
		return res, err
	}
	res.StoredPoints = after - before
	// Every acknowledged batch must be stored completely: check each one
	// by (site, time). Points stored without an acknowledgement (the
	// client timed out, the collector had committed) are not loss; a real
	// agent would send them again and they would overwrite.
	lost, err := verifyAcked(ctx, dir, agents)
	if err != nil {
		return res, err
	}
	res.LostPoints = lost
	res.StoredUnacked = res.StoredPoints - (res.AcceptedPoints - lost)
	return res, nil
}

// verifyAcked counts acknowledged points missing from the store.
func verifyAcked(ctx context.Context, dir string, agents []*agent) (int64, error) {
	meta, err := sqlitedb.Open(ctx, server.MetaDBPath(dir))
	if err != nil {
		return 0, err
	}
	defer meta.Close()
	siteID := map[string]int64{}
	rows, err := meta.QueryContext(ctx, `SELECT id, name FROM sites`)
	if err != nil {
		return 0, fmt.Errorf("list sites: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		rows.Scan(&id, &name)
		siteID[name] = id
	}
	rows.Close()
	pdb, err := sqlitedb.Open(ctx, server.PointsDBPath(dir))
	if err != nil {
		return 0, err
	}
	defer pdb.Close()
	have := map[[2]int64]int64{}
	rows, err = pdb.QueryContext(ctx, `SELECT s.site_id, p.time, COUNT(*) FROM points p JOIN series s ON s.id = p.series_id GROUP BY s.site_id, p.time`)
	if err != nil {
		return 0, fmt.Errorf("count stored points per site and time: %w", err)
	}
	for rows.Next() {
		var site, t, n int64
		rows.Scan(&site, &t, &n)
		have[[2]int64{site, t}] = n
	}
	rows.Close()
	var lost int64
	for _, a := range agents {
		id, ok := siteID[fmt.Sprintf("school-%05d", a.id)]
		if !ok {
			return 0, fmt.Errorf("site of agent %d not found", a.id)
		}
		for _, t := range a.acked {
			if n := have[[2]int64{id, t}]; n < int64(len(a.template)) {
				lost += int64(len(a.template)) - n
			}
		}
	}
	return lost, nil
}

func newTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

func post(ctx context.Context, c *http.Client, url, token string, body []byte) (status int, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// agentTemplate is one school server's batch: Telegraf-style host metrics,
// the agent heartbeat and SNMP polls of the school's switches, access
// points and printer, n points in all.
// ensureTokens creates one site and agent token per simulated agent, or
// reads them back from a previous run in the same directory. It uses the
// collector's tenancy code (what 'schulmon-collector token create' runs),
// in one process: ten thousand CLI runs would take minutes of setup.
func ensureTokens(ctx context.Context, dir string, n int, log *slog.Logger) ([]string, error) {
	path := filepath.Join(dir, "loadtest-tokens.txt")
	var tokens []string
	if b, err := os.ReadFile(path); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				tokens = append(tokens, l)
			}
		}
	}
	if len(tokens) >= n {
		return tokens[:n], nil
	}
	d, closeDB, err := server.OpenDirectory(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("open collector directory: %w", err)
	}
	defer closeDB()
	// Setup speed only: one connection without fsync per statement.
	db := d.DB()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "PRAGMA synchronous=OFF"); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	log.Info("creating sites and agent tokens", "from", len(tokens), "to", n)
	for i := len(tokens); i < n; i++ {
		site, err := d.EnsureSite(ctx, fmt.Sprintf("Kommune-%03d", i%100), fmt.Sprintf("school-%05d", i), "grundschule")
		if err != nil {
			return nil, fmt.Errorf("create site %d: %w", i, err)
		}
		secret, _, err := d.CreateToken(ctx, tenancy.RoleAgent, &site, "loadtest")
		if err != nil {
			return nil, fmt.Errorf("create token %d: %w", i, err)
		}
		tokens = append(tokens, secret)
		fmt.Fprintln(w, secret)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return tokens, nil
}

func countPoints(ctx context.Context, dir string) (int64, error) {
	path := server.PointsDBPath(dir)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM points`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count stored points: %w", err)
	}
	return n, nil
}

func collectorBinary(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "schulmon-collector")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("schulmon-collector")
	if err != nil {
		return "", errors.New("schulmon-collector not found next to this binary or in PATH: run 'make build' or pass --collector")
	}
	return p, nil
}

type collector struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

var listenRE = regexp.MustCompile(`url=(http://\S+)`)

func startCollector(ctx context.Context, bin, dir, logPath, pprofAddr string, log *slog.Logger) (*collector, error) {
	var logFile io.Writer = io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("create collector log: %w", err)
		}
		logFile = f // closed when the process exits
	}
	args := []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}
	if pprofAddr != "" {
		args = append(args, "--pprof-listen", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start collector %s: %w", bin, err)
	}
	c := &collector{cmd: cmd, done: make(chan error, 1)}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if m := listenRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "collector listening") {
				select {
				case urlc <- m[1]:
				default:
				}
			}
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				log.Info("collector: " + line)
			}
		}
	}()
	go func() { c.done <- cmd.Wait() }()
	select {
	case c.url = <-urlc:
		return c, nil
	case err := <-c.done:
		return nil, fmt.Errorf("collector exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		c.kill()
		return nil, errors.New("collector did not report its listen address within 60s")
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

func (c *collector) stop(timeout time.Duration) error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			return fmt.Errorf("collector exited with %v after SIGTERM", err)
		}
		return nil
	case <-time.After(timeout):
		c.kill()
		return fmt.Errorf("collector did not stop within %s of SIGTERM", timeout)
	}
}

func (c *collector) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
	}
}

type monitorResult struct {
	rssMax, rssEnd, cpu, selfCPU float64
}

type mon struct {
	stopc chan struct{}
	res   chan monitorResult
}

// monitor samples the collector's RSS every second and its CPU time (and
// this process's) between from and to.
func monitor(pid int, from, to time.Time) *mon {
	m := &mon{stopc: make(chan struct{}), res: make(chan monitorResult, 1)}
	go func() {
		var r monitorResult
		var cpu0, cpu1, self0, self1 float64
		var t0, t1 time.Time
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			now := time.Now()
			rss := readRSS(pid)
			if rss > r.rssMax {
				r.rssMax = rss
			}
			if rss > 0 {
				r.rssEnd = rss
			}
			if t0.IsZero() && now.After(from) {
				t0, cpu0, self0 = now, cpuSeconds(pid), cpuSeconds(os.Getpid())
			}
			if !t0.IsZero() && !now.After(to) {
				t1, cpu1, self1 = now, cpuSeconds(pid), cpuSeconds(os.Getpid())
			}
			select {
			case <-m.stopc:
				if d := t1.Sub(t0).Seconds(); d > 0 {
					r.cpu = 100 * (cpu1 - cpu0) / d
					r.selfCPU = 100 * (self1 - self0) / d
				}
				m.res <- r
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *mon) stop() monitorResult {
	close(m.stopc)
	return <-m.res
}

// readRSS returns VmRSS of pid in MiB (0 if unknown).
func readRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// cpuSeconds returns utime+stime of pid from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may contain spaces; fields start after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// windowAcc collects one timeline window.
type windowAcc struct {
	lat      []float64
	points   int64
	rejected int64
}

// windowAt returns the window of a request sent at offset since the start.
func windowAt(ws *[]windowAcc, offset, width time.Duration) *windowAcc {
	i := max(0, int(offset/width))
	for len(*ws) <= i {
		*ws = append(*ws, windowAcc{})
	}
	return &(*ws)[i]
}

func percentiles(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return Latency{N: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: s[len(s)-1]}
}
