// Package ingest is the collector's InfluxDB-compatible write endpoint
// (POST /api/v2/write): it authenticates the site token, parses and
// validates line protocol, stamps the trusted tags, stores the points and
// acknowledges only after the store made them durable. Observers (the
// availability engine, event and inventory recorders) see each stored
// batch afterwards.
package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

// Limits protect the collector from oversized or abusive requests.
type Limits struct {
	MaxBodyBytes    int64 // compressed request body; default 16 MiB
	MaxDecodedBytes int64 // after gunzip; default 64 MiB
	MaxLineBytes    int   // default 64 KiB
	MaxPoints       int   // per request; default 100,000
	MaxInFlight     int   // concurrent writes before 429; default 256
	// Per token: requests and points per second before 429 with
	// Retry-After; default 10 and 50,000; negative disables.
	TokenRequestsPerSecond float64
	TokenPointsPerSecond   float64
}

func (l *Limits) defaults() {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 16 << 20
	}
	if l.MaxDecodedBytes == 0 {
		l.MaxDecodedBytes = 64 << 20
	}
	if l.MaxLineBytes == 0 {
		l.MaxLineBytes = 64 << 10
	}
	if l.MaxPoints == 0 {
		l.MaxPoints = 100000
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = 256
	}
	if l.TokenRequestsPerSecond == 0 {
		l.TokenRequestsPerSecond = 10
	}
	if l.TokenPointsPerSecond == 0 {
		l.TokenPointsPerSecond = 50000
	}
}

// DeviceSeen summarises the rows of one device in a batch.
type DeviceSeen struct {
	DeviceID      int64
	Device, Class string
	First, Last   time.Time // of all its rows
	Points        int
	// Self is set if some rows were written by the device about itself:
	// named by their host tag (an agent or Telegraf reporting its own
	// host), or by neither host nor device tag (then they name the site:
	// a client writing with the site's token about nothing else can only
	// be reporting itself). Only those rows prove the device alive; rows
	// naming it by the device tag were written about it by someone else
	// (an SNMP poller, a check) and say only what their fields say.
	Self bool
	// Beats are the data times of the self rows, sorted, at most one per
	// second (the first row of each), so that every write counts without
	// a replay of hours costing one signal per point.
	Beats []time.Time
}

// Batch is what observers get after a write was stored.
type Batch struct {
	MunicipalityID, SiteID int64
	Municipality, Site     string
	Devices                []DeviceSeen
	// Signals are the points of SignalMeasurements, with the trusted tags
	// stamped, for engines that need their fields.
	Signals []metric.Point
}

// SignalMeasurements are passed to observers in full.
var SignalMeasurements = map[string]bool{
	"schulmon_agent":      true,
	"snmp_poll":           true,
	"snmp_trap":           true,
	"check":               true,
	"discovered_endpoint": true,
	"snmp_lldp":           true, // parents of devices (availability)
}

var clientDeviceKey = []byte("client_device")

// Observer is told about every stored batch. It must not block for long:
// the write has been acknowledged-to-be and the client is waiting.
type Observer interface {
	Observe(ctx context.Context, b *Batch)
}

// Directory is what ingest needs from tenancy.
type Directory interface {
	Authenticate(ctx context.Context, secret string) (*tenancy.Principal, error)
	ResolveDevice(ctx context.Context, siteID int64, name, class string) (int64, string, error)
	Seen(deviceID int64, t time.Time)
}

// Handler serves POST /api/v2/write.
type Handler struct {
	dir       Directory
	store     store.Writer
	observers []Observer
	mergers   []*merger // for BatchObservers, parallel to observers (nil for others)
	limits    Limits
	log       *slog.Logger
	inflight  chan struct{}
	tokens    *tokenLimits
	now       func() time.Time

	parsers sync.Pool
	bufs    sync.Pool

	requests *prometheus.CounterVec
	points   prometheus.Counter
	duration prometheus.Histogram
}

