package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// maintain rolls up completed five-minute buckets every minute and applies
// retention every hour.
func (s *Store) maintain() {
	defer s.wg.Done()
	roll := time.NewTicker(time.Minute)
	defer roll.Stop()
	// Close cuts a running rollup or retention short; both keep their
	// progress.
	closing, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		select {
		case <-s.done:
			stop()
		case <-closing.Done():
		}
	}()
	lastRetention := time.Time{}
	for {
		select {
		case <-s.done:
			return
		case now := <-roll.C:
			// Each its own deadline: a rollup that runs long (it keeps its
			// progress) must not starve retention.
			ctx, cancel := context.WithTimeout(closing, rollupDeadline)
			if err := s.Rollup(ctx, now); err != nil && closing.Err() == nil {
				s.log.Error("rollup failed; continued next minute", "err", err)
			}
			cancel()
			if now.Sub(lastRetention) >= time.Hour {
				ctx, cancel := context.WithTimeout(closing, 10*time.Minute)
				if err := s.ApplyRetention(ctx, now); err != nil && closing.Err() == nil {
					s.log.Error("retention failed; retried next hour", "err", err)
				}
				cancel()
				lastRetention = now
			}
		}
	}
}

// rollupDeadline bounds one Rollup run, which rests between its
// transactions (rollupPace): a bucket at 10,000 schools takes about a
// minute, and the run after a restart may have several.
const rollupDeadline = 4 * time.Minute

const metaWatermark = "rollup_watermark"

// Rollup writes the five-minute buckets completed since the last run,
// and again every bucket that late data (e.g. an agent replaying its
// outbox) changed. A bucket whose points this process accumulated as it
// committed them is written from memory; any other is recomputed from its
// raw points.
func (s *Store) Rollup(ctx context.Context, now time.Time) error {
	s.rollMu.Lock()
	defer s.rollMu.Unlock()
	step := rollupStep.Nanoseconds()
	end := bucketOf(now.UnixNano())
	s.rmu.Lock()
	accs, late, dirty, names := s.roll.take(end)
	s.rmu.Unlock()
	work := make([]int64, 0, len(accs)+len(late)+len(dirty))
	for b := range accs {
		work = append(work, b)
	}
	for b := range late {
		work = append(work, b) // never in accs: closed before
	}
	for _, b := range dirty {
		if accs[b] == nil && late[b] == nil {
			work = append(work, b)
		}
	}
	slices.Sort(work)
	work = slices.Compact(work)
	// What is not written goes back: the accumulators still exact, the
	// rest to be recomputed from raw points.
	i := 0
	giveUp := func(err error) error {
		rest, restLate := map[int64]*bucketAcc{}, map[int64]*bucketAcc{}
		var raw []int64
		for _, b := range work[i:] {
			switch {
			case accs[b] != nil:
				rest[b] = accs[b]
			case late[b] != nil:
				restLate[b] = late[b]
			default:
				raw = append(raw, b)
			}
		}
		s.rmu.Lock()
		s.roll.putBack(rest, restLate, raw)
		s.rmu.Unlock()
		return err
	}

	// Every bucket with points after the watermark is in work, but a
	// scan for them is a cheap index seek per bucket and skips the gaps
	// (the collector was down): a bucket it finds that is not in work is
	// recomputed from raw points.
	scan := s.wm.Load()
	if scan == 0 { // never rolled up: from the oldest point
		scan = math.MinInt64
	}
	var found int64
	haveFound := false
	for {
		if err := ctx.Err(); err != nil {
			return giveUp(err)
		}
		if !haveFound && scan < end {
			var next sql.NullInt64
			if err := s.db.QueryRowContext(ctx, `SELECT min(time) FROM points WHERE time >= ? AND time < ?`, scan, end).Scan(&next); err != nil {
				return giveUp(fmt.Errorf("find next point to roll up: %w", err))
			}
			if next.Valid {
				found, haveFound = bucketOf(next.Int64), true
			} else {
				scan = end
			}
		}
		var b int64
		switch {
		case i < len(work) && (!haveFound || work[i] <= found):
			b = work[i]
			i++
		case haveFound:
			b = found
		default:
			if end > s.wm.Load() {
				if err := s.setWatermark(ctx, end); err != nil {
					return giveUp(err)
				}
			}
			return nil
		}
		if haveFound && found <= b {
			haveFound = false
		}
		scan = max(scan, b+step)
		a, l := accs[b], late[b]
		var err error
		var w bucketWrite
		started := time.Now()
		switch {
		case a != nil:
			w, err = s.writeBucket(ctx, b, a, names, false)
		case l != nil:
			w, err = s.writeBucket(ctx, b, l, names, true)
		default:
			w, err = s.rollupRaw(ctx, b)
		}
		if err != nil {
			if a != nil && i > 0 && work[i-1] == b {
				// Written again from the same accumulator, the rows
				// stored so far are replaced by the same.
				i--
				return giveUp(err)
			}
			// Late points partly added, or a recompute: from raw points.
			s.rmu.Lock()
			s.roll.markDirty(b)
			s.rmu.Unlock()
			return giveUp(err)
		}
		s.statsMu.Lock()
		var from string
		switch {
		case a != nil:
			s.stats.RollupMemoryBuckets++
			from = "memory"
		case l != nil:
			s.stats.RollupLateBuckets++
			from = "late points"
		default:
			s.stats.RollupRawBuckets++
			from = "raw points"
		}
		s.statsMu.Unlock()
		s.log.Info("rolled up bucket", "bucket", bucketTime(b), "from", from, "rows", w.rows,
			"transactions", w.txs, "took", time.Since(started).Round(time.Millisecond), "longest_transaction", w.longest.Round(time.Millisecond))
		// The watermark moves with each bucket, so that a run cut short
		// by its deadline keeps what it did.
		if b+step > s.wm.Load() {
			if err := s.setWatermark(ctx, b+step); err != nil {
				return giveUp(err)
			}
		}
	}
}

