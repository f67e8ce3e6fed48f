package availability

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"
)

// SignalKind says what produced a signal.
type SignalKind uint8

// Signal kinds.
const (
	SignalHeartbeat SignalKind = iota + 1 // any write of an agent about its own host
	SignalPoll                            // SNMP poll result
	SignalCheck                           // check-plugin result (a service object)
	SignalTrap                            // SNMP trap
)

// ObjectInfo names the object a signal is about, with the tenancy the
// collector stamped on it.
type ObjectInfo struct {
	MunicipalityID, SiteID, DeviceID int64
	Municipality, Site, Device       string
	Class                            string
	Check                            string // check instance name for service objects
}

// Key is the identity of the object.
func (o ObjectInfo) Key() ObjectKey { return ObjectKey{o.SiteID, o.Device, o.Check} }

// Signal is one piece of evidence about one object at one data time.
type Signal struct {
	Object ObjectInfo
	Time   time.Time
	Kind   SignalKind
	// OK is true for a sign of life (heartbeat, reachable poll, check
	// status ok or warning, a trap) and false for a failure.
	OK    bool
	Cause Cause // cause of a failure; defaults by kind
	// Rebooted says the device restarted; BootTime when it came back up
	// (data time minus sysUpTime), zero if unknown.
	Rebooted bool
	BootTime time.Time
	// Uptime is sysUpTime in seconds if HasUptime. A decrease between two
	// polls is a reboot.
	Uptime    float64
	HasUptime bool
}

// EventKind is what happened to an outage.
type EventKind string

// Event kinds.
const (
	EventDown      EventKind = "down"      // an outage was detected
	EventRecovered EventKind = "recovered" // the outage ended and the object stayed up
	EventRevoked   EventKind = "revoked"   // replayed data proved the object was up after all
)

// Event is a change of an outage, for alerting.
type Event struct {
	Kind   EventKind `json:"kind"`
	Object Object    `json:"object"`
	Span   Span      `json:"span"`
	At     time.Time `json:"at"`
	// Maintenance is true if the object was in a maintenance window at the
	// outage's start; Unreachable if its parent was down then (the outage
	// is counted, and alerted, at the parent).
	Maintenance bool `json:"maintenance"`
	Unreachable bool `json:"unreachable"`
}

// EventHandler receives outage events (alerting implements it). It is
// called without the engine's lock held.
type EventHandler interface {
	HandleEvents(ctx context.Context, events []Event)
}

// Config configures the engine. The zero value is usable.
type Config struct {
	Heartbeat Detection // agents (default interval 10 s)
	Poll      Detection // SNMP polls (default interval 60 s)
	Check     Detection // check plugins (default interval 60 s)
	// Horizon is how far back replayed data can still revise outages kept
	// in memory (default 7 days); older outages are final in the database.
	Horizon time.Duration
	// Partition selects the sites this engine works on (nil: all), so that
	// several collectors can share the work.
	Partition func(siteID int64) bool
	// Now is the clock (default time.Now). Data times come from the data.
	Now    func() time.Time
	Logger *slog.Logger
	Events EventHandler
	// ReloadEvery is how often Tick re-reads maintenance windows and gaps
	// that the CLI or API may have changed (default 30 s).
	ReloadEvery time.Duration
}

