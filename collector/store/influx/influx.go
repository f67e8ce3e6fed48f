// Package influx is the collector's production metric store: it writes
// points, with the collector's trusted tags, to InfluxDB (2.x, 3.x, Cloud,
// or 1.8+ through its v2 compatibility API) through influxdb-client-go v2,
// and reads them back with Flux.
//
// A write returns (and the agent gets its 204) once InfluxDB accepted the
// points, or once they are durably in the collector's bounded on-disk
// queue (agent/outbox, fsynced). When InfluxDB is down, slow or answers
// with an error, points go to the queue, and a background loop writes them
// with exponential back-off until InfluxDB takes them. Only when the queue
// is full does Write fail, and the write API answers 503 with Retry-After.
//
// Delivery from the queue is at-least-once: a batch InfluxDB stored but
// whose answer was lost (timeout, crash before the acknowledgement reached
// the disk) is written again. InfluxDB keeps one point per series and
// timestamp and overwrites an identical point with itself, so at-least-once
// delivery of identical points is exactly-once in effect: nothing is lost,
// nothing is counted twice.
package influx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/schulmon/schulmon/agent/outbox"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

// Options configure a Store. Use OptionsFromConfig for the collector's
// configuration file.
type Options struct {
	URL, Org, Bucket, Token string
	CAFile                  string
	InsecureSkipVerify      bool

	QueueDir      string
	QueueMaxBytes int64 // default 1 GiB

	BatchSize        int           // points per InfluxDB request; default 5000
	WriteConcurrency int           // concurrent requests to InfluxDB; default 4
	WriteTimeout     time.Duration // per request; default 10 s
	RetryInterval    time.Duration // first back-off of the queue; default 1 s
	MaxRetryInterval time.Duration // default 30 s
	Gzip             bool
	// UintSupport sends unsigned fields as unsigned (InfluxDB 2.x and
	// later). InfluxDB 1.8 refuses them, so by default they are sent as
	// integers, clamped at 2^63-1, as Telegraf does.
	UintSupport bool

	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.QueueMaxBytes <= 0 {
		o.QueueMaxBytes = 1 << 30
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.WriteConcurrency <= 0 {
		o.WriteConcurrency = 4
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.MaxRetryInterval < o.RetryInterval {
		o.MaxRetryInterval = 30 * time.Second
		if o.MaxRetryInterval < o.RetryInterval {
			o.MaxRetryInterval = o.RetryInterval
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// OptionsFromConfig turns the collector's storage.influxdb section into
// Options; it reads token_file.
func OptionsFromConfig(c config.InfluxDB, dataDir string, log *slog.Logger) (Options, error) {
	o := Options{
		URL: c.URL, Org: c.Org, Bucket: c.Bucket, Token: c.Token,
		CAFile: c.TLS.CAFile, InsecureSkipVerify: c.TLS.InsecureSkipVerify,
		QueueDir: c.QueueDir, QueueMaxBytes: c.QueueMaxBytes,
		BatchSize: c.BatchSize, WriteConcurrency: c.WriteConcurrency, WriteTimeout: c.WriteTimeout,
		RetryInterval: c.RetryInterval, MaxRetryInterval: c.MaxRetryInterval, Gzip: c.Gzip, UintSupport: c.UintSupport,
		Logger: log,
	}
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return o, fmt.Errorf("read storage.influxdb.token_file: %w", err)
		}
		o.Token = strings.TrimSpace(string(b))
	}
	if o.QueueDir == "" {
		o.QueueDir = filepath.Join(dataDir, "influx-queue")
	}
	return o, nil
}

// ErrQueueFull is returned by Write when InfluxDB does not take points and
// the on-disk queue has no room for them: the caller answers 503.
var ErrQueueFull = errors.New("InfluxDB is not accepting writes and the collector's on-disk queue is full")

// Stats are the store's counters since Open.
type Stats struct {
	WrittenPoints  uint64 // accepted by InfluxDB (direct and from the queue)
	QueuedPoints   uint64 // put into the on-disk queue
	ReplayedPoints uint64 // written from the queue
	RejectedPoints uint64 // refused by InfluxDB as invalid (400/413/422): logged, not retried
	WriteErrors    uint64 // failed InfluxDB requests
	FullRefusals   uint64 // writes refused because the queue was full
	PendingPoints  int64  // in the queue now
	QueueBytes     int64  // size of the queue's files
	Healthy        bool   // the last InfluxDB request succeeded
}

// Store writes to and reads from InfluxDB.
type Store struct {
	opt    Options
	log    *slog.Logger
	client influxdb2.Client
	write  api.WriteAPIBlocking
	query  api.QueryAPI

	queueMu sync.Mutex // serialises the room check with the append
	queue   *outbox.Outbox

	reqs    chan *writeReq
	kick    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	healthy atomic.Bool
	closed  atomic.Bool
	bufs    sync.Pool

	written, queued, replayed, rejected, writeErrors, refusals atomic.Uint64
	lastErr                                                    atomic.Value // string
}

type writeReq struct {
	lines  []byte
	n      int
	done   chan error
	influx time.Duration // time of the InfluxDB request it went in, set before done
}

// Timing collects how long Write calls spent waiting for InfluxDB's
// answer, so that a caller can tell the collector's own latency from
// InfluxDB's (the ingest benchmark does). Attach it with WithTiming.
type Timing struct {
	Influx time.Duration
}

type timingKey struct{}

// WithTiming returns a context whose Write calls add their InfluxDB time
// to t. t must not be shared between concurrent writes.
func WithTiming(ctx context.Context, t *Timing) context.Context {
	return context.WithValue(ctx, timingKey{}, t)
}

// Open connects to InfluxDB (which may be down: points are queued) and
// opens the queue, whose leftovers from a previous run are written first.
func Open(ctx context.Context, opt Options) (*Store, error) {
	opt.fill()
	if opt.URL == "" || opt.Bucket == "" {
		return nil, errors.New("open InfluxDB store: url and bucket are required")
	}
	if opt.QueueDir == "" {
		return nil, errors.New("open InfluxDB store: queue directory is required")
	}
	co := influxdb2.DefaultOptions().
		SetUseGZip(opt.Gzip).
		SetHTTPRequestTimeout(uint((opt.WriteTimeout + time.Second - 1) / time.Second)).
		SetApplicationName("schulmon-collector/" + metric.Version)
	if strings.HasPrefix(opt.URL, "https:") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opt.InsecureSkipVerify} //nolint:gosec // the operator asked for it
		if opt.CAFile != "" {
			pem, err := os.ReadFile(opt.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read InfluxDB CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("InfluxDB CA file %s holds no PEM certificate", opt.CAFile)
			}
			tc.RootCAs = pool
		}
		co.SetTLSConfig(tc)
	}
	// Enough idle connections for the concurrent writers and readers.
	co.SetHTTPClient(&http.Client{
		Timeout:   opt.WriteTimeout + 5*time.Second,
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: co.TLSConfig(), MaxIdleConnsPerHost: opt.WriteConcurrency + 8, IdleConnTimeout: 90 * time.Second},
	})
	q, err := outbox.Open(opt.QueueDir, outbox.Options{
		// The queue must never drop what was acknowledged: our own bound
		// (QueueMaxBytes) refuses appends long before the outbox's
		// oldest-first drop would start.
		MaxBytes:        2*opt.QueueMaxBytes + 256<<20,
		MaxAge:          -1,
		SegmentBytes:    min(16<<20, opt.QueueMaxBytes/8),
		MaxRecordPoints: opt.BatchSize,
		Sync:            outbox.SyncEveryAppend,
		Logger:          opt.Logger.With("component", "influx-queue"),
	})
	if err != nil {
		return nil, fmt.Errorf("open InfluxDB queue %s: %w", opt.QueueDir, err)
	}
	s := &Store{
		opt:    opt,
		log:    opt.Logger,
		client: influxdb2.NewClientWithOptions(opt.URL, opt.Token, co),
		queue:  q,
		reqs:   make(chan *writeReq),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	s.write = s.client.WriteAPIBlocking(opt.Org, opt.Bucket)
	s.query = s.client.QueryAPI(opt.Org)
	s.bufs.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	s.healthy.Store(true)
	if st := q.Stats(); st.PendingPoints > 0 {
		s.log.Info("InfluxDB queue holds points from before; writing them first", "points", st.PendingPoints, "bytes", st.Bytes)
		s.healthy.Store(false)
	}
	pctx, cancel := context.WithTimeout(ctx, min(5*time.Second, opt.WriteTimeout))
	if ok, err := s.client.Ping(pctx); !ok {
		s.log.Warn("InfluxDB does not answer; points are queued until it does", "url", opt.URL, "err", err)
		if err != nil {
			s.lastErr.Store("ping: " + err.Error())
		}
		s.healthy.Store(false)
	}
	cancel()
	for i := 0; i < opt.WriteConcurrency; i++ {
		s.wg.Add(1)
		go s.writer()
	}
	s.wg.Add(1)
	go s.drain()
	s.signal()
	return s, nil
}

// Write sends points to InfluxDB, or queues them durably if InfluxDB does
// not take them. It fails only when the queue is full (ErrQueueFull) or
// the queue's disk fails.
func (s *Store) Write(ctx context.Context, points []store.Point) error {
	if len(points) == 0 {
		return nil
	}
	if s.closed.Load() {
		return errors.New("write to InfluxDB store: store is closed")
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := encode((*bp)[:0], points, s.opt.UintSupport)
	*bp = buf[:0]

	if s.healthy.Load() {
		r := &writeReq{lines: buf, n: len(points), done: make(chan error, 1)}
		select {
		case s.reqs <- r:
			err := <-r.done
			if t, ok := ctx.Value(timingKey{}).(*Timing); ok && t != nil {
				t.Influx += r.influx
			}
			if err == nil || isRejected(err) {
				return nil // a rejection was logged and counted by the writer
			}
		case <-ctx.Done():
			return fmt.Errorf("write to InfluxDB: %w", ctx.Err())
		case <-s.stop:
			return errors.New("write to InfluxDB store: store is closed")
		}
	}
	return s.enqueue(buf, len(points))
}

// encode writes points as line protocol with the trusted tags. Without
// uintSupport it turns unsigned fields into integers, in the rows.
func encode(dst []byte, points []store.Point, uintSupport bool) []byte {
	for i := range points {
		p := &points[i]
		if !uintSupport {
			for j := range p.Row.Fields {
				if f := &p.Row.Fields[j]; f.Kind == metric.KindUint {
					f.Kind, f.Num = metric.KindInt, min(f.Num, math.MaxInt64)
				}
			}
		}
		trusted := [4]metric.Tag{{Key: "class", Value: p.Class}, {Key: "device", Value: p.Device}, {Key: "municipality", Value: p.Municipality}, {Key: "site", Value: p.Site}}
		dst = metric.AppendRow(dst, p.Row, trusted[:])
	}
	return dst
}

// enqueue appends encoded points to the on-disk queue if there is room.
func (s *Store) enqueue(lines []byte, n int) error {
	s.queueMu.Lock()
	st := s.queue.Stats()
	if st.Bytes+int64(len(lines)) > s.opt.QueueMaxBytes {
		s.queueMu.Unlock()
		s.refusals.Add(1)
		return fmt.Errorf("%w (%d of %d bytes, %d points waiting); last InfluxDB error: %s", ErrQueueFull, st.Bytes, s.opt.QueueMaxBytes, st.PendingPoints, s.LastError())
	}
	err := s.queue.AppendLines(lines)
	s.queueMu.Unlock()
	if err != nil {
		return fmt.Errorf("queue points for InfluxDB: %w", err)
	}
	s.queued.Add(uint64(n))
	s.signal()
	return nil
}

func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// writer combines concurrent Write calls into requests of up to BatchSize
// points: many agents sending small batches cost InfluxDB few requests.
func (s *Store) writer() {
	defer s.wg.Done()
	var body []byte
	var batch []*writeReq
	for {
		select {
		case <-s.stop:
			return
		case r := <-s.reqs:
			batch = append(batch[:0], r)
			body = append(body[:0], r.lines...)
			n := r.n
		more:
			for n < s.opt.BatchSize {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
					body = append(body, r.lines...)
					n += r.n
				default:
					break more
				}
			}
			t0 := time.Now()
			err := s.send(body, n)
			took := time.Since(t0)
			if err != nil && !isRejected(err) {
				s.healthy.Store(false)
				s.log.Warn("InfluxDB write failed; queueing the points on disk", "points", n, "err", err)
			}
			for _, r := range batch {
				r.influx = took
				r.done <- err
			}
			if len(body) > 16<<20 {
				body = nil
			}
		}
	}
}

// send writes one request; it counts and logs the outcome.
func (s *Store) send(body []byte, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.WriteTimeout)
	defer cancel()
	err := s.write.WriteRecord(ctx, string(body))
	if err == nil {
		s.written.Add(uint64(n))
		s.healthy.Store(true)
		return nil
	}
	s.writeErrors.Add(1)
	s.lastErr.Store(err.Error())
	if isRejected(err) {
		s.rejected.Add(uint64(n))
		s.log.Error("InfluxDB rejected points as invalid; they are not retried", "points", n, "err", err)
		return &rejectedError{err}
	}
	return fmt.Errorf("write %d points to InfluxDB %s: %w", n, s.opt.URL, err)
}

