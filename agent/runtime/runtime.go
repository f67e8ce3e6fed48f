// Package runtime runs the agent: it gathers host metrics every interval,
// accepts points from the other subsystems (SNMP, plugins), queues
// everything, and sends batches to the collector with retries, deleting
// only what the collector acknowledged.
package runtime

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/schulmon/schulmon/agent/config"
	"github.com/schulmon/schulmon/agent/hostmetrics"
	"github.com/schulmon/schulmon/agent/memtrim"
	"github.com/schulmon/schulmon/agent/pluginhost"
	"github.com/schulmon/schulmon/agent/sender"
	"github.com/schulmon/schulmon/metric"
)

// Sender is what the agent needs from the sender.
type Sender interface {
	Send(ctx context.Context, lines []byte) error
}

// Agent is a configured agent.
type Agent struct {
	cfg        config.Config
	log        *slog.Logger
	device     string
	collectors []hostmetrics.Collector
	queue      Queue
	sender     Sender
	started    time.Time

	encMu sync.Mutex
	enc   []byte

	sent, sendErrors, dropped atomic.Uint64

	registry    *prometheus.Registry
	collectDur  *prometheus.GaugeVec
	collectOK   *prometheus.GaugeVec
	sentCounter prometheus.Counter
	// sendRate paces sending (collector.max_points_per_second), so that a
	// replay after an outage does not swamp the collector.
	sendRate   *rate.Limiter
	errCounter prometheus.Counter
	// Subsystems started with the agent (SNMP poller, plugin host, …).
	services []Service

	// The host's identity (MACs, serial) rides on the first heartbeat and
	// then once per identityEvery: it rarely changes, and the collector
	// only needs it to deduplicate the staffing inventory.
	readIdentity  func(context.Context) (hostmetrics.Identity, error)
	identityEvery time.Duration
	identityAt    time.Time // data time of the last heartbeat that carried it
}

// identityEvery is how often the heartbeat repeats the host's identity.
// The collector counts a device seen within 90 days, so an hour is
// plenty, and a changed NIC shows up the same day.
const identityEvery = time.Hour

// Service is a subsystem that runs beside host metrics and hands its
// points to the agent with Add.
type Service interface {
	Name() string
	Run(ctx context.Context, sink Sink) error
}

// Sink takes points; the agent implements it.
type Sink interface {
	Add(points ...metric.Point)
}

// New builds an agent. device is the name this host reports as.
func New(cfg config.Config, device string, q Queue, s Sender, log *slog.Logger) (*Agent, error) {
	cols, err := hostmetrics.New(cfg.Inputs)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, device: device, collectors: cols, queue: q, sender: s, started: time.Now(), registry: prometheus.NewRegistry(),
		readIdentity: hostmetrics.ReadIdentity, identityEvery: identityEvery}
	a.sendRate = rate.NewLimiter(rate.Inf, 0)
	if pps := cfg.Collector.MaxPointsPerSecond; pps > 0 {
		a.sendRate = rate.NewLimiter(rate.Limit(pps), max(cfg.Collector.BatchSize, int(pps)))
	}
	a.collectDur = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "schulmon_agent_collector_duration_seconds", Help: "Duration of the last run of each collector."}, []string{"collector"})
	a.collectOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "schulmon_agent_collector_success", Help: "Whether the last run of each collector succeeded."}, []string{"collector"})
	a.sentCounter = prometheus.NewCounter(prometheus.CounterOpts{Name: "schulmon_agent_points_sent_total", Help: "Points acknowledged by the collector."})
	a.errCounter = prometheus.NewCounter(prometheus.CounterOpts{Name: "schulmon_agent_send_errors_total", Help: "Failed send attempts."})
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "schulmon_agent_points_queued", Help: "Points waiting for acknowledgement."}, func() float64 { return float64(a.queue.Pending()) })
	a.registry.MustRegister(a.collectDur, a.collectOK, a.sentCounter, a.errCounter, queued)
	if len(cfg.Plugins.Instances) > 0 {
		ph, err := pluginhost.New(cfg.Plugins, pluginhost.Options{Logger: log, Device: device})
		if err != nil {
			return nil, err
		}
		a.AddService(pluginService{ph})
	}
	return a, nil
}

// AddService registers a subsystem to run with the agent.
func (a *Agent) AddService(s Service) { a.services = append(a.services, s) }

// Registry exposes the agent's metrics registry for subsystems.
func (a *Agent) Registry() *prometheus.Registry { return a.registry }

