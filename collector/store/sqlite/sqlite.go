// Package sqlite is the embedded metric store: one SQLite file (pure Go,
// WAL, full fsync), raw points keyed by (time, series) and 5-minute
// rollups keyed by (bucket, series) so that both are written as appends,
// and retention for both. Concurrent writers are merged into one
// transaction (group commit); each Write returns after that transaction
// committed.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

var migrations = []sqlitedb.Migration{{Version: 1, SQL: `
CREATE TABLE series(
	id INTEGER PRIMARY KEY,
	key BLOB NOT NULL UNIQUE,
	site_id INTEGER NOT NULL,
	device_id INTEGER NOT NULL,
	measurement TEXT NOT NULL,
	tags TEXT NOT NULL
);
CREATE INDEX series_device ON series(device_id, measurement);
-- (time, series) keeps inserts appending; the same series and time again
-- updates the row (fields merged, see insertSQL), so replays never
-- double-count.
CREATE TABLE points(
	time INTEGER NOT NULL,
	series_id INTEGER NOT NULL,
	fields BLOB NOT NULL,
	PRIMARY KEY(time, series_id)
) WITHOUT ROWID;
CREATE TABLE rollups(
	series_id INTEGER NOT NULL,
	field TEXT NOT NULL,
	bucket INTEGER NOT NULL,
	count INTEGER NOT NULL,
	sum REAL NOT NULL,
	min REAL NOT NULL,
	max REAL NOT NULL,
	PRIMARY KEY(series_id, field, bucket)
) WITHOUT ROWID;
CREATE TABLE store_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`}, {Version: 2, SQL: `
-- Retention deletes rollups by age; without this every hourly run read
-- the whole table (millions of rows per day at 10,000 schools) while
-- holding the file's write lock, which the point writer waits for.
CREATE INDEX rollups_bucket ON rollups(bucket);
`}, {Version: 3, SQL: `
-- Rollups keyed by bucket first, so that a bucket's rows are appended
-- like points. Keyed by series, every five-minute run put one row into
-- each series' run of rows: at 10,000 schools three million rows on as
-- many pages once a table was a few hours old, some 12 GB through the WAL
-- every five minutes. A chart now seeks each bucket (see queryRollups).
CREATE TABLE rollups_by_bucket(
	bucket INTEGER NOT NULL,
	series_id INTEGER NOT NULL,
	field TEXT NOT NULL,
	count INTEGER NOT NULL,
	sum REAL NOT NULL,
	min REAL NOT NULL,
	max REAL NOT NULL,
	PRIMARY KEY(bucket, series_id, field)
) WITHOUT ROWID;
INSERT INTO rollups_by_bucket(bucket, series_id, field, count, sum, min, max)
	SELECT bucket, series_id, field, count, sum, min, max FROM rollups ORDER BY bucket, series_id, field;
DROP TABLE rollups;
ALTER TABLE rollups_by_bucket RENAME TO rollups;
`}}

// Options tune the store; zero values take the defaults.
type Options struct {
	RawRetention    time.Duration // default 30 days
	RollupRetention time.Duration // default 2 years
	// MaxBatchPoints caps one group-commit transaction.
	MaxBatchPoints int
	// MaxRollupEntries caps the in-memory rollups, in fields of a series
	// in a bucket (about 40 bytes each; a bucket at 10,000 agents is some
	// 3 million); past it a bucket is rolled up from raw points. Default
	// 8 million; negative: every bucket from raw points.
	MaxRollupEntries int
	// PageSize is the SQLite page size of a new store file (default
	// SQLite's); an existing file keeps its own.
	PageSize int
	Logger   *slog.Logger
}

const rollupStep = 5 * time.Minute