// New returns a write handler. reg may be nil.
func New(dir Directory, st store.Writer, limits Limits, log *slog.Logger, reg prometheus.Registerer) *Handler {
	limits.defaults()
	h := &Handler{
		dir: dir, store: st, limits: limits, log: log,
		inflight: make(chan struct{}, limits.MaxInFlight),
		tokens:   newTokenLimits(limits),
		now:      time.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schulmon_collector_write_requests_total", Help: "Write requests by HTTP status code."}, []string{"code"}),
		points:   prometheus.NewCounter(prometheus.CounterOpts{Name: "schulmon_collector_points_written_total", Help: "Points stored through the write API."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "schulmon_collector_write_duration_seconds", Help: "Write request duration until acknowledged.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	h.parsers.New = func() any {
		return &metric.Parser{MaxLineBytes: limits.MaxLineBytes, MaxPoints: limits.MaxPoints}
	}
	h.bufs.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	if reg != nil {
		reg.MustRegister(h.requests, h.points, h.duration)
	}
	return h
}

// AddObserver registers an observer; call before serving.
// A BatchObserver gets the batches of concurrent writes merged.
func (h *Handler) AddObserver(o Observer) {
	h.observers = append(h.observers, o)
	var m *merger
	if bo, ok := o.(BatchObserver); ok {
		m = newMerger(bo)
	}
	h.mergers = append(h.mergers, m)
}

// Close stops the observers' merge goroutines; call after the HTTP
// server has shut down.
func (h *Handler) Close() {
	for _, m := range h.mergers {
		if m != nil {
			m.close()
		}
	}
}

// apiError is InfluxDB's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
}

func (h *Handler) fail(w http.ResponseWriter, status int, code, msg string, line int) {
	h.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Platform-Error-Code", code)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "5")
		}
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{Code: code, Message: msg, Line: line})
}