func (c Config) withDefaults() Config {
	c.Heartbeat = c.Heartbeat.withDefaults(10 * time.Second)
	c.Poll = c.Poll.withDefaults(60 * time.Second)
	c.Check = c.Check.withDefaults(60 * time.Second)
	if c.Horizon <= 0 {
		c.Horizon = 7 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReloadEvery <= 0 {
		c.ReloadEvery = 30 * time.Second
	}
	return c
}

type objState struct {
	Object
	p         params
	segs      []seg
	spans     []Span // derived, as stored (with IDs)
	notified  map[int64]bool
	nextCheck int64
	dirty     bool // evidence changed since the last checkpoint
	// grown: since the last checkpoint the evidence changed only by its
	// last segment's end moving on (nearly every signal). The checkpoint
	// saves that end in its site's tail row, not the object's segments.
	grown bool
	// resync: since the last sync (recorded in synced) the evidence
	// changed other than by the last segment's end moving on, so the
	// tick must derive the spans again (see onlyGrownSinceSync).
	resync bool
	synced struct {
		n      int   // segments
		s, e   int64 // the last one's start and end
		gapGen uint64
	}
	uptime   float64
	uptimeAt int64
	observeN uint64 // the last ObserveSignals call that listed it to sync
}

// Engine turns signals into states and outages. It is safe for
// concurrent use.
type Engine struct {
	db  *sql.DB
	cfg Config

	mu       sync.Mutex
	objs     map[ObjectKey]*objState
	byID     map[int64]*objState
	list     []*objState
	children map[int64][]int64
	gaps     map[int64][]gapSpan
	gapGen   uint64 // counts changes of gaps (see onlyGrownSinceSync)
	maint    []Maintenance
	set      *settings
	runID    int64
	reloaded time.Time
	sc       scratch
	dueBuf   []*objState
	touched  []*objState // ObserveSignals' objects to sync
	observeN uint64      // numbers ObserveSignals calls (objState.observeN)
	// orders are the objects of each site's latest run of signals
	// (order.go); runObjs is the buffer of the current run's.
	orders  map[int64]*siteOrder
	runObjs []*objState
	burnBuf []*objState // BurnInputs' objects
	// logDirty are the (object, year) rows of the span log to rewrite
	// before the current transaction commits.
	logDirty map[logKey]int64
	// lldp collects LLDP neighbours from the write path (lldp.go).
	lldp lldpBook

	// sigBuf is ObserveBatches' signal buffer, under sigMu (not mu:
	// batches are converted before the engine is locked).
	sigMu  sync.Mutex
	sigBuf []Signal
}

type logKey struct {
	obj  int64
	year int
}

// markLog notes that the object's closed spans changed within [start, end).
func (e *Engine) markLog(st *objState, start, end int64) {
	if end == 0 {
		return // open spans are not in the log
	}
	if e.logDirty == nil {
		e.logDirty = map[logKey]int64{}
	}
	for y := utcYear(start); y <= utcYear(end-1); y++ {
		e.logDirty[logKey{st.ID, y}] = st.SiteID
	}
}

// lazyTx begins its transaction only when something is written: most
// batches (heartbeats of known, healthy objects) change nothing and then
// cost no SQLite transaction on the write path.
type lazyTx struct {
	ctx   context.Context
	db    *sql.DB
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // prepared once per transaction
}

// stmt returns a statement prepared in the transaction: a tick in which
// many objects change (a whole district's uplink) parses each statement
// once, not once per object.
func (l *lazyTx) stmt(query string) (*sql.Stmt, error) {
	tx, err := l.get()
	if err != nil {
		return nil, err
	}
	if st := l.stmts[query]; st != nil {
		return st, nil
	}
	st, err := tx.PrepareContext(l.ctx, query)
	if err != nil {
		return nil, fmt.Errorf("availability: prepare: %w", err)
	}
	if l.stmts == nil {
		l.stmts = map[string]*sql.Stmt{}
	}
	l.stmts[query] = st
	return st, nil
}

func (l *lazyTx) get() (*sql.Tx, error) {
	if l.tx == nil {
		tx, err := l.db.BeginTx(l.ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("availability: begin: %w", err)
		}
		l.tx = tx
	}
	return l.tx, nil
}

func (l *lazyTx) commit() error {
	if l.tx == nil {
		return nil
	}
	err := l.tx.Commit()
	l.tx, l.stmts = nil, nil
	if err != nil {
		return fmt.Errorf("availability: commit: %w", err)
	}
	return nil
}

func (l *lazyTx) rollback() {
	if l.tx != nil {
		_ = l.tx.Rollback()
		l.tx, l.stmts = nil, nil
	}
}

// flushLog rewrites the span-log rows changed in this transaction.
func (e *Engine) flushLog(ctx context.Context, lt *lazyTx) error {
	if len(e.logDirty) == 0 {
		return nil
	}
	for k, site := range e.logDirty {
		if err := rebuildLogYear(ctx, lt, k.obj, site, k.year); err != nil {
			return err
		}
	}
	clear(e.logDirty)
	return nil
}

// Open creates the tables if needed, rebuilds the engine's state from the
// database and records the start of this collector run.
func Open(ctx context.Context, db *sql.DB, cfg Config) (*Engine, error) {
	if err := Migrate(ctx, db); err != nil {
		return nil, err
	}
	e := &Engine{db: db, cfg: cfg.withDefaults(), objs: map[ObjectKey]*objState{}, byID: map[int64]*objState{}, children: map[int64][]int64{}}
	now := e.cfg.Now()
	res, err := db.ExecContext(ctx, `INSERT INTO av_runs(started_ms, alive_ms) VALUES(?,?)`, ms(now), ms(now))
	if err != nil {
		return nil, fmt.Errorf("availability: record collector start: %w", err)
	}
	e.runID, _ = res.LastInsertId()
	if err := e.reload(ctx, now); err != nil {
		return nil, err
	}
	if err := e.loadObjects(ctx, now); err != nil {
		return nil, err
	}
	// Re-derive everything: the time the collector was down is now a gap.
	if err := e.evaluate(ctx, now, true); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) reload(ctx context.Context, now time.Time) error {
	gaps, err := loadGaps(ctx, e.db)
	if err != nil {
		return err
	}
	for k := range gaps {
		sort.Slice(gaps[k], func(i, j int) bool { return gaps[k][i].Start < gaps[k][j].Start })
	}
	set, err := loadSettings(ctx, e.db)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(gaps, e.gaps) {
		e.gapGen++ // every object's spans may change
	}
	e.gaps, e.maint, e.set, e.reloaded = gaps, set.maint, set, now
	return e.dropRetired(ctx)
}

// retiredQuery lists retired objects (by the partial index
// av_objects_retired).
const retiredQuery = `SELECT id FROM av_objects WHERE retired_ms>0`

// dropRetired forgets objects retired through the CLI or API.
func (e *Engine) dropRetired(ctx context.Context) error {
	if len(e.list) == 0 {
		return nil
	}
	rows, err := e.db.QueryContext(ctx, retiredQuery)
	if err != nil {
		return fmt.Errorf("availability: load retired objects: %w", err)
	}
	defer rows.Close()
	gone := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("availability: load retired objects: %w", err)
		}
		if e.byID[id] != nil {
			gone[id] = true
		}
	}
	if len(gone) == 0 {
		return rows.Err()
	}
	w := 0
	for _, st := range e.list {
		if gone[st.ID] {
			delete(e.objs, st.Key())
			delete(e.orders, st.SiteID) // it must not be found there either
			delete(e.byID, st.ID)
			continue
		}
		e.list[w] = st
		w++
	}
	clear(e.list[w:])
	e.list = e.list[:w]
	return rows.Err()
}

func (e *Engine) inPartition(site int64) bool {
	return e.cfg.Partition == nil || e.cfg.Partition(site)
}

func (e *Engine) paramsFor(o *Object) params {
	switch {
	case o.Heartbeat:
		return e.cfg.Heartbeat.params()
	case o.Check != "":
		return e.cfg.Check.params()
	}
	return e.cfg.Poll.params()
}

