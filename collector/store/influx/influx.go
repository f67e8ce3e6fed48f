// Package influx is the collector's production metric store: it writes
// points, with the collector's trusted tags, to InfluxDB (2.x, 3.x, Cloud,
// or 1.8+ through its v2 compatibility API) through influxdb-client-go v2,
// and reads them back with Flux.
//
// A write returns (and the agent gets its 204) once InfluxDB accepted the
// points, or once they are durably in the collector's bounded on-disk
// queue (agent/outbox, fsynced). When InfluxDB is down, slow or answers
// with a server or credentials error, points go to the queue, and a
// background loop writes them with exponential back-off until InfluxDB
// takes them. Only when the queue is full does Write fail, and the write
// API answers 503 with Retry-After.
//
// Points InfluxDB refuses as invalid (400/422, e.g. a field type conflict)
// are not acknowledged: Write returns an error matching store.ErrRejected
// and the agent gets 400 with InfluxDB's message. Concurrent writes share
// one InfluxDB request, so a refused request is split and retried per
// write: one agent's bad points fail only that agent's write. A request
// too large for InfluxDB (413) is split until it fits. Queued points are
// already acknowledged, so a refused queue batch is bisected down to the
// single lines InfluxDB refuses; only those are dropped, and each drop is
// logged, counted and written to InfluxDB as a schulmon_influx_rejected
// event.
//
// Delivery from the queue is at-least-once: a batch InfluxDB stored but
// whose answer was lost (timeout, crash before the acknowledgement reached
// the disk) is written again. InfluxDB keeps one point per series and
// timestamp and overwrites an identical point with itself, so at-least-once
// delivery of identical points is exactly-once in effect: nothing is lost,
// nothing is counted twice.
package influx

import (
	"bytes"
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
	RejectedPoints uint64 // refused by InfluxDB as invalid (400/413/422) after splitting: logged, not retried
	// DroppedPoints are the part of RejectedPoints that came from the
	// queue, i.e. had been acknowledged: each drop is also an event.
	DroppedPoints uint64
	WriteErrors   uint64 // failed InfluxDB requests
	FullRefusals  uint64 // writes refused because the queue was full
	PendingPoints int64  // in the queue now
	QueueBytes    int64  // size of the queue's files
	Healthy       bool   // the last InfluxDB request succeeded
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

	written, queued, replayed, rejected, dropped, writeErrors, refusals atomic.Uint64
	lastErr                                                             atomic.Value // string
}

type writeReq struct {
	lines  []byte
	n      int
	done   chan error
	influx time.Duration // time of the InfluxDB requests it went in, set before done
}

// rejectionEvent is the measurement of the events that report queued
// (acknowledged) points InfluxDB refused.
const rejectionEvent = "schulmon_influx_rejected"

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
	} else if err := s.checkWrite(pctx); err != nil {
		cancel()
		s.client.Close()
		q.Close()
		return nil, err
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

// checkWrite sends an empty write, so that wrong credentials or a missing
// bucket stop the collector at start with a clear message instead of
// filling the queue with points that can never be written. Other
// failures (InfluxDB busy, timeouts) only mark InfluxDB down.
func (s *Store) checkWrite(ctx context.Context) error {
	err := s.write.WriteRecord(ctx, "")
	var he *http2.Error
	if err == nil || !errors.As(err, &he) {
		return nil
	}
	switch he.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("open InfluxDB store: %s refused the credentials (%d: %s): set storage.influxdb.token or token_file to a token allowed to write to bucket %q (InfluxDB 1.8: \"user:password\")", s.opt.URL, he.StatusCode, he.Message, s.opt.Bucket)
	case http.StatusNotFound:
		return fmt.Errorf("open InfluxDB store: %s has no bucket %q (%s): create it (InfluxDB 1.8: CREATE DATABASE) or fix storage.influxdb.bucket and org", s.opt.URL, s.opt.Bucket, he.Message)
	}
	return nil
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
			if err == nil {
				return nil
			}
			if isRejected(err) {
				// Not acknowledged: the agent gets 400 and drops the batch.
				return err
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
			n := r.n
		more:
			for n < s.opt.BatchSize {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
					n += r.n
				default:
					break more
				}
			}
			body = s.deliver(batch, body)
			if cap(body) > 16<<20 {
				body = nil
			}
		}
	}
}

// deliver writes the points of batch in one request and answers each
// write. If InfluxDB refuses the request as invalid or too large, the
// batch is split in halves and each half is sent again, so that only the
// writes whose points InfluxDB refuses fail. InfluxDB may have stored the
// valid points of a refused request already (a "partial write"); sending
// them again overwrites them with themselves. It returns body for reuse.
func (s *Store) deliver(batch []*writeReq, body []byte) []byte {
	body = body[:0]
	n := 0
	for _, r := range batch {
		body = append(body, r.lines...)
		n += r.n
	}
	t0 := time.Now()
	err := s.send(body, n)
	took := time.Since(t0)
	for _, r := range batch {
		r.influx += took
	}
	switch {
	case err == nil:
	case !isRejected(err):
		s.healthy.Store(false)
		s.log.Warn("InfluxDB write failed; queueing the points on disk", "points", n, "err", err)
	case len(batch) > 1:
		h := len(batch) / 2
		body = s.deliver(batch[:h], body)
		return s.deliver(batch[h:], body)
	case isTooLarge(err) && n > 1:
		// One write alone is too large: its lines in smaller requests.
		t0 = time.Now()
		var bad int
		bad, err = s.sendSplit(batch[0].lines, false)
		batch[0].influx += time.Since(t0)
		if err != nil && !isRejected(err) {
			s.healthy.Store(false)
		}
		if bad > 0 {
			s.rejected.Add(uint64(bad))
		}
	default:
		s.rejected.Add(uint64(n))
		s.log.Warn("InfluxDB refused a write as invalid; the client gets 400", "points", n, "err", err)
	}
	for _, r := range batch {
		r.done <- err
	}
	return body
}