func (s *Store) setWatermark(ctx context.Context, v int64) error {
	if _, err := s.execWrite(ctx, `INSERT INTO store_meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value`, metaWatermark, v); err != nil {
		return fmt.Errorf("save rollup watermark: %w", err)
	}
	s.wm.Store(v)
	return nil
}

// rollupRaw recomputes bucket b from its raw points.
func (s *Store) rollupRaw(ctx context.Context, b int64) (bucketWrite, error) {
	a, names, _, err := s.readBucket(ctx, b)
	if err != nil {
		return bucketWrite{}, err
	}
	return s.writeBucket(ctx, b, a, names, false)
}

// bucketWrite is what writing a bucket's rollups took, for the log: a
// long transaction is what the point writer waited for.
type bucketWrite struct {
	rows, txs int
	longest   time.Duration
}

// readBucket accumulates the raw points of bucket b and returns how many
// it read.
func (s *Store) readBucket(ctx context.Context, b int64) (*bucketAcc, []string, int, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read points of bucket %s for rollup: %w", bucketTime(b), err)
	}
	defer tx.Rollback()
	// The read's snapshot begins between two commits of the writer, and
	// the late points of b applied until then are in it: they are
	// forgotten, and those applied after it are added to what this
	// recompute writes, by the next Rollup.
	s.applying.Lock()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM store_meta LIMIT 1`).Scan(&one)
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		s.rmu.Lock()
		s.roll.dropLate(b)
		s.rmu.Unlock()
		err = nil
	}
	s.applying.Unlock()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read points of bucket %s for rollup: %w", bucketTime(b), err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT series_id, fields FROM points WHERE time >= ? AND time < ?`, b, b+rollupStep.Nanoseconds())
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read points of bucket %s for rollup: %w", bucketTime(b), err)
	}
	defer rows.Close()
	a := newBucketAcc()
	var names fieldNames
	var c seriesAcc
	addField := func(key []byte, kind metric.Kind, num uint64, _ []byte) bool {
		if v, ok := numeric(kind, num); ok {
			f, _ := names.id(key) // no limit
			c.add(f, v)
		}
		return true
	}
	n := 0
	for rows.Next() {
		n++
		var id int64
		var blob sql.RawBytes // valid until Next: no copy per point
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, nil, 0, fmt.Errorf("read points of bucket %s for rollup: %w", bucketTime(b), err)
		}
		c = a.series(id)
		// A corrupt blob counts the fields before the damage, as before.
		_ = eachField(blob, addField)
		c.done()
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("read points of bucket %s for rollup: %w", bucketTime(b), err)
	}
	return a, names.names, n, nil
}

// rollupTxRows bounds the rows of one rollup transaction: the point
// writer (and every write request behind it) waits for one. At 10,000
// schools under load 10,000 rows held the file for 75–125 ms.
var rollupTxRows = 2500

// rollupPace is how long Rollup rests between two transactions, in
// multiples of the last one's hold: at 10,000 schools a bucket is 1.5
// million rows, and written back to back they took half of the point
// writer's time for 12 s, longer than its spare capacity could cover
// (a backlog, seconds of latency, 429s). Rested, a bucket takes about a
// minute of the five until the next one.
var rollupPace = 2.0

// rollupInsertChunk is the rows of one prepared rollup INSERT.
const rollupInsertChunk = 50

func rollupInsertSQL(rows int) string {
	return "INSERT OR REPLACE INTO rollups(series_id, field, bucket, count, sum, min, max) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?),", rows), ",")
}

// rollupMergeSQL adds late points' rollups to the stored ones. A late
// point is a new one (an overwrite that changes a value sends its bucket
// to the raw recompute), so counts and sums add up.
func rollupMergeSQL(rows int) string {
	return "INSERT INTO rollups(series_id, field, bucket, count, sum, min, max) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?),", rows), ",") +
		" ON CONFLICT(bucket, series_id, field) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum, min = min(min, excluded.min), max = max(max, excluded.max)"
}

