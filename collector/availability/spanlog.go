package availability

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"
)

// The span log keeps each object's closed spans of one UTC year in one
// compact row (av_span_log). av_spans stays the table for listing and
// editing; the log is what long reports read: a yearly report over 100,000
// objects reads 100,000–200,000 rows instead of a million, which is what
// keeps it within two seconds. The log is derived: RebuildSpanLog
// recreates it from av_spans at any time.

const spanLogSchema = `CREATE TABLE IF NOT EXISTS av_span_log (
	object_id INTEGER NOT NULL,
	year INTEGER NOT NULL,
	site_id INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY(object_id, year)) WITHOUT ROWID`

func utcYear(msv int64) int { return time.UnixMilli(msv).UTC().Year() }

func yearStart(y int) int64 { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() }

type logEntry struct {
	id         int64
	state      State
	start, end int64
}

var stateCodes = map[State]byte{StateDown: 1, StateUnknown: 2, StateUnreachable: 3}

func encodeLog(entries []logEntry) []byte {
	b := make([]byte, 0, 12*len(entries))
	var prevStart, prevID int64
	for _, e := range entries {
		b = binary.AppendVarint(b, e.id-prevID)
		b = append(b, stateCodes[e.state])
		b = binary.AppendVarint(b, e.start-prevStart)
		b = binary.AppendUvarint(b, uint64(e.end-e.start))
		prevStart, prevID = e.start, e.id
	}
	return b
}