// Store is the embedded store. Create it with Open.
type Store struct {
	db   *sql.DB
	opts Options
	log  *slog.Logger

	reqs chan *writeReq
	done chan struct{}
	wg   sync.WaitGroup

	// Every write goes through one connection, wconn, one transaction at
	// a time (wmu). In WAL mode a connection that finds the file changed
	// by another one drops its whole page cache (64 MiB) when its next
	// transaction begins: with the rollups on connections of their own,
	// the point writer lost its cache at each of their transactions (a
	// trace showed 1.4 s of freeing pages in 12 s, and a 1.5 s stall
	// when a rollup pass began).
	wmu   sync.Mutex
	wconn *sql.Conn

	wm atomic.Int64 // end of the last rolled-up bucket (Unix ns)

	id          int64     // names the store to the merge function
	insertChunk *sql.Stmt // a full chunk of rows, prepared once
	seriesChunk *sql.Stmt // a full chunk of new series, prepared once
	// nextSeries is the id the next new series gets. The writer assigns
	// ids itself (only this process writes the series table), so that a
	// write's new series go in multi-row inserts: at a district's first
	// contact, 500,000 series created one INSERT … RETURNING at a time
	// were 40 % of the writer's time.
	nextSeries       int64
	rollupChunk      *sql.Stmt // a full chunk of rollup rows
	rollupMergeChunk *sql.Stmt // a full chunk of late rollup rows to add
	args             []any     // the writer's argument buffer
	rows             []rowRef  // the writer's rows of a transaction, to sort
	ov               overwriteLog

	// series maps a series key's hash to its id. Only the writer uses it
	// (after Open); a fixed-size key without pointers keeps 500,000 series
	// out of the garbage collector's marking and makes a lookup one
	// comparison of 16 bytes. nSeries is its size, for Stats.
	series  map[seriesHash]int64
	nSeries atomic.Int64

	rmu  sync.Mutex
	roll *rollupState
	// applying is held by the writer from a transaction's begin until
	// its points are in the rollup accumulators, so that a raw
	// recompute can begin its read between the two.
	applying sync.Mutex
	// rollMu makes Rollup runs one at a time: the watermark must not
	// pass a bucket another run is still writing.
	rollMu sync.Mutex

	statsMu sync.Mutex
	stats   Stats
}

// Stats are counters for /metrics.
type Stats struct {
	Commits      uint64
	Points       uint64
	CommitErrors uint64
	Series       int
	// Buckets rolled up from the accumulators and from raw points, and
	// the fields in the accumulators now.
	RollupMemoryBuckets uint64
	RollupRawBuckets    uint64
	// Closed buckets that late points were added to.
	RollupLateBuckets uint64
	RollupEntries     int
	// The WAL's pages and how many of them were in the database file at
	// the last checkpoint (see checkpointer).
	WALFrames, WALCheckpointed int64
}

type encodedPoint struct {
	key       []byte
	hash      seriesHash // of key
	siteID    int64
	deviceID  int64
	seriesID  int64 // set by the writer
	row       *metric.Row
	time      int64
	fieldBlob []byte
}

type writeReq struct {
	points []encodedPoint
	err    chan error
}