// Add implements Sink: points are encoded and queued at once. A point
// with neither a host nor a device tag is about this host and gets the
// host and class tags; points about other devices (SNMP, checks) carry
// their own device tag.
func (a *Agent) Add(points ...metric.Point) {
	if len(points) == 0 {
		return
	}
	a.encMu.Lock()
	defer a.encMu.Unlock()
	buf := a.enc[:0]
	for i := range points {
		p := &points[i]
		_, hasHost := p.Tag("host")
		if _, hasDevice := p.Tag("device"); !hasHost && !hasDevice {
			a.tagHost(p)
		}
		buf = metric.AppendLine(buf, p)
	}
	a.enc = buf
	if err := a.queue.Append(buf, len(points)); err != nil {
		a.dropped.Add(uint64(len(points)))
		a.log.Error("cannot queue points: they are lost", "points", len(points), "err", err)
	}
}

func (a *Agent) tagHost(p *metric.Point) {
	p.SetTag("host", a.device)
	if _, ok := p.Tag("class"); !ok {
		p.SetTag("class", a.cfg.Class)
	}
}

// Run gathers and sends until ctx is cancelled; then it makes one last
// attempt to send what is queued.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if a.cfg.MetricsListen != "" {
		a.serveMetrics(ctx, &wg)
	}
	for _, s := range a.services {
		wg.Add(1)
		go func(s Service) {
			defer wg.Done()
			if err := s.Run(ctx, a); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("subsystem stopped", "subsystem", s.Name(), "err", err)
			}
		}(s)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.sendLoop(ctx)
	}()
	a.gatherLoop(ctx)
	wg.Wait()
	// Last chance to deliver what is queued, briefly.
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.flush(fctx)
	return nil
}