// decodeLog appends the entries of one blob to out.
func decodeLog(obj int64, b []byte, out []spanRow) ([]spanRow, error) {
	var prevStart, prevID int64
	for len(b) > 0 {
		d, n := binary.Varint(b)
		if n <= 0 || len(b) < n+1 {
			return out, errors.New("corrupt span log")
		}
		id := prevID + d
		code := b[n]
		b = b[n+1:]
		ds, n := binary.Varint(b)
		if n <= 0 {
			return out, errors.New("corrupt span log")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 {
			return out, errors.New("corrupt span log")
		}
		b = b[n:]
		start := prevStart + ds
		out = append(out, spanRow{id: id, obj: obj, code: code, start: start, end: start + int64(l)})
		prevStart, prevID = start, id
	}
	return out, nil
}

const (
	logSelect = `SELECT id, state, start_ms, end_ms FROM av_spans WHERE object_id=? AND end_ms IS NOT NULL AND end_ms > ? AND start_ms < ? ORDER BY start_ms, id`
	logDelete = `DELETE FROM av_span_log WHERE object_id=? AND year=?`
	logUpsert = `INSERT INTO av_span_log(object_id, year, site_id, data) VALUES(?,?,?,?) ON CONFLICT(object_id, year) DO UPDATE SET data=excluded.data`
)

// preparer prepares statements; lazyTx and plain transactions both serve.
type preparer interface {
	stmt(query string) (*sql.Stmt, error)
}

type txPreparer struct {
	ctx context.Context
	tx  *sql.Tx
	m   map[string]*sql.Stmt
}

func (p *txPreparer) stmt(q string) (*sql.Stmt, error) {
	if st := p.m[q]; st != nil {
		return st, nil
	}
	st, err := p.tx.PrepareContext(p.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("availability: prepare: %w", err)
	}
	if p.m == nil {
		p.m = map[string]*sql.Stmt{}
	}
	p.m[q] = st
	return st, nil
}

// rebuildLogYear rewrites one object's log row for one year from av_spans.
func rebuildLogYear(ctx context.Context, p preparer, obj, site int64, year int) error {
	from, to := yearStart(year), yearStart(year+1)
	sel, err := p.stmt(logSelect)
	if err != nil {
		return err
	}
	rows, err := sel.QueryContext(ctx, obj, from, to)
	if err != nil {
		return fmt.Errorf("availability: rebuild span log: %w", err)
	}
	var entries []logEntry
	for rows.Next() {
		var e logEntry
		if err := rows.Scan(&e.id, &e.state, &e.start, &e.end); err != nil {
			rows.Close()
			return fmt.Errorf("availability: rebuild span log: %w", err)
		}
		entries = append(entries, e)
	}
	rows.Close()
	if len(entries) == 0 {
		del, err := p.stmt(logDelete)
		if err != nil {
			return err
		}
		_, err = del.ExecContext(ctx, obj, year)
		if err != nil {
			return fmt.Errorf("availability: write span log: %w", err)
		}
		return nil
	}
	up, err := p.stmt(logUpsert)
	if err != nil {
		return err
	}
	if _, err := up.ExecContext(ctx, obj, year, site, encodeLog(entries)); err != nil {
		return fmt.Errorf("availability: write span log: %w", err)
	}
	return nil
}

// RebuildSpanLog recreates the whole span log from av_spans.
func RebuildSpanLog(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("availability: rebuild span log: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM av_span_log`); err != nil {
		return fmt.Errorf("availability: rebuild span log: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, object_id, site_id, state, start_ms, end_ms FROM av_spans WHERE end_ms IS NOT NULL ORDER BY object_id, start_ms, id`)
	if err != nil {
		return fmt.Errorf("availability: rebuild span log: %w", err)
	}
	type key struct {
		obj  int64
		year int
	}
	logs := map[key][]logEntry{}
	sites := map[int64]int64{}
	for rows.Next() {
		var e logEntry
		var obj, site int64
		if err := rows.Scan(&e.id, &obj, &site, &e.state, &e.start, &e.end); err != nil {
			rows.Close()
			return fmt.Errorf("availability: rebuild span log: %w", err)
		}
		sites[obj] = site
		for y := utcYear(e.start); y <= utcYear(e.end-1); y++ {
			logs[key{obj, y}] = append(logs[key{obj, y}], e)
		}
	}
	rows.Close()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO av_span_log(object_id, year, site_id, data) VALUES(?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("availability: rebuild span log: %w", err)
	}
	defer stmt.Close()
	for k, entries := range logs {
		if _, err := stmt.ExecContext(ctx, k.obj, k.year, sites[k.obj], encodeLog(entries)); err != nil {
			return fmt.Errorf("availability: rebuild span log: %w", err)
		}
	}
	return tx.Commit()
}

// loadLogSpans reads the closed spans overlapping [from, to) from the log
// and the open ones from av_spans.
func loadLogSpans(ctx context.Context, db *sql.DB, want map[int64]bool, from, to int64) ([]spanRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT object_id, data FROM av_span_log WHERE year BETWEEN ? AND ?`, utcYear(from), utcYear(to-1))
	if err != nil {
		return nil, fmt.Errorf("load outages: %w", err)
	}
	out := make([]spanRow, 0, 12*len(want))
	var data sql.RawBytes
	multiYear := utcYear(from) != utcYear(to-1)
	for rows.Next() {
		var obj int64
		if err := rows.Scan(&obj, &data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load outages: %w", err)
		}
		if !want[obj] {
			continue
		}
		n := len(out)
		if out, err = decodeLog(obj, data, out); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load outages of object %d: %w (run RebuildSpanLog)", obj, err)
		}
		// Keep only what overlaps the window.
		w := n
		for _, s := range out[n:] {
			if s.start < to && s.end > from {
				out[w] = s
				w++
			}
		}
		out = out[:w]
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load outages: %w", err)
	}
	if multiYear {
		// A span crossing New Year is in both years' rows.
		seen := make(map[int64]bool)
		w := 0
		for _, s := range out {
			if utcYear(s.start) != utcYear(s.end-1) {
				if seen[s.id] {
					continue
				}
				seen[s.id] = true
			}
			out[w] = s
			w++
		}
		out = out[:w]
	}
	orows, err := db.QueryContext(ctx, `SELECT id, object_id, state, start_ms FROM av_spans WHERE end_ms IS NULL AND start_ms < ?`, to)
	if err != nil {
		return nil, fmt.Errorf("load open outages: %w", err)
	}
	defer orows.Close()
	var open []spanRow
	for orows.Next() {
		var s spanRow
		var state State
		if err := orows.Scan(&s.id, &s.obj, &state, &s.start); err != nil {
			return nil, fmt.Errorf("load open outages: %w", err)
		}
		s.code = stateCodes[state]
		if want[s.obj] {
			open = append(open, s)
		}
	}
	if err := orows.Err(); err != nil {
		return nil, fmt.Errorf("load open outages: %w", err)
	}
	if len(open) == 0 {
		return out, nil
	}
	// Merge the few open spans into the log's (object, start) order.
	less := func(a, b *spanRow) bool { return a.obj < b.obj || (a.obj == b.obj && a.start < b.start) }
	sort.Slice(open, func(i, j int) bool { return less(&open[i], &open[j]) })
	merged := make([]spanRow, 0, len(out)+len(open))
	i, j := 0, 0
	for i < len(out) || j < len(open) {
		if j == len(open) || (i < len(out) && !less(&open[j], &out[i])) {
			merged = append(merged, out[i])
			i++
		} else {
			merged = append(merged, open[j])
			j++
		}
	}
	return merged, nil
}