// BearerToken extracts the secret of "Authorization: Token …" (InfluxDB
// v2) or "Bearer …".
func BearerToken(r *http.Request) string {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Token ", "Bearer "} {
		if len(a) > len(p) && strings.EqualFold(a[:len(p)], p) {
			return strings.TrimSpace(a[len(p):])
		}
	}
	return ""
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		h.fail(w, http.StatusMethodNotAllowed, "method not allowed", "use POST", 0)
		return
	}
	// Overload is refused before any work: a refusal that first checked
	// the token cost as much as a tenth of an accepted write.
	select {
	case h.inflight <- struct{}{}:
		defer func() { <-h.inflight }()
	default:
		h.fail(w, http.StatusTooManyRequests, "too many requests", "the collector is busy: retry after the Retry-After delay", 0)
		return
	}
	p, err := h.dir.Authenticate(r.Context(), BearerToken(r))
	if err != nil {
		if errors.Is(err, tenancy.ErrUnauthenticated) {
			h.fail(w, http.StatusUnauthorized, "unauthorized", "unauthorized access: send 'Authorization: Token <site token>' with a valid, unrevoked token", 0)
		} else {
			h.log.Error("authenticate write", "err", err)
			h.fail(w, http.StatusServiceUnavailable, "unavailable", "cannot check the token right now; retry later", 0)
		}
		return
	}
	if p.WriteSite == nil {
		h.fail(w, http.StatusForbidden, "forbidden", "this token is not bound to a site and cannot write: create an agent token with 'schulmon-collector token create --site …'", 0)
		return
	}
	if d := h.tokens.allowRequest(p.TokenID, time.Now()); d > 0 {
		setRetryAfter(w, d)
		h.fail(w, http.StatusTooManyRequests, "too many requests", "this token sends more requests per second than allowed: retry after the Retry-After delay", 0)
		return
	}
	prec, err := metric.ParsePrecision(precisionParam(r.URL))
	if err != nil {
		h.fail(w, http.StatusBadRequest, "invalid", err.Error(), 0)
		return
	}

	// The request's memory goes back to the pools at the end, unless the
	// store may still read it: Write returns when the request's context
	// ends, but its commit goes on with the rows (series tags, rollups).
	recycle := true
	bufp := h.bufs.Get().(*[]byte)
	defer func() {
		if recycle {
			h.bufs.Put(bufp)
		}
	}()
	body, status, err := h.readBody(w, r, (*bufp)[:0])
	*bufp = body[:0]
	if err != nil {
		code := "invalid"
		if status == http.StatusRequestEntityTooLarge {
			code = "request too large"
		}
		h.fail(w, status, code, err.Error(), 0)
		return
	}

	parser := h.parsers.Get().(*metric.Parser)
	defer func() {
		if recycle {
			h.parsers.Put(parser)
		}
	}()
	if err := parser.Parse(body, prec, h.now().UnixNano()); err != nil {
		var pe *metric.ParseError
		line := 0
		if errors.As(err, &pe) {
			line = pe.Line
		}
		h.fail(w, http.StatusBadRequest, "invalid", "nothing was written: "+err.Error(), line)
		return
	}
	if d := h.tokens.allowPoints(p.TokenID, len(parser.Rows), time.Now()); d > 0 {
		setRetryAfter(w, d)
		h.fail(w, http.StatusTooManyRequests, "too many requests", "this token sends more points per second than allowed: nothing was written; retry after the Retry-After delay", 0)
		return
	}
	if len(parser.Rows) == 0 {
		h.requests.WithLabelValues("204").Inc()
		w.WriteHeader(http.StatusNoContent)
		return
	}

	sc := getStampScratch()
	defer func() {
		if recycle {
			sc.release()
		}
	}()
	points, batch, err := h.stamp(r.Context(), p.WriteSite, parser.Rows, sc)
	if err != nil {
		h.log.Error("resolve devices", "site", p.WriteSite.Name, "err", err)
		h.fail(w, http.StatusServiceUnavailable, "unavailable", "cannot register devices right now; retry later", 0)
		return
	}
	points = mergeSameSeries(points) // one point per series and time, as in InfluxDB
	if err := h.store.Write(r.Context(), points); err != nil {
		recycle = false // left to the garbage collector
		if errors.Is(err, store.ErrRejected) {
			h.log.Warn("store refused points as invalid", "site", p.WriteSite.Name, "points", len(points), "err", err)
			h.fail(w, http.StatusBadRequest, "invalid", "not stored: "+err.Error(), 0)
			return
		}
		h.log.Error("store write failed", "site", p.WriteSite.Name, "points", len(points), "err", err)
		h.fail(w, http.StatusServiceUnavailable, "unavailable", "the points could not be stored and were not acknowledged; retry later", 0)
		return
	}
	for _, d := range batch.Devices {
		h.dir.Seen(d.DeviceID, d.Last)
	}
	for i, o := range h.observers {
		if m := h.mergers[i]; m != nil {
			m.observe(r.Context(), batch)
		} else {
			o.Observe(r.Context(), batch)
		}
	}
	h.points.Add(float64(len(points)))
	h.duration.Observe(time.Since(start).Seconds())
	h.requests.WithLabelValues("204").Inc()
	w.WriteHeader(http.StatusNoContent)
}

// precisionParam is u.Query().Get("precision") without the map that
// Query makes: queries without escapes or semicolons (what clients send)
// are scanned here; others, and very long ones (Query refuses more than
// 10,000 parameters), take Query's way.
func precisionParam(u *url.URL) string {
	q := u.RawQuery
	if strings.ContainsAny(q, "%+;") || strings.Count(q, "&") >= 100 {
		return u.Query().Get("precision")
	}
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if k, v, _ := strings.Cut(kv, "="); k == "precision" {
			return v
		}
	}
	return ""
}