// Open opens or creates the store in the SQLite file at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.RawRetention == 0 {
		opts.RawRetention = 30 * 24 * time.Hour
	}
	if opts.RollupRetention == 0 {
		opts.RollupRetention = 2 * 365 * 24 * time.Hour
	}
	if opts.MaxBatchPoints == 0 {
		opts.MaxBatchPoints = 50000
	}
	if opts.MaxRollupEntries == 0 {
		opts.MaxRollupEntries = 8_000_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Statement journals in memory: a multi-row upsert inside the
	// group-commit transaction keeps the pages it changes for its own
	// rollback, and past 64 KiB SQLite spilled them to a temporary file,
	// a write syscall per page (8 % of the writer's CPU).
	//
	// No automatic checkpoints: SQLite runs them inside the commit that
	// crosses 1,000 WAL pages, copying the pages to the database file and
	// syncing it while every write request waits for that commit. The
	// store's checkpointer runs them beside the writer instead.
	db, err := sqlitedb.Open(ctx, path, sqlitedb.PageSize(opts.PageSize), sqlitedb.Pragma("temp_store(MEMORY)"), sqlitedb.Pragma("wal_autocheckpoint(0)"))
	if err != nil {
		return nil, err
	}
	// WAL lets readers run beside the one writer (the group-commit
	// goroutine); rollups and retention wait on the busy timeout.
	db.SetMaxOpenConns(4)
	if err := sqlitedb.Migrate(ctx, db, "points", migrations); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, opts: opts, log: opts.Logger, reqs: make(chan *writeReq, 1024), done: make(chan struct{}), series: map[seriesHash]int64{}}
	if err := s.loadSeries(ctx); err != nil {
		db.Close()
		return nil, err
	}
	var wm int64
	if err := db.QueryRowContext(ctx, `SELECT value FROM store_meta WHERE key=?`, metaWatermark).Scan(&wm); err != nil && !errors.Is(err, sql.ErrNoRows) {
		db.Close()
		return nil, fmt.Errorf("read rollup watermark: %w", err)
	}
	s.wm.Store(wm)
	s.roll = newRollupState(wm, opts.MaxRollupEntries, opts.Logger)
	if err := s.distrustStoredBuckets(ctx, wm); err != nil {
		db.Close()
		return nil, err
	}
	s.id = storeIDs.Add(1)
	if s.insertChunk, err = db.PrepareContext(ctx, insertSQL(insertChunk, s.id)); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare point insert: %w", err)
	}
	if s.seriesChunk, err = db.PrepareContext(ctx, seriesInsertSQL(seriesChunk)); err != nil {
		s.insertChunk.Close()
		db.Close()
		return nil, fmt.Errorf("prepare series insert: %w", err)
	}
	if s.rollupChunk, err = db.PrepareContext(ctx, rollupInsertSQL(rollupInsertChunk)); err != nil {
		s.seriesChunk.Close()
		s.insertChunk.Close()
		db.Close()
		return nil, fmt.Errorf("prepare rollup insert: %w", err)
	}
	if s.rollupMergeChunk, err = db.PrepareContext(ctx, rollupMergeSQL(rollupInsertChunk)); err != nil {
		s.rollupChunk.Close()
		s.rollupMergeChunk.Close()
		s.seriesChunk.Close()
		s.insertChunk.Close()
		db.Close()
		return nil, fmt.Errorf("prepare rollup merge: %w", err)
	}
	overwriteLogs.Store(s.id, &s.ov)
	s.wg.Add(3)
	go s.writer()
	go s.maintain()
	go s.checkpointer()
	return s, nil
}

// checkpointEvery is how often the checkpointer copies the WAL into the
// database file. At 10,000 schools a second of writes is some 500 WAL
// pages; the WAL restarts from its beginning once it was copied whole.
var checkpointEvery = time.Second

// checkpointer runs passive WAL checkpoints on a connection of its own.
// They take no write lock, so the writer goes on meanwhile; a reader that
// still uses old pages holds a checkpoint back, never a write.
func (s *Store) checkpointer() {
	defer s.wg.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var busy, frames, copied int64
		err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		cancel()
		switch {
		case err != nil && !failing:
			s.log.Error("checkpoint of the point store's WAL failed; retried every second", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("checkpoint of the point store's WAL works again")
			failing = false
		}
		if err == nil {
			s.statsMu.Lock()
			s.stats.WALFrames, s.stats.WALCheckpointed = frames, copied
			s.statsMu.Unlock()
		}
	}
}