type rejectedError struct{ err error }

func (e *rejectedError) Error() string { return "InfluxDB rejected the points: " + e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }

// isRejected reports whether InfluxDB refused the data itself (bad line,
// field type conflict, too large): sending it again cannot succeed.
func isRejected(err error) bool {
	var re *rejectedError
	if errors.As(err, &re) {
		return true
	}
	var he *http2.Error
	if errors.As(err, &he) {
		switch he.StatusCode {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			return true
		}
	}
	return false
}

// drain writes queued points to InfluxDB, oldest first, with exponential
// back-off and jitter while InfluxDB fails.
func (s *Store) drain() {
	defer s.wg.Done()
	backoff := s.opt.RetryInterval
	var body []byte
	for {
		recs, err := s.queue.Peek(s.opt.BatchSize)
		if err != nil {
			s.log.Error("read InfluxDB queue", "err", err)
		}
		if len(recs) == 0 {
			if err == nil && !s.healthy.Load() {
				// Nothing queued (e.g. the points failed through a closing
				// store): the next direct write is the probe.
				s.healthy.Store(true)
			}
			select {
			case <-s.stop:
				return
			case <-s.kick:
				continue
			case <-time.After(backoff):
				continue
			}
		}
		body = body[:0]
		n := 0
		for _, r := range recs {
			body = append(body, r.Data...)
			n += r.Points
		}
		err = s.send(body, n)
		if err == nil || isRejected(err) {
			if aerr := s.queue.Ack(recs[len(recs)-1].Seq); aerr != nil {
				s.log.Error("acknowledge InfluxDB queue", "err", aerr)
			}
			if err == nil {
				s.replayed.Add(uint64(n))
			}
			backoff = s.opt.RetryInterval
			continue
		}
		s.healthy.Store(false)
		wait := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("InfluxDB still not accepting writes; retrying the queue", "pending", s.queue.Stats().PendingPoints, "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, s.opt.MaxRetryInterval)
	}
}

// LastError is the last InfluxDB error, for logs and status pages.
func (s *Store) LastError() string {
	if v, ok := s.lastErr.Load().(string); ok {
		return v
	}
	return "none"
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	qs := s.queue.Stats()
	return Stats{
		WrittenPoints: s.written.Load(), QueuedPoints: s.queued.Load(), ReplayedPoints: s.replayed.Load(),
		RejectedPoints: s.rejected.Load(), WriteErrors: s.writeErrors.Load(), FullRefusals: s.refusals.Load(),
		PendingPoints: qs.PendingPoints, QueueBytes: qs.Bytes, Healthy: s.healthy.Load(),
	}
}

// Close stops the writers; queued points stay on disk for the next start.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	s.client.Close()
	if err := s.queue.Close(); err != nil {
		return fmt.Errorf("close InfluxDB queue: %w", err)
	}
	return nil
}