// readBody reads the (possibly gzipped) body into buf within the limits.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, int, error) {
	if r.ContentLength > h.limits.MaxBodyBytes {
		return buf, http.StatusRequestEntityTooLarge, fmt.Errorf("request body of %d bytes is larger than the limit of %d bytes: send smaller batches", r.ContentLength, h.limits.MaxBodyBytes)
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, h.limits.MaxBodyBytes)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		// A gzip reader holds a 32 KiB window: a new one per request was a
		// fifth of the collector's allocated bytes. The pooled one is done
		// with once this function returns (the body is copied into buf).
		gz := gzipReaders.Get().(*gzipReader)
		defer gz.release()
		if err := gz.reset(src); err != nil {
			return buf, http.StatusBadRequest, fmt.Errorf("body is not valid gzip (Content-Encoding: gzip): %v", err)
		}
		gz.lr = io.LimitedReader{R: &gz.zr, N: h.limits.MaxDecodedBytes + 1}
		src = &gz.lr
	default:
		return buf, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q: use gzip or none", enc)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > h.limits.MaxDecodedBytes {
			return buf, http.StatusRequestEntityTooLarge, fmt.Errorf("decompressed body is larger than the limit of %d bytes: send smaller batches", h.limits.MaxDecodedBytes)
		}
		if err == io.EOF {
			return buf, 0, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return buf, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than the limit of %d bytes: send smaller batches", h.limits.MaxBodyBytes)
			}
			if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
				return buf, http.StatusBadRequest, fmt.Errorf("body is not valid gzip (Content-Encoding: gzip): %v", err)
			}
			return buf, http.StatusBadRequest, fmt.Errorf("read request body: %v", err)
		}
	}
}

// gzipReader is a pooled gzip decoder with its input buffer.
type gzipReader struct {
	br *bufio.Reader // gzip.Reader would make a new one per Reset
	zr gzip.Reader
	lr io.LimitedReader
}

var gzipReaders = sync.Pool{New: func() any { return &gzipReader{br: bufio.NewReader(nil)} }}

// reset starts decoding src; its error is gzip.NewReader's.
func (g *gzipReader) reset(src io.Reader) error {
	g.br.Reset(src)
	return g.zr.Reset(g.br)
}

// release drops the references to the request and returns g to the pool.
func (g *gzipReader) release() {
	g.br.Reset(nil)
	g.lr = io.LimitedReader{}
	gzipReaders.Put(g)
}

// deviceRegistrar is implemented by a Directory that can register the new
// devices of a write at once.
type deviceRegistrar interface {
	RegisterDevices(ctx context.Context, siteID int64, refs []tenancy.DeviceRef) error
}

// rowDevice is what stamp's first pass learnt about a row.
type rowDevice struct {
	ref    int32 // index in refs: the row's device, by name and default class
	self   bool  // the device reports about itself (host tag or no device tag)
	signal bool  // the row is one of SignalMeasurements
}

// stampScratch is stamp's working memory, pooled. Nothing in it is used
// after the request: the store copies what it keeps, and the batch, which
// observers keep, is allocated anew.
type stampScratch struct {
	points []store.Point
	devs   []rowDevice
	refs   []tenancy.DeviceRef
	seen   map[int64]int // device id → index in batch.Devices
	// names are the strings of measurements, tag and field keys and
	// classes seen before: few, and the same in every request.
	names map[string]string
	vals  []byte
}

var stampScratches = sync.Pool{New: func() any {
	return &stampScratch{seen: map[int64]int{}, names: map[string]string{}}
}}

// Bounds of what a pooled scratch keeps: one huge or odd request should
// not leave its memory to every later one.
const (
	maxKeptRows  = 1 << 14
	maxNames     = 1 << 10
	maxNameBytes = 64
)

func getStampScratch() *stampScratch { return stampScratches.Get().(*stampScratch) }

func (sc *stampScratch) release() {
	clear(sc.points) // the rows belong to a pooled parser
	if cap(sc.points) > maxKeptRows {
		sc.points, sc.devs, sc.refs = nil, nil, nil
	}
	clear(sc.refs)
	sc.refs = sc.refs[:0]
	if len(sc.seen) > maxKeptRows {
		sc.seen = map[int64]int{}
	} else {
		clear(sc.seen)
	}
	if cap(sc.vals) > 64<<10 {
		sc.vals = nil
	}
	stampScratches.Put(sc)
}

// name returns b as a string, shared with earlier requests.
func (sc *stampScratch) name(b []byte) string {
	if s, ok := sc.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= maxNameBytes {
		if len(sc.names) >= maxNames {
			clear(sc.names)
		}
		sc.names[s] = s
	}
	return s
}

