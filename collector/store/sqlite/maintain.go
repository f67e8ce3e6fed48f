package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// maintain rolls up completed five-minute buckets every minute and applies
// retention every hour.
func (s *Store) maintain() {
	defer s.wg.Done()
	roll := time.NewTicker(time.Minute)
	defer roll.Stop()
	lastRetention := time.Time{}
	for {
		select {
		case <-s.done:
			return
		case now := <-roll.C:
			// Each its own deadline: a rollup that runs long (it keeps its
			// progress) must not starve retention.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
			if err := s.Rollup(ctx, now); err != nil {
				s.log.Error("rollup failed; continued next minute", "err", err)
			}
			cancel()
			if now.Sub(lastRetention) >= time.Hour {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				if err := s.ApplyRetention(ctx, now); err != nil {
					s.log.Error("retention failed; retried next hour", "err", err)
				}
				cancel()
				lastRetention = now
			}
		}
	}
}

const metaWatermark = "rollup_watermark"

// Rollup aggregates raw points into five-minute buckets: every bucket
// completed since the last run, and again every bucket that late data
// (e.g. an agent replaying its outbox) changed.
func (s *Store) Rollup(ctx context.Context, now time.Time) error {
	step := rollupStep.Nanoseconds()
	end := now.UnixNano() - now.UnixNano()%step
	wm := s.wm.Load()
	from := wm
	if from == 0 {
		// First run: start from the oldest raw point.
		var oldest sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT min(time) FROM points`).Scan(&oldest); err != nil {
			return fmt.Errorf("find oldest point: %w", err)
		}
		if !oldest.Valid {
			return s.setWatermark(ctx, end)
		}
		from = oldest.Int64 - oldest.Int64%step
	}
	s.mu.Lock()
	dirty := s.dirtyFrom
	s.dirtyFrom = 0
	s.mu.Unlock()
	if dirty != 0 && dirty < from {
		from = dirty - dirty%step
	}
	if from >= end {
		return nil
	}
	// One bucket at a time keeps reads, memory and transactions bounded
	// (at 10,000 agents a bucket is millions of points), and the
	// watermark moves with each, so that a run cut short by its deadline
	// keeps what it did instead of starting over larger next time.
	for a := from; a < end; {
		b := a + step
		n, err := s.rollupRange(ctx, a, b)
		if err != nil {
			s.mu.Lock()
			if s.dirtyFrom == 0 || a < s.dirtyFrom {
				s.dirtyFrom = a
			}
			s.mu.Unlock()
			return err
		}
		if n == 0 {
			// A gap (the collector was down): go on at the next point.
			var next sql.NullInt64
			if err := s.db.QueryRowContext(ctx, `SELECT min(time) FROM points WHERE time >= ? AND time < ?`, b, end).Scan(&next); err != nil {
				return fmt.Errorf("find next point to roll up: %w", err)
			}
			if !next.Valid {
				break
			}
			a = next.Int64 - next.Int64%step
			continue
		}
		if b > s.wm.Load() {
			if err := s.setWatermark(ctx, b); err != nil {
				return err
			}
		}
		a = b
	}
	if end > s.wm.Load() {
		return s.setWatermark(ctx, end)
	}
	return nil
}

func (s *Store) setWatermark(ctx context.Context, v int64) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO store_meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value`, metaWatermark, v); err != nil {
		return fmt.Errorf("save rollup watermark: %w", err)
	}
	s.wm.Store(v)
	return nil
}

type rollKey struct {
	series int64
	field  string
	bucket int64
}

type rollVal struct {
	count         int64
	sum, min, max float64
}

// rollupRange recomputes the rollups of [from, to) and returns how many
// raw points it read.
func (s *Store) rollupRange(ctx context.Context, from, to int64) (int, error) {
	step := rollupStep.Nanoseconds()
	rows, err := s.db.QueryContext(ctx, `SELECT time, series_id, fields FROM points WHERE time >= ? AND time < ?`, from, to)
	if err != nil {
		return 0, fmt.Errorf("read points for rollup: %w", err)
	}
	acc := map[rollKey]*rollVal{}
	n := 0
	for rows.Next() {
		n++
		var t, id int64
		var blob []byte
		if err := rows.Scan(&t, &id, &blob); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read points for rollup: %w", err)
		}
		b := t - t%step
		_ = eachField(blob, func(key []byte, kind metric.Kind, num uint64, _ []byte) bool {
			v, ok := numeric(kind, num)
			if !ok {
				return true
			}
			k := rollKey{id, string(key), b}
			r := acc[k]
			if r == nil {
				acc[k] = &rollVal{count: 1, sum: v, min: v, max: v}
				return true
			}
			r.count++
			r.sum += v
			r.min = min(r.min, v)
			r.max = max(r.max, v)
			return true
		})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read points for rollup: %w", err)
	}
	if len(acc) == 0 {
		return n, nil
	}
	// Each bucket's row is complete on its own, so the rows can be written
	// in several short transactions: one long one would keep the point
	// writer (and every waiting write request) out for seconds.
	keys := make([]rollKey, 0, len(acc))
	for k := range acc {
		keys = append(keys, k)
	}
	for len(keys) > 0 {
		k := min(len(keys), rollupTxRows)
		if err := s.writeRollups(ctx, keys[:k], acc); err != nil {
			return 0, err
		}
		keys = keys[k:]
	}
	return n, nil
}

// rollupTxRows bounds the rows of one rollup transaction (a few ms).
var rollupTxRows = 2000

func (s *Store) writeRollups(ctx context.Context, keys []rollKey, acc map[rollKey]*rollVal) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write rollups: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO rollups(series_id, field, bucket, count, sum, min, max) VALUES(?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("write rollups: %w", err)
	}
	defer st.Close()
	for _, k := range keys {
		v := acc[k]
		if _, err := st.ExecContext(ctx, k.series, k.field, k.bucket, v.count, v.sum, v.min, v.max); err != nil {
			return fmt.Errorf("write rollups: %w", err)
		}
	}
	return tx.Commit()
}

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
		if _, err := s.db.ExecContext(ctx, `DELETE FROM points WHERE time < ?`, t); err != nil {
			return fmt.Errorf("delete raw points past retention: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM points WHERE time < ?`, cut); err != nil {
		return fmt.Errorf("delete raw points past retention: %w", err)
	}
	rcut := now.Add(-s.opts.RollupRetention).UnixNano()
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM rollups WHERE (series_id, field, bucket) IN (SELECT series_id, field, bucket FROM rollups WHERE bucket < ? LIMIT ?)`, rcut, retentionChunk)
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

// retentionChunk is how many rows one retention transaction deletes.
var retentionChunk = 20000