// sendSplit sends lines in halves, recursively, after InfluxDB refused
// them together. Too large requests are always split; requests refused as
// invalid only if lineLevel, down to single lines. It returns how many
// lines were finally refused with the first refusal's error, or a
// transient error (InfluxDB down) if any part met one: then the caller
// keeps all lines for later, the stored ones are overwritten with
// themselves.
func (s *Store) sendSplit(lines []byte, lineLevel bool) (int, error) {
	n := countLines(lines)
	mid := splitLines(lines, n/2)
	var rejected int
	var rejErr error
	for _, part := range [][]byte{lines[:mid], lines[mid:]} {
		pn := countLines(part)
		if pn == 0 {
			continue
		}
		err := s.send(part, pn)
		if err == nil {
			continue
		}
		if !isRejected(err) {
			return 0, err
		}
		if pn > 1 && (lineLevel || isTooLarge(err)) {
			var bad int
			bad, err = s.sendSplit(part, lineLevel)
			if err != nil && !isRejected(err) {
				return 0, err
			}
			if bad == 0 {
				continue
			}
			rejected += bad
		} else {
			rejected += pn
			if lineLevel {
				s.log.Error("InfluxDB refused a queued point; it is dropped", "line", truncate(part, 300), "err", err)
			}
		}
		if rejErr == nil {
			rejErr = err
		}
	}
	return rejected, rejErr
}

// countLines counts the newline-terminated lines of encoded points.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// splitLines returns the offset after the k-th line.
func splitLines(b []byte, k int) int {
	off := 0
	for ; k > 0; k-- {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return len(b)
		}
		off += i + 1
	}
	return off
}

func truncate(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
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
		// Counted and logged by the caller once splitting has found
		// what InfluxDB refuses.
		return &rejectedError{err}
	}
	var he *http2.Error
	if errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden) {
		// Durable in the queue, but nothing reaches InfluxDB until an
		// operator fixes the credentials: say so loudly.
		s.log.Error("InfluxDB refused the collector's credentials; points are queued until storage.influxdb.token (1.8: user:password) is fixed", "status", he.StatusCode, "err", err)
		s.lastErr.Store(fmt.Sprintf("InfluxDB refused the credentials (%d): %s; fix storage.influxdb.token", he.StatusCode, err))
	}
	return fmt.Errorf("write %d points to InfluxDB %s: %w", n, s.opt.URL, err)
}

// rejectedError is InfluxDB refusing points as invalid or too large. It
// matches store.ErrRejected, so that the write API answers 400.
type rejectedError struct{ err error }

func (e *rejectedError) Error() string {
	var he *http2.Error
	if errors.As(e.err, &he) && he.Message != "" {
		return fmt.Sprintf("InfluxDB refused the points (%d): %s", he.StatusCode, he.Message)
	}
	return "InfluxDB refused the points: " + e.err.Error()
}
func (e *rejectedError) Unwrap() error        { return e.err }
func (e *rejectedError) Is(target error) bool { return target == store.ErrRejected }

// isTooLarge reports whether InfluxDB refused a request for its size
// (413): smaller requests with the same points may pass.
func isTooLarge(err error) bool {
	var he *http2.Error
	return errors.As(err, &he) && he.StatusCode == http.StatusRequestEntityTooLarge
}

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
		bad := 0
		if isRejected(err) {
			// These points were acknowledged: find the lines InfluxDB
			// refuses and write all others.
			bad, err = s.sendSplit(body, true)
			if err != nil && isRejected(err) {
				s.dropRejected(bad, err)
				err = nil
			}
		}
		if err == nil {
			if aerr := s.queue.Ack(recs[len(recs)-1].Seq); aerr != nil {
				s.log.Error("acknowledge InfluxDB queue", "err", aerr)
			}
			s.replayed.Add(uint64(n - bad))
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

// dropRejected surfaces queued points InfluxDB refused for good: they had
// been acknowledged, so the drop is counted, logged and written to
// InfluxDB as an event (best effort: if that fails too, the log and the
// counters remain).
func (s *Store) dropRejected(points int, err error) {
	s.rejected.Add(uint64(points))
	s.dropped.Add(uint64(points))
	s.log.Error("InfluxDB refused queued points for good; they are dropped from the queue", "points", points, "err", err)
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	status := 0 // InfluxDB's HTTP status
	var he *http2.Error
	if errors.As(err, &he) {
		status = he.StatusCode
	}
	pt := metric.NewPoint(rejectionEvent, map[string]string{"status": fmt.Sprint(status)}, map[string]metric.Value{
		"dropped_points": metric.Int(int64(points)),
		"message":        metric.String(msg),
	}, time.Now())
	line := metric.AppendLine(nil, &pt)
	if err := s.send(line, 1); err != nil {
		s.log.Error("write the rejection event to InfluxDB", "err", err)
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
		RejectedPoints: s.rejected.Load(), DroppedPoints: s.dropped.Load(), WriteErrors: s.writeErrors.Load(), FullRefusals: s.refusals.Load(),
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