// signal converts a signal row into an owned point with the trusted
// tags (sorted by key) merged into its own, its tags and fields appended
// to the slices given. The values of its tags and string fields share
// one string: it is the row's own, so a value an observer keeps holds no
// other row's.
func (sc *stampScratch) signal(row *metric.Row, trusted []metric.Tag, tags []metric.Tag, fields []metric.Field) metric.Point {
	sc.vals = sc.vals[:0]
	for _, t := range row.Tags {
		sc.vals = append(sc.vals, t.Value...)
	}
	for i := range row.Fields {
		sc.vals = append(sc.vals, row.Fields[i].Str...)
	}
	vals := string(sc.vals)
	next := func(n int) string {
		s := vals[:n]
		vals = vals[n:]
		return s
	}
	// The row's tags are sorted and the client's copies of the trusted
	// ones were removed: a merge keeps them sorted, without SortTags.
	for _, t := range row.Tags {
		k := sc.name(t.Key)
		for len(trusted) > 0 && trusted[0].Key < k {
			tags = append(tags, trusted[0])
			trusted = trusted[1:]
		}
		tags = append(tags, metric.Tag{Key: k, Value: next(len(t.Value))})
	}
	tags = append(tags, trusted...)
	for i := range row.Fields {
		f := &row.Fields[i]
		fields = append(fields, metric.Field{Key: sc.name(f.Key), Value: f.ValueWith(next(len(f.Str)))})
	}
	return metric.Point{Measurement: sc.name(row.Measurement), Tags: tags, Fields: fields, Time: time.Unix(0, row.Time).UTC()}
}

