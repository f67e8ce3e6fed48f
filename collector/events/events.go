// Package events keeps the collector's event log: SNMP traps (linkDown,
// linkUp, coldStart, …, and any other trap with its varbinds) and reboots
// seen by SNMP polls, per site and device, in the embedded SQLite
// database, and lists them over HTTP:
//
//	GET /api/v1/sites/{site}/events?device=&from=&to=&kind=&limit=
//
// A Store is an ingest observer: it sees every stored write and records
// the snmp_trap points (and snmp_poll points with rebooted=true) of it.
package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/metric"
)

var migrations = []sqlitedb.Migration{{Version: 1, SQL: `
CREATE TABLE events(
	id      INTEGER PRIMARY KEY,
	site_id INTEGER NOT NULL,
	time_ns INTEGER NOT NULL,
	device  TEXT NOT NULL,
	class   TEXT NOT NULL,
	kind    TEXT NOT NULL,   -- trap, reboot
	name    TEXT NOT NULL,   -- linkDown, coldStart, a trap OID, reboot
	message TEXT NOT NULL,
	fields  TEXT NOT NULL    -- JSON object of the point's fields
);
-- An agent replaying its outbox after a lost acknowledgement sends the
-- same points again: they must not become duplicate events.
CREATE UNIQUE INDEX events_dedup ON events(site_id, device, time_ns, kind, name);
CREATE INDEX events_site_time ON events(site_id, time_ns);
`}}

// Migrate creates or upgrades the events table.
func Migrate(ctx context.Context, db *sql.DB) error {
	return sqlitedb.Migrate(ctx, db, "events", migrations)
}

// Store records and lists events.
type Store struct {
	db  *sql.DB
	Log *slog.Logger
}

// New returns a store on db; call Migrate first.
func New(db *sql.DB) *Store { return &Store{db: db} }

// Event is one stored event.
type Event struct {
	Time    time.Time      `json:"time"`
	Device  string         `json:"device"`
	Class   string         `json:"class"`
	Kind    string         `json:"kind"`
	Name    string         `json:"name"`
	Message string         `json:"message"`
	Fields  map[string]any `json:"fields"`
}

// FromPoints extracts the events of a batch's signal points.
func FromPoints(points []metric.Point) []Event {
	var out []Event
	for i := range points {
		p := &points[i]
		dev, _ := p.Tag("device")
		class, _ := p.Tag("class")
		switch p.Measurement {
		case "snmp_trap":
			name, _ := p.Tag("trap")
			msg := ""
			if v, ok := p.Field("message"); ok {
				msg = v.StringValue()
			}
			out = append(out, Event{Time: p.Time, Device: dev, Class: class, Kind: "trap", Name: name, Message: msg, Fields: fieldMap(p)})
		case "snmp_poll":
			if v, ok := p.Field("rebooted"); ok && v.Kind() == metric.KindBool && v.BoolValue() {
				msg := dev + ": rebooted (sysUpTime went back)"
				out = append(out, Event{Time: p.Time, Device: dev, Class: class, Kind: "reboot", Name: "reboot", Message: msg, Fields: fieldMap(p)})
			}
		}
	}
	return out
}

func fieldMap(p *metric.Point) map[string]any {
	m := make(map[string]any, len(p.Fields))
	for _, f := range p.Fields {
		m[f.Key] = f.Value.Any()
	}
	return m
}

// Observe stores the events of a written batch. It implements
// ingest.Observer; errors are logged, never returned to the writer,
// because the points themselves are already stored.
func (s *Store) Observe(ctx context.Context, b *ingest.Batch) {
	if b == nil {
		return
	}
	evs := FromPoints(b.Signals)
	if len(evs) == 0 {
		return
	}
	if err := s.Record(ctx, b.SiteID, evs); err != nil {
		s.log().Error("store events", "site", b.Site, "events", len(evs), "err", err)
	}
}

func (s *Store) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Record stores events of one site in one transaction; duplicates (same
// device, time, kind and name) are ignored.
func (s *Store) Record(ctx context.Context, siteID int64, evs []Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO events(site_id, time_ns, device, class, kind, name, message, fields) VALUES(?,?,?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	defer st.Close()
	for _, e := range evs {
		fj, err := json.Marshal(e.Fields)
		if err != nil {
			return fmt.Errorf("record event fields: %w", err)
		}
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		if _, err := st.ExecContext(ctx, siteID, e.Time.UnixNano(), e.Device, e.Class, e.Kind, e.Name, e.Message, string(fj)); err != nil {
			return fmt.Errorf("record event %s of %s: %w", e.Name, e.Device, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	return nil
}

// Query selects events of one site.
type Query struct {
	SiteID   int64
	Device   string // "" = all devices
	Kind     string // "" = all kinds
	From, To time.Time
	Limit    int // default 500, at most 5000
}

// List returns events, newest first.
func (s *Store) List(ctx context.Context, q Query) ([]Event, error) {
	if q.Limit <= 0 {
		q.Limit = 500
	}
	q.Limit = min(q.Limit, 5000)
	sqlq := `SELECT time_ns, device, class, kind, name, message, fields FROM events WHERE site_id=? AND time_ns>=? AND time_ns<?`
	args := []any{q.SiteID, q.From.UnixNano(), q.To.UnixNano()}
	if q.Device != "" {
		sqlq += ` AND device=?`
		args = append(args, q.Device)
	}
	if q.Kind != "" {
		sqlq += ` AND kind=?`
		args = append(args, q.Kind)
	}
	sqlq += ` ORDER BY time_ns DESC, id DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var ns int64
		var fj string
		if err := rows.Scan(&ns, &e.Device, &e.Class, &e.Kind, &e.Name, &e.Message, &fj); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.Time = time.Unix(0, ns).UTC()
		if err := json.Unmarshal([]byte(fj), &e.Fields); err != nil {
			return nil, fmt.Errorf("list events: fields of %s: %w", e.Name, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// Prune deletes events older than before (retention).
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE time_ns < ?`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return res.RowsAffected()
}