func (e *Engine) loadObjects(ctx context.Context, now time.Time) error {
	rows, err := e.db.QueryContext(ctx, `SELECT id, municipality_id, site_id, device_id, municipality, site, device, class, check_name, parent_id, parent_source, critical, heartbeat, first_seen_ms, segs FROM av_objects WHERE retired_ms=0`)
	if err != nil {
		return fmt.Errorf("availability: load objects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		st := &objState{notified: map[int64]bool{}}
		var blob []byte
		if err := rows.Scan(&st.ID, &st.MunicipalityID, &st.SiteID, &st.DeviceID, &st.Municipality, &st.Site, &st.Device, &st.Class, &st.Check,
			&st.ParentID, &st.ParentSource, &st.Critical, &st.Heartbeat, &st.FirstSeen, &blob); err != nil {
			return fmt.Errorf("availability: load objects: %w", err)
		}
		if !e.inPartition(st.SiteID) {
			continue
		}
		if st.segs, err = decodeSegs(blob); err != nil {
			return fmt.Errorf("availability: object %s: %w", st.Name(), err)
		}
		st.p = e.paramsFor(&st.Object)
		e.add(st)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("availability: load objects: %w", err)
	}
	rows.Close()
	if err := e.loadTails(ctx); err != nil {
		return err
	}
	// Spans that derivation may still revise: those from the first kept
	// evidence on.
	srows, err := e.db.QueryContext(ctx, `SELECT id, object_id, state, cause, start_ms, end_ms, children FROM av_spans WHERE end_ms IS NULL OR end_ms >= ? ORDER BY object_id, start_ms`, ms(now)-e.cfg.Horizon.Milliseconds()*2)
	if err != nil {
		return fmt.Errorf("availability: load spans: %w", err)
	}
	defer srows.Close()
	for srows.Next() {
		var sp Span
		var end sql.NullInt64
		var children string
		if err := srows.Scan(&sp.ID, &sp.ObjectID, &sp.State, &sp.Cause, &sp.Start, &end, &children); err != nil {
			return fmt.Errorf("availability: load spans: %w", err)
		}
		st := e.byID[sp.ObjectID]
		if st == nil || len(st.segs) == 0 || sp.Start < st.segs[0].S {
			continue
		}
		sp.End, sp.Children = end.Int64, splitChildren(children)
		st.spans = append(st.spans, sp)
		if sp.End != 0 {
			st.notified[sp.Start] = true // assume sent; alerting dedupes anyway
		}
	}
	return srows.Err()
}

// loadTails moves the end of each object's last segment on to where the
// last checkpoint saw it (see Checkpoint). A tail applies only to the
// segment it was taken from (the same start), and only moves its end
// later.
func (e *Engine) loadTails(ctx context.Context) error {
	rows, err := e.db.QueryContext(ctx, `SELECT site_id, tails FROM av_site_tails`)
	if err != nil {
		return fmt.Errorf("availability: load evidence tails: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var site int64
		var blob []byte
		if err := rows.Scan(&site, &blob); err != nil {
			return fmt.Errorf("availability: load evidence tails: %w", err)
		}
		if !e.inPartition(site) {
			continue
		}
		err := decodeTails(blob, func(id, s, end int64) {
			st := e.byID[id]
			if st == nil || len(st.segs) == 0 {
				return
			}
			if g := &st.segs[len(st.segs)-1]; g.S == s && end > g.E {
				g.E = end
			}
		})
		if err != nil {
			return fmt.Errorf("availability: evidence tails of site %d: %w", site, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("availability: load evidence tails: %w", err)
	}
	return nil
}

func (e *Engine) add(st *objState) {
	e.objs[st.Key()] = st
	e.byID[st.ID] = st
	e.list = append(e.list, st)
	if st.ParentID != 0 {
		e.children[st.ParentID] = append(e.children[st.ParentID], st.ID)
	}
}

// object returns the state of an object, creating it on first sight.
func (e *Engine) object(ctx context.Context, lt *lazyTx, info ObjectInfo, first int64) (*objState, error) {
	return e.objectFound(ctx, lt, e.objs[info.Key()], &info, first)
}

// objectFound is object for st, the state found for info (nil: none).
// info is a pointer: this runs for every signal.
func (e *Engine) objectFound(ctx context.Context, lt *lazyTx, st *objState, info *ObjectInfo, first int64) (*objState, error) {
	if st != nil {
		if first < st.FirstSeen {
			st.FirstSeen = first
			upd, err := lt.stmt(`UPDATE av_objects SET first_seen_ms=? WHERE id=?`)
			if err != nil {
				return nil, err
			}
			if _, err := upd.ExecContext(ctx, first, st.ID); err != nil {
				return nil, fmt.Errorf("availability: update object %s: %w", st.Name(), err)
			}
		}
		return st, nil
	}
	if info.Device == "" {
		return nil, errors.New("availability: signal without device name")
	}
	st = &objState{notified: map[int64]bool{}}
	st.Object = Object{MunicipalityID: info.MunicipalityID, SiteID: info.SiteID, DeviceID: info.DeviceID,
		Municipality: info.Municipality, Site: info.Site, Device: info.Device, Class: info.Class, Check: info.Check,
		Critical: defaultCritical(info.Class, info.Check), FirstSeen: first}
	// The object may exist in the database already (another partition
	// owner wrote it, or it was created by the CLI).
	// Prepared once per transaction: the first round of a district's
	// schools creates hundreds of thousands of objects.
	ins, err := lt.stmt(`INSERT INTO av_objects(municipality_id, site_id, device_id, municipality, site, device, class, check_name, critical, first_seen_ms)
		VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(site_id, device, check_name) DO UPDATE SET class=CASE WHEN excluded.class<>'' THEN excluded.class ELSE class END, retired_ms=0
		RETURNING id, parent_id, critical, heartbeat, first_seen_ms`)
	if err != nil {
		return nil, err
	}
	err = ins.QueryRowContext(ctx,
		info.MunicipalityID, info.SiteID, info.DeviceID, info.Municipality, info.Site, info.Device, info.Class, info.Check, st.Critical, first).
		Scan(&st.ID, &st.ParentID, &st.Critical, &st.Heartbeat, &st.FirstSeen)
	if err != nil {
		return nil, fmt.Errorf("availability: create object %s/%s: %w", info.Site, info.Device, err)
	}
	st.p = e.paramsFor(&st.Object)
	e.add(st)
	return st, nil
}

// ObserveSignals feeds signals into the engine. Signals may be out of order and
// may lie in the past (replays): they revise the derived outages.
func (e *Engine) ObserveSignals(ctx context.Context, sigs []Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	var events []Event
	err := func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		lt := &lazyTx{ctx: ctx, db: e.db}
		defer lt.rollback()
		// The objects to sync, each once, in the order first touched:
		// marked with this call's number instead of kept in a map.
		e.observeN++
		list := e.touched[:0]
		defer func() { clear(list); e.touched = list[:0] }()
		run := orderRun{objs: e.runObjs[:0]}
		defer func() { e.runObjs = run.objs[:0] }()
		now := ms(e.cfg.Now())
		for i := range sigs {
			s := &sigs[i]
			if !e.inPartition(s.Object.SiteID) {
				continue
			}
			if !run.active || s.Object.SiteID != run.site {
				e.beginRun(&run, s.Object.SiteID)
			}
			t := ms(s.Time)
			st := run.find(s.Object.Device, s.Object.Check)
			if st == nil {
				st = e.objs[s.Object.Key()]
			}
			st, err := e.objectFound(ctx, lt, st, &s.Object, t)
			if err != nil {
				return err
			}
			run.objs = append(run.objs, st)
			n := len(st.segs)
			var prev seg
			if n > 0 {
				prev = st.segs[n-1]
			}
			if s.Kind == SignalHeartbeat && !st.Heartbeat {
				st.Heartbeat = true
				st.p = e.paramsFor(&st.Object)
				st.resync = true
				upd, err := lt.stmt(`UPDATE av_objects SET heartbeat=1 WHERE id=?`)
				if err != nil {
					return err
				}
				if _, err := upd.ExecContext(ctx, st.ID); err != nil {
					return fmt.Errorf("availability: update object %s: %w", st.Name(), err)
				}
			}
			e.apply(st, s, t)
			if skipSync && onlyExtendsUp(st, n, prev, t, now) {
				continue
			}
			if st.observeN != e.observeN {
				st.observeN = e.observeN
				list = append(list, st)
			}
		}
		e.endRun(&run)
		e.parentsFirst(list)
		for _, st := range list {
			if err := e.sync(ctx, lt, st, now, &events); err != nil {
				return err
			}
		}
		if err := e.flushLog(ctx, lt); err != nil {
			return err
		}
		if err := lt.commit(); err != nil {
			return err
		}
		e.annotate(events)
		return nil
	}()
	if err != nil {
		e.reset(ctx)
		return err
	}
	e.dispatch(ctx, events)
	return nil
}

// skipSync enables onlyExtendsUp and onlyGrownSinceSync (tests compare
// with and without).
var skipSync = true

// onlyExtendsUp reports whether the sample just applied at t did nothing
// but extend the object's latest run of good evidence (n segments before,
// the last of them prev), with no outage or unknown span stored from
// prev's end on, and t recent: then deriving the spans again gives the
// stored ones, and the sync can wait for the tick (the object's next
// check is not later than before). At 10,000 schools this is nearly every
// signal, and deriving each was the engine's largest cost.
func onlyExtendsUp(st *objState, n int, prev seg, t, now int64) bool {
	if n == 0 || len(st.segs) != n || prev.Fail || prev.Certain || t < prev.E || now-t >= st.p.D {
		return false
	}
	last := st.segs[n-1]
	if last.Fail || last.Certain || last.S != prev.S || last.E != t {
		return false
	}
	for _, sp := range st.spans {
		if sp.End == 0 || sp.End >= prev.E {
			return false
		}
	}
	return true
}

// reset re-reads the state after a failed transaction so that memory and
// database agree again.
func (e *Engine) reset(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	e.objs, e.byID, e.list, e.children = map[ObjectKey]*objState{}, map[int64]*objState{}, nil, map[int64][]int64{}
	e.orders = nil
	clear(e.logDirty)
	if err := e.loadObjects(ctx, now); err != nil {
		e.cfg.Logger.Error("availability: reload after failed write", "err", err)
	}
}

func (e *Engine) apply(st *objState, s *Signal, t int64) {
	n := len(st.segs)
	var last seg
	if n > 0 {
		last = st.segs[n-1]
	}
	defer func() {
		// A sample at or after the end of the evidence that left the
		// number of segments and the last one's start alone only moved
		// that end (see insertSample).
		if !s.Rebooted && n > 0 && t >= last.E && len(st.segs) == n && st.segs[n-1].S == last.S {
			st.grown = true
		} else {
			st.dirty, st.resync = true, true
		}
	}()
	boot := int64(0)
	if s.HasUptime && s.Kind == SignalPoll {
		if st.uptimeAt != 0 && t > st.uptimeAt && s.Uptime+1 < st.uptime {
			s.Rebooted = true
		}
		if t > st.uptimeAt {
			st.uptime, st.uptimeAt = s.Uptime, t
		}
		if s.Rebooted && s.BootTime.IsZero() {
			boot = t - int64(s.Uptime*1000)
		}
	}
	if s.Rebooted {
		if !s.BootTime.IsZero() {
			boot = ms(s.BootTime)
		} else if boot == 0 {
			boot = t
		}
		// The device was down at some time between its last sign of life
		// and its boot: count that whole stretch (the evidence allows no
		// less).
		if last, ok := lastOKBefore(st.segs, boot); ok && boot > last {
			cause := CauseReboot
			if s.Kind == SignalTrap {
				cause = CauseTrap
			}
			st.segs = insertCertain(st.segs, last, boot, cause)
			st.segs = insertSample(st.segs, boot, false, "", st.p.M)
		}
	}
	cause := s.Cause
	if !s.OK && cause == "" {
		switch s.Kind {
		case SignalPoll:
			cause = CauseSNMPTimeout
		case SignalCheck:
			cause = CauseCheckFailed
		case SignalTrap:
			cause = CauseTrap
		default:
			cause = CauseHeartbeatLost
		}
	}
	st.segs = insertSample(st.segs, t, !s.OK, cause, st.p.M)
}

func lastOKBefore(segs []seg, t int64) (int64, bool) {
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].S >= t {
			continue
		}
		if segs[i].Fail {
			return 0, false
		}
		return min(segs[i].E, t-1), true
	}
	return 0, false
}

func (e *Engine) gapsFor(site int64) []gapSpan {
	all, s := e.gaps[0], e.gaps[site]
	if len(s) == 0 {
		return all
	}
	out := append(append([]gapSpan{}, all...), s...)
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// sync re-derives an object's spans, writes the difference to the
// database and collects events. Called with e.mu held.
func (e *Engine) sync(ctx context.Context, lt *lazyTx, st *objState, now int64, events *[]Event) error {
	return e.syncDepth(ctx, lt, st, now, events, 0)
}

func (e *Engine) syncDepth(ctx context.Context, lt *lazyTx, st *objState, now int64, events *[]Event, depth int) error {
	e.compact(st, now)
	cur := e.sc.derive(st.segs, st.p, st.Heartbeat, e.gapsFor(st.SiteID), now)
	if st.ParentID != 0 {
		cur = splitUnreachable(cur, e.ancestorsDown(st, now))
	}
	e.markSynced(st)
	if sameSpans(cur, st.spans) {
		// The common case on a tick: nothing changed, nothing to write.
		e.afterSync(st, st.spans, now, events)
		return nil
	}
	cur = append([]Span(nil), cur...)
	downChanged := false
	// Match derived spans to stored ones: the same start first, then any
	// overlap of the same state (an outage whose start or end replayed
	// data revised is the same outage: updated, not revoked and re-raised).
	used := make([]bool, len(st.spans))
	match := make([]int, len(cur))
	for i := range cur {
		match[i] = -1
		for j, p := range st.spans {
			if !used[j] && p.State == cur[i].State && p.Start == cur[i].Start {
				match[i], used[j] = j, true
				break
			}
		}
	}
	for i := range cur {
		if match[i] >= 0 {
			continue
		}
		for j, p := range st.spans {
			if !used[j] && p.State == cur[i].State && spansOverlap(p, cur[i]) {
				match[i], used[j] = j, true
				break
			}
		}
	}
	for i := range cur {
		c := &cur[i]
		c.ObjectID = st.ID
		m := match[i]
		if m < 0 {
			if c.State == StateDown {
				c.Children = e.descendants(st.ID)
			}
			var end any
			if c.End != 0 {
				end = c.End
			}
			ins, err := lt.stmt(`INSERT INTO av_spans(object_id, site_id, state, cause, start_ms, end_ms, children) VALUES(?,?,?,?,?,?,?) RETURNING id`)
			if err != nil {
				return err
			}
			if err := ins.QueryRowContext(ctx,
				st.ID, st.SiteID, c.State, c.Cause, c.Start, end, joinChildren(c.Children)).Scan(&c.ID); err != nil {
				return fmt.Errorf("availability: store span of %s: %w", st.Name(), err)
			}
			e.markLog(st, c.Start, c.End)
			if c.State == StateDown {
				downChanged = true
				*events = append(*events, e.event(EventDown, st, *c, now))
			}
			continue
		}
		p := st.spans[m]
		c.ID, c.Children = p.ID, p.Children
		if p.Start != c.Start || p.End != c.End || p.Cause != c.Cause {
			var end any
			if c.End != 0 {
				end = c.End
			}
			upd, err := lt.stmt(`UPDATE av_spans SET start_ms=?, end_ms=?, cause=? WHERE id=?`)
			if err != nil {
				return err
			}
			if _, err := upd.ExecContext(ctx, c.Start, end, c.Cause, c.ID); err != nil {
				return fmt.Errorf("availability: update span of %s: %w", st.Name(), err)
			}
			e.markLog(st, p.Start, p.End)
			e.markLog(st, c.Start, c.End)
			downChanged = downChanged || c.State == StateDown
			if p.Start != c.Start && st.notified[p.Start] {
				st.notified[c.Start] = true
			}
		}
	}
	for j, p := range st.spans {
		if used[j] {
			continue
		}
		del, err := lt.stmt(`DELETE FROM av_spans WHERE id=?`)
		if err != nil {
			return err
		}
		if _, err := del.ExecContext(ctx, p.ID); err != nil {
			return fmt.Errorf("availability: delete span of %s: %w", st.Name(), err)
		}
		e.markLog(st, p.Start, p.End)
		if p.State == StateDown {
			downChanged = true
			*events = append(*events, e.event(EventRevoked, st, p, now))
		}
		delete(st.notified, p.Start)
	}
	st.spans = cur
	e.afterSync(st, cur, now, events)
	// A parent's outage changes what its children's down time means.
	if downChanged && depth < 16 {
		for _, c := range e.children[st.ID] {
			if cs := e.byID[c]; cs != nil {
				if err := e.syncDepth(ctx, lt, cs, now, events, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// markSynced records the evidence that a sync derived the spans from.
func (e *Engine) markSynced(st *objState) {
	st.resync = false
	st.synced.n, st.synced.gapGen = len(st.segs), e.gapGen
	if n := len(st.segs); n > 0 {
		st.synced.s, st.synced.e = st.segs[n-1].S, st.segs[n-1].E
	}
}

// onlyGrownSinceSync reports whether deriving st's spans at now would
// give the stored ones, without deriving: since the last sync only the
// end of its last segment, a run of good evidence after every stored
// span, moved on, and that end is recent. Objects come due at their
// next check (a good run's end plus interval and delay) whether or not
// evidence came since; at 10,000 schools that is 340,000 objects a
// minute or so, and deriving each made the tick a CPU burst of seconds.
func (e *Engine) onlyGrownSinceSync(st *objState, now int64) bool {
	n := len(st.segs)
	if st.resync || n == 0 || n != st.synced.n || st.synced.gapGen != e.gapGen {
		return false
	}
	last := st.segs[n-1]
	if last.Fail || last.Certain || last.S != st.synced.s || last.E < st.synced.e || now-last.E >= st.p.D {
		return false
	}
	for _, sp := range st.spans {
		if sp.End == 0 || sp.End >= st.synced.e {
			return false
		}
	}
	return true
}

// afterSync announces confirmed recoveries and plans the next check.
// Recovery is announced only once the object stayed up for the hold time,
// so that a flapping object gives one down and one recovered.
func (e *Engine) afterSync(st *objState, cur []Span, now int64, events *[]Event) {
	st.nextCheck = math.MaxInt64
	for _, c := range cur {
		if c.State != StateDown || c.End == 0 || st.notified[c.Start] {
			continue
		}
		if now-c.End >= st.p.hold {
			st.notified[c.Start] = true
			*events = append(*events, e.event(EventRecovered, st, c, now))
		} else {
			st.nextCheck = min(st.nextCheck, c.End+st.p.hold)
		}
	}
	st.nextCheck = min(st.nextCheck, nextChange(st.segs, st.p, now))
}

// spansOverlap reports whether two spans share time; End 0 is open.
func spansOverlap(a, b Span) bool {
	ae, be := a.End, b.End
	if ae == 0 {
		ae = math.MaxInt64
	}
	if be == 0 {
		be = math.MaxInt64
	}
	return a.Start < be && b.Start < ae
}

func sameSpans(a, b []Span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Start != b[i].Start || a[i].End != b[i].End || a[i].State != b[i].State || a[i].Cause != b[i].Cause {
			return false
		}
	}
	return true
}

// ancestorsDown is the union of the down time of all ancestors; open
// outages run to infinity. Each outage reaches back to the ancestor's
// last sign of life before it (Reach): a parent polled every 60 s is seen
// failing up to a minute after its child, with a 10 s heartbeat, fell
// silent behind it.
func (e *Engine) ancestorsDown(st *objState, now int64) ancestorOutages {
	var acc, reach []Interval
	seen := map[int64]bool{st.ID: true}
	for p := st.ParentID; p != 0 && !seen[p]; {
		seen[p] = true
		ps := e.byID[p]
		if ps == nil {
			break
		}
		for _, sp := range ps.spans {
			if sp.State == StateDown {
				end := sp.End
				if end == 0 {
					end = math.MaxInt64
				}
				acc = append(acc, Interval{sp.Start, end})
				from := sp.Start
				if last, ok := lastOKBefore(ps.segs, sp.Start); ok && last < from {
					from = last
				}
				reach = append(reach, Interval{from, end})
			}
		}
		p = ps.ParentID
	}
	return ancestorOutages{Down: Normalize(acc), Reach: Normalize(reach)}
}

// ancestorOutages is when an object's ancestors were down, and how far back
// a child's outage that overlaps that time may have begun with it.
type ancestorOutages struct{ Down, Reach Set }

// splitUnreachable turns the parts of down spans that overlap a down
// ancestor into unreachable spans: the outage is counted once, at the
// parent. A down span that overlaps the ancestor's outage is unreachable
// back to the ancestor's last sign of life; one that does not stays down.
func splitUnreachable(spans []Span, parent ancestorOutages) []Span {
	if len(parent.Down) == 0 {
		return spans
	}
	var out []Span
	for _, sp := range spans {
		if sp.State != StateDown {
			out = append(out, sp)
			continue
		}
		end := sp.End
		if end == 0 {
			end = math.MaxInt64
		}
		whole := Set{{sp.Start, end}}
		if len(Intersect(whole, parent.Down)) == 0 {
			out = append(out, sp)
			continue
		}
		var parts []Span
		for _, iv := range Subtract(whole, parent.Reach) {
			parts = append(parts, Span{State: StateDown, Cause: sp.Cause, Start: iv.Start, End: iv.End})
		}
		for _, iv := range Intersect(whole, parent.Reach) {
			parts = append(parts, Span{State: StateUnreachable, Cause: CauseParentDown, Start: iv.Start, End: iv.End})
		}
		for i := range parts {
			if parts[i].End == math.MaxInt64 {
				parts[i].End = 0
			}
		}
		sortSpans(parts)
		out = append(out, parts...)
	}
	return out
}

func sortSpans(s []Span) {
	sort.Slice(s, func(i, j int) bool { return s[i].Start < s[j].Start })
}

// nextChange is the earliest time at which the derived spans can change
// without new evidence: when a silence or failure reaches the detection
// time.
func nextChange(segs []seg, p params, now int64) int64 {
	if len(segs) == 0 {
		return math.MaxInt64
	}
	g := segs[len(segs)-1]
	cands := []int64{g.E + p.I + p.D}
	if g.Fail {
		cands = append(cands, g.S+p.D, g.E+p.I)
	}
	next := int64(math.MaxInt64)
	for _, c := range cands {
		if c > now && c < next {
			next = c
		}
	}
	return next
}

// compact drops evidence older than the horizon once it can no longer
// change any span: at an ok run long enough that no flap merge spans it.
func (e *Engine) compact(st *objState, now int64) {
	cut := now - e.cfg.Horizon.Milliseconds()
	k := -1
	for i, g := range st.segs {
		if g.S >= cut {
			break
		}
		if !g.Fail && g.E < cut && g.E+st.p.I-g.S >= st.p.hold && i+1 < len(st.segs) {
			k = i
		}
	}
	if k <= 0 {
		return
	}
	keep := st.segs[k].S
	st.segs = append([]seg(nil), st.segs[k:]...)
	w := 0
	for _, sp := range st.spans {
		if sp.Start >= keep {
			st.spans[w] = sp
			w++
		} else {
			delete(st.notified, sp.Start)
		}
	}
	st.spans = st.spans[:w]
	st.dirty = true
}

// parentsFirst orders objects so that parents are derived before their
// children, who then see the parent's outage at once.
func (e *Engine) parentsFirst(list []*objState) {
	if len(e.children) == 0 {
		return
	}
	depth := func(st *objState) int {
		d := 0
		for p := st.ParentID; p != 0 && d < 16; d++ {
			ps := e.byID[p]
			if ps == nil {
				break
			}
			p = ps.ParentID
		}
		return d
	}
	sort.SliceStable(list, func(i, j int) bool { return depth(list[i]) < depth(list[j]) })
}

func (e *Engine) descendants(id int64) []string {
	var out []string
	seen := map[int64]bool{id: true}
	queue := []int64{id}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range e.children[p] {
			if seen[c] {
				continue
			}
			seen[c] = true
			if st := e.byID[c]; st != nil {
				out = append(out, st.Name())
			}
			queue = append(queue, c)
		}
	}
	sort.Strings(out)
	return out
}

func (e *Engine) event(kind EventKind, st *objState, sp Span, now int64) Event {
	return Event{Kind: kind, Object: st.Object, Span: sp, At: fromMS(now)}
}

// annotate marks events in maintenance or behind a down parent. It runs
// after all objects of a batch or tick were derived, so that a parent that
// went down in the same batch is seen. Called with e.mu held.
func (e *Engine) annotate(events []Event) {
	for i := range events {
		ev := &events[i]
		ev.Maintenance = e.inMaintenance(&ev.Object, ev.Span.Start) || (ev.Kind != EventDown && e.inMaintenance(&ev.Object, ms(ev.At)))
		if st := e.byID[ev.Object.ID]; st != nil {
			ev.Unreachable = e.parentDown(st, ev.Span.Start)
		}
	}
}

func (e *Engine) inMaintenance(o *Object, t int64) bool {
	for i := range e.maint {
		m := &e.maint[i]
		if m.Scope.Matches(o) && len(m.Occurrences(t, t+1)) > 0 {
			return true
		}
	}
	return false
}

// parentDown reports whether any ancestor of the object was down at t.
func (e *Engine) parentDown(st *objState, t int64) bool {
	seen := map[int64]bool{}
	for p := st.ParentID; p != 0 && !seen[p]; {
		seen[p] = true
		ps := e.byID[p]
		if ps == nil {
			return false
		}
		for _, sp := range ps.spans {
			if sp.State == StateDown && sp.Start <= t && (sp.End == 0 || sp.End > t) {
				return true
			}
		}
		p = ps.ParentID
	}
	return false
}

func (e *Engine) dispatch(ctx context.Context, events []Event) {
	if len(events) == 0 || e.cfg.Events == nil {
		return
	}
	// Parents first, so that alerting sees the parent's outage before the
	// children's.
	sort.SliceStable(events, func(i, j int) bool { return events[i].Object.ParentID == 0 && events[j].Object.ParentID != 0 })
	e.cfg.Events.HandleEvents(ctx, events)
}

// Tick runs detection at wall time now: objects that fell silent or kept
// failing become down, pending recoveries are confirmed. The collector
// calls it every few seconds. It also checkpoints evidence when due.
func (e *Engine) Tick(ctx context.Context, now time.Time) error {
	var events []Event
	err := func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if now.Sub(e.reloaded) >= e.cfg.ReloadEvery {
			if err := e.reload(ctx, now); err != nil {
				return err
			}
		}
		return e.evaluateLocked(ctx, ms(now), false, &events)
	}()
	if err != nil {
		e.reset(ctx)
		return err
	}
	e.dispatch(ctx, events)
	// Off the write path, and soon enough that a restart loses nothing.
	return e.flushLLDP(ctx)
}

func (e *Engine) evaluate(ctx context.Context, now time.Time, all bool) error {
	var events []Event
	e.mu.Lock()
	err := e.evaluateLocked(ctx, ms(now), all, &events)
	e.mu.Unlock()
	if err == nil {
		e.dispatch(ctx, events)
	}
	return err
}

// due returns the objects whose spans may change at now. It is the part
// of a tick that scales with the number of objects.
func (e *Engine) due(now int64, all bool) []*objState {
	out := e.dueBuf[:0]
	defer func() { e.dueBuf = out[:0] }()
	for _, st := range e.list {
		if all || now >= st.nextCheck {
			out = append(out, st)
		}
	}
	return out
}

func (e *Engine) evaluateLocked(ctx context.Context, now int64, all bool, events *[]Event) error {
	due := e.due(now, all)
	if len(due) == 0 {
		return nil
	}
	e.parentsFirst(due)
	lt := &lazyTx{ctx: ctx, db: e.db}
	defer lt.rollback()
	for _, st := range due {
		if !all && skipSync && e.onlyGrownSinceSync(st, now) {
			e.afterSync(st, st.spans, now, events)
			continue
		}
		if err := e.sync(ctx, lt, st, now, events); err != nil {
			return err
		}
	}
	if err := e.flushLog(ctx, lt); err != nil {
		return err
	}
	if err := lt.commit(); err != nil {
		return err
	}
	e.annotate(*events)
	return nil
}

// Checkpoint writes the evidence of changed objects and marks the
// collector alive until now. After a crash, the time since the last
// checkpoint is a monitoring gap (unknown), never downtime.
//
// At 10,000 schools every one of 340,000 objects has new evidence each
// minute, nearly always only a later end of its last segment. Writing
// each object's segments was 340,000 row updates a minute, and the load
// test showed them as write-latency spikes. So an object's segments are
// written only when they changed otherwise; the end of every object's
// last segment goes into one row per site (av_site_tails), written in
// the same transaction as that site's segments, and Open applies it.
func (e *Engine) Checkpoint(ctx context.Context) error {
	e.mu.Lock()
	sites, bySite := e.changedSites()
	e.mu.Unlock()
	// In chunks, each encoded under the engine's lock and written without
	// it, in a transaction of its own, so that neither the metadata
	// database nor the engine is held for long.
	for len(sites) > 0 {
		type rec struct {
			st   *objState
			segs []byte
		}
		type tail struct {
			site int64
			objs []*objState
			enc  []byte
		}
		var segs []rec
		var tails []tail
		e.mu.Lock()
		for rows := 0; len(sites) > 0 && rows < checkpointTxRows; rows++ {
			t := tail{site: sites[0], objs: bySite[sites[0]]}
			sites = sites[1:]
			for _, st := range t.objs {
				if st.dirty {
					segs = append(segs, rec{st, encodeSegs(st.segs)})
					rows++
				}
				// Set again by any change from now on.
				st.dirty, st.grown = false, false
			}
			t.enc = encodeTails(t.objs)
			tails = append(tails, t)
		}
		e.mu.Unlock()
		err := func() error {
			tx, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if len(segs) > 0 {
				stmt, err := tx.PrepareContext(ctx, `UPDATE av_objects SET segs=? WHERE id=?`)
				if err != nil {
					return err
				}
				defer stmt.Close()
				for _, r := range segs {
					if _, err := stmt.ExecContext(ctx, r.segs, r.st.ID); err != nil {
						return fmt.Errorf("%s: %w", r.st.Name(), err)
					}
				}
			}
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO av_site_tails(site_id, tails) VALUES(?,?)
				ON CONFLICT(site_id) DO UPDATE SET tails=excluded.tails`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, t := range tails {
				if _, err := stmt.ExecContext(ctx, t.site, t.enc); err != nil {
					return fmt.Errorf("site %d: %w", t.site, err)
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			e.mu.Lock()
			for _, r := range segs {
				r.st.dirty = true
			}
			for _, t := range tails {
				for _, st := range t.objs {
					st.grown = true
				}
			}
			e.mu.Unlock()
			return fmt.Errorf("availability: checkpoint: %w", err)
		}
	}
	if _, err := e.db.ExecContext(ctx, `UPDATE av_runs SET alive_ms=? WHERE id=?`, ms(e.cfg.Now()), e.runID); err != nil {
		return fmt.Errorf("availability: checkpoint: %w", err)
	}
	return nil
}

// changedSites returns the sites with an object changed since the last
// checkpoint, and every object of those sites (a site's tail row lists
// them all). The caller holds e.mu.
func (e *Engine) changedSites() ([]int64, map[int64][]*objState) {
	changed := map[int64]bool{}
	for _, st := range e.list {
		if st.dirty || st.grown {
			changed[st.SiteID] = true
		}
	}
	bySite := make(map[int64][]*objState, len(changed))
	for _, st := range e.list {
		if changed[st.SiteID] {
			bySite[st.SiteID] = append(bySite[st.SiteID], st)
		}
	}
	sites := make([]int64, 0, len(bySite))
	for site := range bySite {
		sites = append(sites, site)
	}
	slices.Sort(sites)
	return sites, bySite
}

// checkpointTxRows bounds the rows (segments of an object, a site's
// tail) of one checkpoint transaction.
var checkpointTxRows = 2000

// Close checkpoints and records a clean stop of this collector run.
func (e *Engine) Close(ctx context.Context) error {
	if err := e.Checkpoint(ctx); err != nil {
		return err
	}
	if _, err := e.db.ExecContext(ctx, `UPDATE av_runs SET stopped_ms=? WHERE id=?`, ms(e.cfg.Now()), e.runID); err != nil {
		return fmt.Errorf("availability: record collector stop: %w", err)
	}
	return nil
}

// SetParent records that child depends on parent (e.g. a switch on the
// site's router): while the parent is down the child is unreachable and
// the outage is counted once, at the parent.
func (e *Engine) SetParent(ctx context.Context, child, parent ObjectInfo) error {
	return e.setParent(ctx, child, parent, SourceManual)
}

// Where a dependency comes from (Object.ParentSource).
const (
	SourceManual = "manual" // the inventory: CLI, API
	SourceLLDP   = "lldp"   // derived from LLDP neighbours
	SourceDevice = "device" // a service on its device
)

func (e *Engine) setParent(ctx context.Context, child, parent ObjectInfo, source string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("availability: set parent: %w", err)
	}
	defer tx.Rollback()
	now := ms(e.cfg.Now())
	lt := &lazyTx{ctx: ctx, db: e.db, tx: tx}
	c, err := e.object(ctx, lt, child, now)
	if err != nil {
		return err
	}
	p, err := e.object(ctx, lt, parent, now)
	if err != nil {
		return err
	}
	for a := p; a != nil; a = e.byID[a.ParentID] {
		if a.ID == c.ID {
			return fmt.Errorf("availability: %s cannot depend on %s: that would be a cycle", c.Name(), p.Name())
		}
		if a.ParentID == 0 {
			break
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE av_objects SET parent_id=?, parent_source=? WHERE id=?`, p.ID, source, c.ID); err != nil {
		return fmt.Errorf("availability: set parent of %s: %w", c.Name(), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("availability: set parent: %w", err)
	}
	if old := c.ParentID; old != 0 && old != p.ID {
		kids := e.children[old]
		for i, k := range kids {
			if k == c.ID {
				e.children[old] = append(kids[:i], kids[i+1:]...)
				break
			}
		}
	}
	c.ParentSource = source
	if c.ParentID == p.ID {
		return nil
	}
	c.ParentID = p.ID
	e.children[p.ID] = append(e.children[p.ID], c.ID)
	return nil
}

// ObjectState is an object's current state.
type ObjectState struct {
	Object Object `json:"object"`
	// Parent names the object's parent (see Object.ParentSource).
	Parent string    `json:"parent,omitempty"`
	State  State     `json:"state"`
	Cause  Cause     `json:"cause,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// States returns the current state of every object (of this partition)
// that matches the filter (nil: all).
func (e *Engine) States(match func(*Object) bool) []ObjectState {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := ms(e.cfg.Now())
	out := make([]ObjectState, 0, len(e.list))
	for _, st := range e.list {
		if match != nil && !match(&st.Object) {
			continue
		}
		out = append(out, e.stateOf(st, now))
	}
	return out
}

func (e *Engine) stateOf(st *objState, now int64) ObjectState {
	os := ObjectState{Object: st.Object, State: StateUp}
	if p := e.byID[st.ParentID]; p != nil {
		os.Parent = p.Device
	}
	if len(st.segs) == 0 {
		os.State = StateUnknown
		return os
	}
	if n := len(st.spans); n > 0 && st.spans[n-1].End == 0 {
		sp := st.spans[n-1]
		os.State, os.Cause, os.Since = sp.State, sp.Cause, fromMS(sp.Start)
		if sp.State == StateDown && e.parentDown(st, now) {
			os.State = StateUnreachable
		}
	}
	if e.inMaintenance(&st.Object, now) {
		os.State = StateMaintenance
	}
	return os
}

// InMaintenance reports whether the object is in a maintenance window at t.
func (e *Engine) InMaintenance(o *Object, t time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inMaintenance(o, ms(t))
}

// Link is a dependency: Device at SiteID depends on Parent (empty: none),
// from Source (SourceManual when empty).
type Link struct {
	SiteID         int64
	Device, Parent string
	Source         string
}

// SyncParents applies the inventory's dependencies to the objects the
// engine knows; links naming unknown objects wait for the next sync.
func (e *Engine) SyncParents(ctx context.Context, links []Link) error {
	e.mu.Lock()
	type change struct {
		c, p   *objState
		source string
	}
	var todo []change
	// A service depends on its device: a check failing because its
	// device is down is counted once, at the device.
	for _, st := range e.list {
		if st.Check != "" && st.ParentID == 0 {
			if d := e.objs[ObjectKey{st.SiteID, st.Device, ""}]; d != nil {
				todo = append(todo, change{st, d, SourceDevice})
			}
		}
	}
	for _, l := range links {
		c := e.objs[ObjectKey{l.SiteID, l.Device, ""}]
		if c == nil {
			continue
		}
		var p *objState
		if l.Parent != "" {
			if p = e.objs[ObjectKey{l.SiteID, l.Parent, ""}]; p == nil {
				continue
			}
		}
		src := l.Source
		if src == "" {
			src = SourceManual
		}
		if (p == nil && c.ParentID == 0) || (p != nil && c.ParentID == p.ID && c.ParentSource == src) {
			continue
		}
		todo = append(todo, change{c, p, src})
	}
	e.mu.Unlock()
	// A change may look like a cycle until a later one in the list (the
	// old direction of the same link) is applied: retry those once.
	for pass := 0; pass < 2 && len(todo) > 0; pass++ {
		var again []change
		for _, t := range todo {
			if t.p == nil {
				if err := e.ClearParent(ctx, t.c.Key()); err != nil {
					return err
				}
				continue
			}
			if err := e.setParent(ctx, infoOf(&t.c.Object), infoOf(&t.p.Object), t.source); err != nil {
				if pass == 1 {
					e.cfg.Logger.Warn("availability: dependency ignored", "device", t.c.Name(), "parent", t.p.Name(), "source", t.source, "err", err)
				}
				again = append(again, t)
			}
		}
		todo = again
	}
	return nil
}

func infoOf(o *Object) ObjectInfo {
	return ObjectInfo{MunicipalityID: o.MunicipalityID, SiteID: o.SiteID, DeviceID: o.DeviceID, Municipality: o.Municipality, Site: o.Site, Device: o.Device, Class: o.Class, Check: o.Check}
}

// ClearParent removes an object's dependency.
func (e *Engine) ClearParent(ctx context.Context, k ObjectKey) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.objs[k]
	if c == nil || c.ParentID == 0 {
		return nil
	}
	if _, err := e.db.ExecContext(ctx, `UPDATE av_objects SET parent_id=0, parent_source='' WHERE id=?`, c.ID); err != nil {
		return fmt.Errorf("availability: clear parent of %s: %w", c.Name(), err)
	}
	kids := e.children[c.ParentID]
	for i, id := range kids {
		if id == c.ID {
			e.children[c.ParentID] = append(kids[:i], kids[i+1:]...)
			break
		}
	}
	c.ParentID, c.ParentSource = 0, ""
	return nil
}