// distrustStoredBuckets marks every bucket not rolled up yet that has
// points already (from before a restart) for the raw recompute: its
// accumulator would miss them. An index seek per bucket; normally the few
// since the last rollup, plus any an agent with its clock ahead wrote.
func (s *Store) distrustStoredBuckets(ctx context.Context, wm int64) error {
	from := wm
	if wm == 0 { // never rolled up: all of them
		from = math.MinInt64
	}
	step := rollupStep.Nanoseconds()
	for {
		var t sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT min(time) FROM points WHERE time >= ?`, from).Scan(&t); err != nil {
			return fmt.Errorf("find buckets written before start: %w", err)
		}
		if !t.Valid {
			return nil
		}
		b := bucketOf(t.Int64)
		s.roll.markDirty(b)
		if s.roll.off || b > math.MaxInt64-step {
			return nil
		}
		from = b + step
	}
}

func (s *Store) loadSeries(ctx context.Context) error {
	s.nextSeries = max(s.nextSeries, 1) // as SQLite's own ids, from 1
	rows, err := s.db.QueryContext(ctx, `SELECT id, key FROM series`)
	if err != nil {
		return fmt.Errorf("load series: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key []byte
		if err := rows.Scan(&id, &key); err != nil {
			return fmt.Errorf("load series: %w", err)
		}
		s.series[hashSeries(key)] = id
		s.nextSeries = max(s.nextSeries, id+1)
	}
	s.nSeries.Store(int64(len(s.series)))
	return rows.Err()
}

// seriesHash identifies a series key in memory: 128 bits of two seeded
// hashes, so that two of a district's million keys colliding is not a
// practical concern (about 2^-88).
type seriesHash [2]uint64

var seriesSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func hashSeries(key []byte) seriesHash {
	return seriesHash{maphash.Bytes(seriesSeeds[0], key), maphash.Bytes(seriesSeeds[1], key)}
}

const seriesChunk = 100 // new series per INSERT statement

func seriesInsertSQL(rows int) string {
	return "INSERT INTO series(id, key, site_id, device_id, measurement, tags) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?),", rows), ",")
}

// DB exposes the database for tests and tools.
func (s *Store) DB() *sql.DB { return s.db }

// Stats returns counters.
func (s *Store) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.Series = int(s.nSeries.Load())
	s.rmu.Lock()
	st.RollupEntries = s.roll.entries
	s.rmu.Unlock()
	return st
}

// Write stores points durably. The encoding happens in the caller's
// goroutine; the commit is shared with concurrent writers.
func (s *Store) Write(ctx context.Context, points []store.Point) error {
	if len(points) == 0 {
		return nil
	}
	enc := make([]encodedPoint, len(points))
	buf := make([]byte, 0, 96*len(points))
	for i := range points {
		p := &points[i]
		start := len(buf)
		buf = appendSeriesKey(buf, p.DeviceID, p.Row)
		keyEnd := len(buf)
		buf = appendFields(buf, p.Row.Fields)
		enc[i] = encodedPoint{siteID: p.SiteID, deviceID: p.DeviceID, row: p.Row, time: p.Row.Time}
		enc[i].key = buf[start:keyEnd:keyEnd]
		enc[i].hash = hashSeries(enc[i].key)
		enc[i].fieldBlob = buf[keyEnd:len(buf):len(buf)]
	}
	// Earlier slices may point into an older array of buf after it grew;
	// that array stays valid, so no copy is needed.
	req := &writeReq{points: enc, err: make(chan error, 1)}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return errors.New("store is closed")
	}
	select {
	case err := <-req.err:
		return err
	case <-ctx.Done():
		// The commit may still happen; the client will retry and the
		// (time, series) key makes that an overwrite.
		return ctx.Err()
	}
}

func (s *Store) writer() {
	defer s.wg.Done()
	var batch []*writeReq
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.done:
			// Drain what is queued so that nothing accepted is dropped.
			for {
				select {
				case r := <-s.reqs:
					s.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		n := len(first.points)
	fill:
		for n < s.opts.MaxBatchPoints {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += len(r.points)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

const insertChunk = 100 // rows per INSERT statement

// insertSQL inserts rows; a point already stored at the same series and
// time (or earlier in the same statement) gets the fields merged, a field
// written again taking the later value, as InfluxDB does (see merge.go).
// The merge also tells the store (by its id) of the overwrite, for the
// in-memory rollups.
func insertSQL(rows int, store int64) string {
	return "INSERT INTO points(time, series_id, fields) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?),", rows), ",") +
		" ON CONFLICT(time, series_id) DO UPDATE SET fields = " + mergeFunc + "(points.fields, excluded.fields, excluded.time, excluded.series_id, " + strconv.FormatInt(store, 10) + ")"
}

// afterCommit, if set (by tests), runs between a commit and the
// rollups' accounting of it.
var afterCommit func()

func (s *Store) commit(batch []*writeReq) {
	s.applying.Lock()
	defer s.applying.Unlock()
	err := s.commitTx(batch)
	if afterCommit != nil {
		afterCommit()
	}
	s.statsMu.Lock()
	if err != nil {
		s.stats.CommitErrors++
	} else {
		s.stats.Commits++
		for _, r := range batch {
			s.stats.Points += uint64(len(r.points))
		}
	}
	s.statsMu.Unlock()
	if err == nil {
		// Before the replies: a Rollup after a Write sees its points.
		s.rmu.Lock()
		s.ov.mu.Lock()
		s.roll.applyCommitted(batch, &s.ov)
		s.ov.mu.Unlock()
		s.rmu.Unlock()
	}
	if err != nil {
		s.log.Error("store commit failed", "err", err)
		// New series ids from the failed transaction are gone with it.
		s.series = map[seriesHash]int64{}
		if lerr := s.loadSeries(context.Background()); lerr != nil {
			s.log.Error("reload series after failed commit", "err", lerr)
		}
	}
	for _, r := range batch {
		r.err <- err
	}
}

// beginWrite begins a write transaction on the write connection; done
// ends it (a rollback after a commit does nothing) and lets the next one
// begin. Its commit waits until the WAL is on disk.
func (s *Store) beginWrite(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	return s.beginWriteSync(ctx, true)
}

// beginDerivedWrite is beginWrite for rows that are derived from the
// points (rollups): its commit does not wait for the disk. Each such
// commit held the write connection, and so every write request, for a
// sync, some 600 of them per rollup pass at 10,000 schools. A crash
// loses nothing (the WAL is written); a power loss may lose what the
// next durable commit would have synced, the watermark with it, and the
// bucket is rolled up again from the points.
func (s *Store) beginDerivedWrite(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	return s.beginWriteSync(ctx, false)
}

func (s *Store) beginWriteSync(ctx context.Context, durable bool) (tx *sql.Tx, done func(), err error) {
	s.wmu.Lock()
	begin := func() (*sql.Tx, error) {
		if !durable {
			if _, err := s.wconn.ExecContext(ctx, `PRAGMA synchronous=NORMAL`); err != nil {
				return nil, err
			}
		}
		return s.wconn.BeginTx(ctx, nil)
	}
	if s.wconn != nil {
		tx, err = begin()
	}
	if s.wconn == nil || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		// database/sql dropped the connection (it does after some
		// failures): take another.
		if s.wconn != nil {
			s.wconn.Close()
		}
		if s.wconn, err = s.db.Conn(ctx); err == nil {
			tx, err = begin()
		}
	}
	if err != nil {
		if !durable {
			s.restoreSync()
		}
		s.wmu.Unlock()
		return nil, nil, err
	}
	return tx, func() {
		tx.Rollback()
		if !durable {
			s.restoreSync()
		}
		s.wmu.Unlock()
	}, nil
}

// restoreSync makes the write connection's commits wait for the disk
// again. A connection that cannot be set back is discarded: the next
// write takes a new one, which syncs (sqlitedb's default). Called with
// wmu held.
func (s *Store) restoreSync() {
	if s.wconn == nil {
		return
	}
	if _, err := s.wconn.ExecContext(context.Background(), `PRAGMA synchronous=FULL`); err != nil {
		s.log.Warn("write connection discarded: cannot make its commits durable again", "err", err)
		_ = s.wconn.Raw(func(any) error { return driver.ErrBadConn }) // not back into the pool
		s.wconn.Close()
		s.wconn = nil
	}
}

// execWrite runs one writing statement in a transaction of its own.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return res, tx.Commit()
}

func (s *Store) commitTx(batch []*writeReq) error {
	ctx := context.Background()
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	defer done()
	s.ov.reset()

	args := s.args[:0]
	rows := s.rows[:0]
	defer func() {
		s.args = args[:0]
		clear(rows)
		s.rows = rows[:0]
	}()
	var newSeries []any // arguments of the new series' rows
	seriesStmt := tx.StmtContext(ctx, s.seriesChunk)
	defer seriesStmt.Close()
	flushSeries := func() error {
		var err error
		switch n := len(newSeries) / 6; n {
		case 0:
			return nil
		case seriesChunk:
			_, err = seriesStmt.ExecContext(ctx, newSeries...)
		default:
			_, err = tx.ExecContext(ctx, seriesInsertSQL(n), newSeries...)
		}
		clear(newSeries)
		newSeries = newSeries[:0]
		return err
	}
	chunkStmt := tx.StmtContext(ctx, s.insertChunk)
	defer chunkStmt.Close()
	flush := func() error {
		var err error
		switch n := len(args) / 3; n {
		case 0:
			return nil
		case insertChunk:
			_, err = chunkStmt.ExecContext(ctx, args...)
		default:
			_, err = tx.ExecContext(ctx, insertSQL(n, s.id), args...)
		}
		clear(args)
		args = args[:0]
		return err
	}
	for _, r := range batch {
		for i := range r.points {
			p := &r.points[i]
			id, ok := s.series[p.hash]
			if !ok {
				tags := make(map[string]string, len(p.row.Tags))
				for _, t := range p.row.Tags {
					tags[string(t.Key)] = string(t.Value)
				}
				tj, _ := json.Marshal(tags)
				// In the map before the commit, so that the same new series
				// later in this transaction gets the same id; a failed
				// commit reloads the map (and nextSeries) from the file.
				id = s.nextSeries
				s.nextSeries++
				s.series[p.hash] = id
				s.nSeries.Add(1)
				newSeries = append(newSeries, id, p.key, p.siteID, p.deviceID, string(p.row.Measurement), string(tj))
				if len(newSeries) == 6*seriesChunk {
					if err := flushSeries(); err != nil {
						return fmt.Errorf("create series: %w", err)
					}
				}
			}
			p.seriesID = id
			rows = append(rows, rowRef{time: p.time, series: id, blob: p.fieldBlob})
		}
	}
	// In key order, a row lands where the previous one did (mostly at
	// the table's end), and SQLite skips the descent from the root; in
	// arrival order, agents' times interleave and every row searched the
	// tree. Stable, so that writes of one (series, time) merge in the
	// order they came, which the rollups' overwrite log relies on.
	slices.SortStableFunc(rows, func(a, b rowRef) int {
		if c := cmp.Compare(a.time, b.time); c != 0 {
			return c
		}
		return cmp.Compare(a.series, b.series)
	})
	for _, r := range rows {
		args = append(args, r.time, r.series, r.blob)
		if len(args) == 3*insertChunk {
			if err := flush(); err != nil {
				return fmt.Errorf("insert points: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("insert points: %w", err)
	}
	if err := flushSeries(); err != nil {
		return fmt.Errorf("create series: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit points: %w", err)
	}
	return nil
}

// rowRef is a points row of a transaction.
type rowRef struct {
	time, series int64
	blob         []byte
}

// Close stops the background work after committing what is queued.
func (s *Store) Close() error {
	close(s.done)
	s.wg.Wait()
	overwriteLogs.Delete(s.id)
	s.insertChunk.Close()
	s.seriesChunk.Close()
	s.rollupChunk.Close()
	s.rollupMergeChunk.Close()
	if s.wconn != nil {
		s.wconn.Close()
	}
	return s.db.Close()
}

var _ store.Store = (*Store)(nil)