func (a *Agent) serveMetrics(ctx context.Context, wg *sync.WaitGroup) {
	ln, err := net.Listen("tcp", a.cfg.MetricsListen)
	if err != nil {
		a.log.Warn("agent /metrics disabled: cannot listen", "addr", a.cfg.MetricsListen, "err", err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.log.Info("agent metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
}

func (a *Agent) gatherLoop(ctx context.Context) {
	a.Gather(ctx, time.Now()) // primes rate collectors (CPU) and sends a first heartbeat
	trimmed := false
	iv := a.cfg.Interval
	for {
		// Align rounds to the interval, as Telegraf does, so that the
		// points of many agents line up.
		now := time.Now()
		wait := now.Truncate(iv).Add(iv).Sub(now)
		select {
		case <-ctx.Done():
			return
		case t := <-time.After(wait):
			a.Gather(ctx, t.Truncate(iv))
		}
		if !trimmed {
			// After the first full round, start-up is over: give its
			// memory back (see package memtrim).
			r := memtrim.Trim()
			a.log.Debug("returned start-up memory", "mapped_bytes", r.MappedBytes, "supported", r.Supported)
			trimmed = true
		}
	}
}

// Gather runs every collector once, then queues their points, their
// durations and a heartbeat.
func (a *Agent) Gather(ctx context.Context, now time.Time) {
	var pts []metric.Point
	emit := func(p metric.Point) { pts = append(pts, p) }
	for _, c := range a.collectors {
		start := time.Now()
		err := c.Collect(ctx, now, emit)
		d := time.Since(start)
		ok := err == nil || errors.Is(err, hostmetrics.ErrNoData)
		if err != nil {
			if errors.Is(err, hostmetrics.ErrNoData) {
				a.log.Debug("collector has no data this round", "collector", c.Name())
			} else {
				a.log.Warn("collector failed", "collector", c.Name(), "err", err)
			}
		}
		a.collectDur.WithLabelValues(c.Name()).Set(d.Seconds())
		a.collectOK.WithLabelValues(c.Name()).Set(b2f(ok))
		self := metric.Point{Measurement: "schulmon_agent_collector", Time: now,
			Tags:   []metric.Tag{{Key: "collector", Value: c.Name()}},
			Fields: []metric.Field{{Key: "duration_s", Value: metric.Float(d.Seconds())}, {Key: "success", Value: metric.Bool(ok)}}}
		emit(self)
	}
	hb := a.heartbeat(now)
	a.addIdentity(ctx, &hb, now)
	emit(hb)
	// Host metrics are about this host even where Telegraf's names carry
	// a device tag of their own (disk).
	for i := range pts {
		if _, ok := pts[i].Tag("host"); !ok {
			a.tagHost(&pts[i])
		}
	}
	a.Add(pts...)
}

func (a *Agent) heartbeat(now time.Time) metric.Point {
	return metric.Point{Measurement: "schulmon_agent", Time: now, Fields: []metric.Field{
		{Key: "version", Value: metric.String(metric.Version)},
		{Key: "uptime_s", Value: metric.Float(time.Since(a.started).Seconds())},
		{Key: "points_queued", Value: metric.Int(int64(a.queue.Pending()))},
		{Key: "points_sent", Value: metric.Int(int64(a.sent.Load()))},
		{Key: "send_errors", Value: metric.Int(int64(a.sendErrors.Load()))},
		{Key: "points_dropped", Value: metric.Int(int64(a.dropped.Load() + a.queueDropped()))},
		{Key: "interval_s", Value: metric.Float(a.cfg.Interval.Seconds())},
	}}
}

// addIdentity adds the fields macs (comma-separated) and serial to the
// heartbeat when they are due. Gather runs on one goroutine, so
// identityAt needs no lock.
func (a *Agent) addIdentity(ctx context.Context, hb *metric.Point, now time.Time) {
	if !a.identityAt.IsZero() && now.Sub(a.identityAt) < a.identityEvery && now.After(a.identityAt) {
		return
	}
	// Marked even when reading fails, so that a host without readable
	// interfaces is not asked again every interval.
	a.identityAt = now
	id, err := a.readIdentity(ctx)
	if err != nil {
		a.log.Warn("cannot read the host identity; the collector may count this host twice in the staffing inventory", "err", err)
	}
	if len(id.MACs) > 0 {
		hb.Fields = append(hb.Fields, metric.Field{Key: "macs", Value: metric.String(strings.Join(id.MACs, ","))})
	}
	if id.Serial != "" {
		hb.Fields = append(hb.Fields, metric.Field{Key: "serial", Value: metric.String(id.Serial)})
	}
}

// queueDropped is what the queue itself dropped (outbox limits).
func (a *Agent) queueDropped() uint64 {
	if d, ok := a.queue.(interface{ Dropped() uint64 }); ok {
		return d.Dropped()
	}
	return 0
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sendLoop sends queued batches every flush interval, backing off
// exponentially with jitter while the collector fails.
func (a *Agent) sendLoop(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		wait := a.cfg.Collector.FlushInterval
		if backoff > 0 {
			wait = backoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := a.flush(ctx)
		if err == nil {
			backoff = 0
			continue
		}
		backoff = nextBackoff(backoff, a.cfg.Collector.FlushInterval)
		var se *sender.Error
		if errors.As(err, &se) && se.RetryAfter > backoff {
			backoff = se.RetryAfter
		}
		a.log.Warn("sending to the collector failed; points stay queued", "err", err, "queued", a.queue.Pending(), "retry_in", backoff.Round(time.Millisecond))
	}
}

func nextBackoff(cur, base time.Duration) time.Duration {
	if cur == 0 {
		cur = base / 2
	}
	next := cur * 2
	if limit := 5 * time.Minute; next > limit {
		next = limit
	}
	// ±20 % jitter so that schools coming back do not retry in lockstep.
	j := time.Duration(rand.Int64N(int64(next)/5*2+1)) - next/5
	return next + j
}

// flush sends everything queued, batch by batch, until the queue is
// empty or a send fails.
func (a *Agent) flush(ctx context.Context) error {
	for {
		lines, n, err := a.queue.Next(a.cfg.Collector.BatchSize)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := a.sendRate.WaitN(ctx, min(n, a.sendRate.Burst())); err != nil {
			return err
		}
		err = a.sender.Send(ctx, lines)
		if err != nil {
			a.sendErrors.Add(1)
			a.errCounter.Inc()
			var se *sender.Error
			if errors.As(err, &se) && !se.Retry {
				// The collector rejected the data itself (400): sending it
				// again cannot succeed. Drop it, loudly.
				a.dropped.Add(uint64(n))
				a.log.Error("collector rejected a batch as invalid; it is dropped", "points", n, "err", err)
				if aerr := a.queue.Ack(); aerr != nil {
					return aerr
				}
				continue
			}
			return err
		}
		if err := a.queue.Ack(); err != nil {
			return err
		}
		a.sent.Add(uint64(n))
		a.sentCounter.Add(float64(n))
	}
}

// Once gathers one round and returns it as line protocol, without a
// collector: rate collectors are primed and read again after a second.
func Once(ctx context.Context, cfg config.Config, device string, log *slog.Logger) ([]byte, error) {
	q := NewMemoryQueue(1 << 20)
	a, err := New(cfg, device, q, nil, log)
	if err != nil {
		return nil, err
	}
	for _, c := range a.collectors {
		_ = c.Collect(ctx, time.Now(), func(metric.Point) {})
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
	}
	a.Gather(ctx, time.Now())
	lines, _, err := q.Next(1 << 20)
	return lines, err
}