// writeBucket writes the rollup rows of bucket b, or with merge adds them
// to the stored ones. Each row is complete on its own, so they go in
// several short transactions: one long one would keep the point writer
// (and every waiting write request) out for seconds. Series in id order
// make the inserts an append to the bucket's rows.
func (s *Store) writeBucket(ctx context.Context, b int64, a *bucketAcc, names []string, merge bool) (w bucketWrite, _ error) {
	full, partial := s.rollupChunk, rollupInsertSQL
	if merge {
		full, partial = s.rollupMergeChunk, rollupMergeSQL
	}
	ids := make([]int64, 0, len(a.first))
	for id := range a.first {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	args := make([]any, 0, 7*rollupInsertChunk)
	var tx *sql.Tx
	var txDone func()
	var chunk *sql.Stmt
	var began time.Time
	var held time.Duration // by the last transaction
	inTx := 0
	flush := func() error {
		var err error
		switch n := len(args) / 7; n {
		case 0:
			return nil
		case rollupInsertChunk:
			_, err = chunk.ExecContext(ctx, args...)
		default:
			_, err = tx.ExecContext(ctx, partial(n), args...)
		}
		clear(args)
		args = args[:0]
		return err
	}
	commit := func() error {
		if tx == nil {
			return nil
		}
		err := flush()
		if err == nil && afterRollupTx != nil {
			afterRollupTx(tx)
		}
		if err == nil {
			err = tx.Commit()
		}
		chunk.Close()
		txDone()
		held = time.Since(began)
		w.rows += inTx
		w.txs++
		w.longest = max(w.longest, held)
		tx, inTx = nil, 0
		return err
	}
	defer func() {
		if tx != nil {
			chunk.Close()
			txDone()
		}
	}()
	// Boxing a value into an interface allocates: the series, the field
	// name and the bucket once each, not once per row.
	bucketArg := any(b)
	nameArgs := make([]any, len(names))
	for _, id := range ids {
		idArg := any(id)
		for i := a.first[id]; i >= 0; {
			e := a.at(i)
			i = e.next
			if nameArgs[e.field] == nil {
				nameArgs[e.field] = names[e.field]
			}
			if tx == nil {
				if w.txs > 0 {
					t := time.NewTimer(time.Duration(rollupPace * float64(held)))
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return w, fmt.Errorf("write rollups of bucket %s: %w", bucketTime(b), ctx.Err())
					}
				}
				var err error
				if tx, txDone, err = s.beginDerivedWrite(ctx); err != nil {
					return w, fmt.Errorf("write rollups of bucket %s: %w", bucketTime(b), err)
				}
				began = time.Now()
				chunk = tx.StmtContext(ctx, full)
			}
			args = append(args, idArg, nameArgs[e.field], bucketArg, e.count, e.sum, e.min, e.max)
			inTx++
			if len(args) == 7*rollupInsertChunk {
				if err := flush(); err != nil {
					return w, fmt.Errorf("write rollups of bucket %s: %w", bucketTime(b), err)
				}
			}
			if inTx >= rollupTxRows {
				if err := commit(); err != nil {
					return w, fmt.Errorf("write rollups of bucket %s: %w", bucketTime(b), err)
				}
			}
		}
	}
	if err := commit(); err != nil {
		return w, fmt.Errorf("write rollups of bucket %s: %w", bucketTime(b), err)
	}
	return w, nil
}

// afterRollupTx, if set (by tests), runs before each rollup commit.
var afterRollupTx func(*sql.Tx)

// ApplyRetention deletes raw points and rollups older than their
// retention, in chunks of short transactions: a day of points is
// millions of rows, and one DELETE would hold the write lock for as long
// as it runs.
func (s *Store) ApplyRetention(ctx context.Context, now time.Time) error {
	cut := now.Add(-s.opts.RawRetention).UnixNano()
	for {
		// The time of the row after the next chunk (points are kept in
		// time order): everything before it goes in one transaction.
		var t int64
		err := s.db.QueryRowContext(ctx, `SELECT time FROM points WHERE time < ? ORDER BY time LIMIT 1 OFFSET ?`, cut, retentionChunk).Scan(&t)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return fmt.Errorf("delete raw points past retention: %w", err)
		}
		if _, err := s.execWrite(ctx, `DELETE FROM points WHERE time < ?`, t); err != nil {
			return fmt.Errorf("delete raw points past retention: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if _, err := s.execWrite(ctx, `DELETE FROM points WHERE time < ?`, cut); err != nil {
		return fmt.Errorf("delete raw points past retention: %w", err)
	}
	rcut := now.Add(-s.opts.RollupRetention).UnixNano()
	for {
		res, err := s.execWrite(ctx, rollupRetentionSQL, rcut, retentionChunk)
		if err != nil {
			return fmt.Errorf("delete rollups past retention: %w", err)
		}
		if n, _ := res.RowsAffected(); n < int64(retentionChunk) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// rollupRetentionSQL deletes one chunk of rollups older than a bucket.
const rollupRetentionSQL = `DELETE FROM rollups WHERE (bucket, series_id, field) IN (SELECT bucket, series_id, field FROM rollups WHERE bucket < ? LIMIT ?)`

// retentionChunk is how many rows one retention transaction deletes.
var retentionChunk = 20000