// stamp resolves the device of every row, removes client-sent trusted tags
// and builds the store points and the observers' batch. The points live in
// sc: they are valid until sc is released.
func (h *Handler) stamp(ctx context.Context, site *tenancy.Site, rows []metric.Row, sc *stampScratch) ([]store.Point, *Batch, error) {
	batch := &Batch{MunicipalityID: site.MunicipalityID, SiteID: site.ID, Municipality: site.Municipality, Site: site.Name}
	devs := slices.Grow(sc.devs[:0], len(rows))[:len(rows)]
	sc.devs = devs
	refs := sc.refs[:0]
	var prevName, siteName []byte
	var signals, signalTags, signalFields int
	for i := range rows {
		row := &rows[i]
		// The device a point is about: its host tag (Telegraf's and the
		// agent's own metrics), else its device tag (SNMP devices, checks),
		// else the site itself. Where both are present, the client's
		// device tag means something else (Telegraf's disk device) and is
		// kept as client_device.
		var device, host, class []byte
		for _, t := range row.Tags {
			switch string(t.Key) {
			case "device":
				device = t.Value
			case "host":
				host = t.Value
			case "class":
				class = t.Value
			}
		}
		kept := row.Tags[:0]
		for _, t := range row.Tags {
			switch string(t.Key) {
			case "device":
				if len(host) > 0 {
					kept = append(kept, metric.RawTag{Key: clientDeviceKey, Value: t.Value})
				}
				continue
			case "class", "municipality", "site":
				continue // never trusted from a client
			}
			kept = append(kept, t)
		}
		row.Tags = kept
		if len(host) > 0 && len(device) > 0 {
			metric.SortRawTags(row.Tags)
		}
		name := host
		self := true
		if len(name) == 0 {
			name = device
			self = len(device) == 0
		}
		isSite := len(name) == 0
		if isSite {
			if siteName == nil {
				siteName = []byte(site.Name)
			}
			name = siteName
		}
		// Rows of one device usually come together: one ref (and one
		// string of its name) per run of rows.
		if i == 0 || string(name) != string(prevName) {
			defClass := "server" // a host agent (schulmon or Telegraf) reporting itself
			if len(host) == 0 {
				defClass = "other"
			}
			if len(class) > 0 {
				defClass = sc.name(class)
			}
			ref := tenancy.DeviceRef{Name: site.Name, Class: defClass}
			if !isSite {
				ref.Name = string(name)
			}
			refs = append(refs, ref)
		}
		prevName = name
		d := rowDevice{ref: int32(len(refs) - 1), self: self, signal: SignalMeasurements[string(row.Measurement)]}
		if d.signal {
			signals++
			signalTags += len(row.Tags) + 4
			signalFields += len(row.Fields)
		}
		devs[i] = d
	}
	sc.refs = refs
	// New devices of this write are registered together, in one group
	// commit, instead of one after the other below.
	if r, ok := h.dir.(deviceRegistrar); ok {
		if err := r.RegisterDevices(ctx, site.ID, refs); err != nil {
			return nil, nil, err
		}
	}
	points := slices.Grow(sc.points[:0], len(rows))[:len(rows)]
	sc.points = points
	batch.Devices = make([]DeviceSeen, 0, len(refs))
	var tags []metric.Tag
	var fields []metric.Field
	if signals > 0 {
		// One array each for all signals' tags and fields; every point
		// gets a capped slice of them, so that appending copies.
		batch.Signals = make([]metric.Point, 0, signals)
		tags = make([]metric.Tag, signalTags)
		fields = make([]metric.Field, signalFields)
	}
	lastRef := int32(-1)
	var lastID int64
	var lastName, lastClass string
	j := 0 // index of lastID in batch.Devices
	for i := range rows {
		row := &rows[i]
		dev := devs[i]
		if dev.ref != lastRef {
			ref := &refs[dev.ref]
			id, cls, err := h.dir.ResolveDevice(ctx, site.ID, ref.Name, ref.Class)
			if err != nil {
				return nil, nil, err
			}
			lastRef, lastID, lastName, lastClass = dev.ref, id, ref.Name, cls
			var ok bool
			if j, ok = sc.seen[id]; !ok {
				j = len(batch.Devices)
				sc.seen[id] = j
				batch.Devices = append(batch.Devices, DeviceSeen{DeviceID: id, Device: lastName, Class: lastClass})
			}
		}
		points[i] = store.Point{SiteID: site.ID, DeviceID: lastID, Municipality: site.Municipality, Site: site.Name, Device: lastName, Class: lastClass, Row: row}
		t := time.Unix(0, row.Time)
		d := &batch.Devices[j]
		if d.Points == 0 {
			d.First, d.Last = t, t
		} else {
			if t.Before(d.First) {
				d.First = t
			}
			if t.After(d.Last) {
				d.Last = t
			}
		}
		d.Points++
		if dev.self {
			d.Self = true
			// Rows of one gathering share a time: usually nothing to add.
			if n := len(d.Beats); n == 0 || d.Beats[n-1].Unix() != t.Unix() {
				d.Beats = append(d.Beats, t)
			}
		}
		if dev.signal {
			trusted := [...]metric.Tag{ // sorted by key
				{Key: "class", Value: lastClass},
				{Key: "device", Value: lastName},
				{Key: "municipality", Value: site.Municipality},
				{Key: "site", Value: site.Name},
			}
			nt, nf := len(row.Tags)+len(trusted), len(row.Fields)
			batch.Signals = append(batch.Signals, sc.signal(row, trusted[:], tags[:0:nt], fields[:0:nf]))
			tags, fields = tags[nt:], fields[nf:]
		}
	}
	for i := range batch.Devices {
		batch.Devices[i].Beats = sortBeats(batch.Devices[i].Beats)
	}
	return points, batch, nil
}

// sortBeats sorts beats and keeps the first of each second. Rows usually
// arrive in time order, so this is mostly one pass without sorting.
func sortBeats(b []time.Time) []time.Time {
	if len(b) < 2 {
		return b
	}
	if !slices.IsSortedFunc(b, time.Time.Compare) {
		slices.SortStableFunc(b, time.Time.Compare)
	}
	out := b[:1]
	for _, t := range b[1:] {
		if t.Unix() != out[len(out)-1].Unix() {
			out = append(out, t)
		}
	}
	return out
}
