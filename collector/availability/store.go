package availability

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// schema holds everything the availability engine needs to rebuild its
// state: objects with their evidence snapshot, derived spans (outages and
// unknown time), collector runs, calendars, assignment rules and
// maintenance windows. Every row that belongs to a site carries site_id, so
// the work can be partitioned by site.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS av_objects (
		id INTEGER PRIMARY KEY,
		municipality_id INTEGER NOT NULL DEFAULT 0,
		site_id INTEGER NOT NULL,
		device_id INTEGER NOT NULL DEFAULT 0,
		municipality TEXT NOT NULL DEFAULT '',
		site TEXT NOT NULL DEFAULT '',
		device TEXT NOT NULL,
		class TEXT NOT NULL DEFAULT '',
		check_name TEXT NOT NULL DEFAULT '',
		parent_id INTEGER NOT NULL DEFAULT 0,
		critical INTEGER NOT NULL DEFAULT 0,
		heartbeat INTEGER NOT NULL DEFAULT 0,
		first_seen_ms INTEGER NOT NULL,
		segs BLOB,
		UNIQUE(site_id, device, check_name))`,
	`CREATE TABLE IF NOT EXISTS av_spans (
		id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: alert keys name spans
		object_id INTEGER NOT NULL,
		site_id INTEGER NOT NULL,
		state TEXT NOT NULL,
		cause TEXT NOT NULL,
		start_ms INTEGER NOT NULL,
		end_ms INTEGER,
		children TEXT NOT NULL DEFAULT '')`,
	`CREATE INDEX IF NOT EXISTS av_spans_object ON av_spans(object_id, start_ms)`,
	`CREATE INDEX IF NOT EXISTS av_spans_site ON av_spans(site_id, start_ms)`,
	`CREATE INDEX IF NOT EXISTS av_spans_open ON av_spans(object_id) WHERE end_ms IS NULL`,
	spanLogSchema,
	// The end of each object's last evidence segment, one row per site
	// (see Engine.Checkpoint).
	`CREATE TABLE IF NOT EXISTS av_site_tails (
		site_id INTEGER PRIMARY KEY,
		tails BLOB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS av_runs (
		id INTEGER PRIMARY KEY,
		started_ms INTEGER NOT NULL,
		alive_ms INTEGER NOT NULL,
		stopped_ms INTEGER)`,
	`CREATE TABLE IF NOT EXISTS av_gaps (
		id INTEGER PRIMARY KEY,
		site_id INTEGER NOT NULL,
		cause TEXT NOT NULL,
		start_ms INTEGER NOT NULL,
		end_ms INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS av_calendars (
		name TEXT PRIMARY KEY,
		spec TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS av_rules (
		id INTEGER PRIMARY KEY,
		kind TEXT NOT NULL,
		municipality TEXT NOT NULL DEFAULT '',
		site TEXT NOT NULL DEFAULT '',
		class TEXT NOT NULL DEFAULT '',
		device TEXT NOT NULL DEFAULT '',
		check_name TEXT NOT NULL DEFAULT '',
		value TEXT NOT NULL,
		UNIQUE(kind, municipality, site, class, device, check_name))`,
	`CREATE TABLE IF NOT EXISTS av_maintenance (
		id INTEGER PRIMARY KEY,
		municipality TEXT NOT NULL DEFAULT '',
		site TEXT NOT NULL DEFAULT '',
		class TEXT NOT NULL DEFAULT '',
		device TEXT NOT NULL DEFAULT '',
		check_name TEXT NOT NULL DEFAULT '',
		start_ms INTEGER NOT NULL,
		duration_ms INTEGER NOT NULL,
		rrule TEXT NOT NULL DEFAULT '',
		tz TEXT NOT NULL DEFAULT '',
		reason TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL DEFAULT '',
		created_ms INTEGER NOT NULL)`,
	// LLDP neighbours that devices (switches, routers, access points)
	// report per port, from which parents are derived (lldp.go).
	`CREATE TABLE IF NOT EXISTS av_lldp (
		site_id INTEGER NOT NULL,
		device TEXT NOT NULL,
		local_port TEXT NOT NULL,
		remote TEXT NOT NULL,
		chassis TEXT NOT NULL DEFAULT '',
		seen_ms INTEGER NOT NULL,
		PRIMARY KEY(site_id, device, local_port, remote))`,
}

// Migrate creates the availability tables in the collector's database. It
// is idempotent.
func Migrate(ctx context.Context, db *sql.DB) error {
	var hadLog int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='av_span_log'`).Scan(&hadLog); err != nil {
		return fmt.Errorf("availability: migrate: %w", err)
	}
	for _, s := range schema {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("availability: migrate: %w", err)
		}
	}
	// Columns added after the first release of the table.
	var hasRetired int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('av_objects') WHERE name='retired_ms'`).Scan(&hasRetired); err != nil {
		return fmt.Errorf("availability: migrate: %w", err)
	}
	if hasRetired == 0 {
		if _, err := db.ExecContext(ctx, `ALTER TABLE av_objects ADD COLUMN retired_ms INTEGER NOT NULL DEFAULT 0`); err != nil {
			return fmt.Errorf("availability: migrate: %w", err)
		}
	}
	// The engine looks for retired objects every 30 s; without the index
	// that read the whole table (340,000 rows with their evidence at
	// 10,000 schools).
	if _, err := db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS av_objects_retired ON av_objects(retired_ms) WHERE retired_ms>0`); err != nil {
		return fmt.Errorf("availability: migrate: %w", err)
	}
	var hasSource int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('av_objects') WHERE name='parent_source'`).Scan(&hasSource); err != nil {
		return fmt.Errorf("availability: migrate: %w", err)
	}
	if hasSource == 0 {
		// Before this column, every row an SNMP poller wrote about a
		// device (interfaces, LLDP, endpoints) counted as the device's
		// own heartbeat, which stuck: such a switch would be judged by a
		// 10 s heartbeat and be down whenever its poller fell silent.
		// Devices of these classes run no agent; a host that does regains
		// the flag with its next write.
		for _, q := range []string{
			`ALTER TABLE av_objects ADD COLUMN parent_source TEXT NOT NULL DEFAULT ''`,
			`UPDATE av_objects SET heartbeat=0 WHERE check_name='' AND class IN ('switch','router','access_point','printer','ups')`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("availability: migrate: %w", err)
			}
		}
	}
	if hadLog == 0 {
		// Spans stored before the log existed.
		return RebuildSpanLog(ctx, db)
	}
	return nil
}

// Retire takes a decommissioned object out of monitoring at time at: its
// open outage ends then, it is no longer evaluated, and reports count it
// only until then. A new signal from it brings it back.
func Retire(ctx context.Context, db *sql.DB, k ObjectKey, at time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("retire %s: %w", k, err)
	}
	defer tx.Rollback()
	var id, site int64
	err = tx.QueryRowContext(ctx, `SELECT id, site_id FROM av_objects WHERE site_id=? AND device=? AND check_name=?`, k.SiteID, k.Device, k.Check).Scan(&id, &site)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("retire: no monitored object %q at site %d (see report availability --group-by object)", k.Device, k.SiteID)
	}
	if err != nil {
		return fmt.Errorf("retire %s: %w", k, err)
	}
	t := ms(at)
	if _, err := tx.ExecContext(ctx, `UPDATE av_objects SET retired_ms=?, segs=NULL WHERE id=?`, t, id); err != nil {
		return fmt.Errorf("retire %s: %w", k, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM av_spans WHERE object_id=? AND start_ms >= ?`, id, t); err != nil {
		return fmt.Errorf("retire %s: %w", k, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE av_spans SET end_ms=? WHERE object_id=? AND (end_ms IS NULL OR end_ms > ?)`, t, id, t); err != nil {
		return fmt.Errorf("retire %s: %w", k, err)
	}
	for y := utcYear(t) - 1; y <= utcYear(t)+1; y++ {
		if err := rebuildLogYear(ctx, &txPreparer{ctx: ctx, tx: tx}, id, site, y); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Rule kinds in av_rules.
const (
	RuleCalendar = "calendar" // value: calendar name
	RuleTarget   = "target"   // value: target in ppm
	RuleCritical = "critical" // value: "true"/"false"
)

// Rule assigns a calendar, target or criticality to a scope. The most
// specific matching rule wins (see Scope.Specificity).
type Rule struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Scope Scope  `json:"scope"`
	Value string `json:"value"`
}

// SetRule stores (or replaces) an assignment rule.
func SetRule(ctx context.Context, db *sql.DB, r Rule) error {
	switch r.Kind {
	case RuleCalendar:
		if r.Value != Kind24x7 {
			if _, err := loadCalendar(ctx, db, r.Value); err != nil {
				return err
			}
		}
	case RuleTarget:
		if _, err := strconvTarget(r.Value); err != nil {
			return err
		}
	case RuleCritical:
		if r.Value != "true" && r.Value != "false" {
			return fmt.Errorf("critical rule: value %q: want true or false", r.Value)
		}
	default:
		return fmt.Errorf("rule kind %q: want calendar, target or critical", r.Kind)
	}
	s := r.Scope
	_, err := db.ExecContext(ctx, `INSERT INTO av_rules(kind, municipality, site, class, device, check_name, value) VALUES(?,?,?,?,?,?,?)
		ON CONFLICT(kind, municipality, site, class, device, check_name) DO UPDATE SET value=excluded.value`,
		r.Kind, s.Municipality, s.Site, s.Class, s.Device, s.Check, r.Value)
	if err != nil {
		return fmt.Errorf("store %s rule for %s: %w", r.Kind, s, err)
	}
	return nil
}

// SetTarget assigns a target to a scope.
func SetTarget(ctx context.Context, db *sql.DB, s Scope, t Target) error {
	return SetRule(ctx, db, Rule{Kind: RuleTarget, Scope: s, Value: fmt.Sprint(int64(t))})
}

func strconvTarget(v string) (Target, error) {
	var t int64
	if _, err := fmt.Sscan(v, &t); err != nil || t <= 0 || t > 1_000_000 {
		return 0, fmt.Errorf("target rule: value %q is not a ppm figure between 1 and 1000000", v)
	}
	return Target(t), nil
}

func loadRules(ctx context.Context, db *sql.DB) ([]Rule, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, kind, municipality, site, class, device, check_name, value FROM av_rules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load availability rules: %w", err)
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		var r Rule
		if err := rows.Scan(&r.ID, &r.Kind, &r.Scope.Municipality, &r.Scope.Site, &r.Scope.Class, &r.Scope.Device, &r.Scope.Check, &r.Value); err != nil {
			return nil, fmt.Errorf("load availability rules: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SaveCalendar validates and stores a service calendar.
func SaveCalendar(ctx context.Context, db *sql.DB, c Calendar) error {
	if c.Name == "" || c.Name == Kind24x7 {
		return fmt.Errorf("calendar needs a name other than %q", Kind24x7)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	if _, err := db.ExecContext(ctx, `INSERT INTO av_calendars(name, spec) VALUES(?,?) ON CONFLICT(name) DO UPDATE SET spec=excluded.spec`, c.Name, string(b)); err != nil {
		return fmt.Errorf("store calendar %q: %w", c.Name, err)
	}
	return nil
}

func loadCalendar(ctx context.Context, db *sql.DB, name string) (*Calendar, error) {
	var spec string
	err := db.QueryRowContext(ctx, `SELECT spec FROM av_calendars WHERE name=?`, name).Scan(&spec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("calendar %q does not exist: create it first", name)
	}
	if err != nil {
		return nil, fmt.Errorf("load calendar %q: %w", name, err)
	}
	var c Calendar
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		return nil, fmt.Errorf("load calendar %q: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func loadCalendars(ctx context.Context, db *sql.DB) (map[string]*Calendar, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM av_calendars`)
	if err != nil {
		return nil, fmt.Errorf("load calendars: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load calendars: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string]*Calendar{}
	for _, n := range names {
		c, err := loadCalendar(ctx, db, n)
		if err != nil {
			return nil, err
		}
		out[n] = c
	}
	return out, nil
}

// AddMaintenance validates and stores a maintenance window and returns it
// with its ID.
func AddMaintenance(ctx context.Context, db *sql.DB, m Maintenance) (Maintenance, error) {
	if err := m.Validate(); err != nil {
		return m, err
	}
	if m.Created.IsZero() {
		m.Created = time.Now()
	}
	s := m.Scope
	res, err := db.ExecContext(ctx, `INSERT INTO av_maintenance(municipality, site, class, device, check_name, start_ms, duration_ms, rrule, tz, reason, created_by, created_ms)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`, s.Municipality, s.Site, s.Class, s.Device, s.Check,
		ms(m.Start), m.Duration.Milliseconds(), m.RRule, m.TZ, m.Reason, m.CreatedBy, ms(m.Created))
	if err != nil {
		return m, fmt.Errorf("store maintenance window: %w", err)
	}
	m.ID, _ = res.LastInsertId()
	return m, nil
}

// DeleteMaintenance removes a maintenance window. It reports an error if
// the window does not exist.
func DeleteMaintenance(ctx context.Context, db *sql.DB, id int64) error {
	res, err := db.ExecContext(ctx, `DELETE FROM av_maintenance WHERE id=?`, id)
	if err != nil {
		return fmt.Errorf("delete maintenance window %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("maintenance window %d does not exist (see maintenance list)", id)
	}
	return nil
}

// ListMaintenance returns all maintenance windows, oldest first.
func ListMaintenance(ctx context.Context, db *sql.DB) ([]Maintenance, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, municipality, site, class, device, check_name, start_ms, duration_ms, rrule, tz, reason, created_by, created_ms FROM av_maintenance ORDER BY start_ms, id`)
	if err != nil {
		return nil, fmt.Errorf("list maintenance windows: %w", err)
	}
	defer rows.Close()
	var out []Maintenance
	for rows.Next() {
		var m Maintenance
		var start, dur, created int64
		if err := rows.Scan(&m.ID, &m.Scope.Municipality, &m.Scope.Site, &m.Scope.Class, &m.Scope.Device, &m.Scope.Check,
			&start, &dur, &m.RRule, &m.TZ, &m.Reason, &m.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list maintenance windows: %w", err)
		}
		m.Start, m.Duration, m.Created = fromMS(start), time.Duration(dur)*time.Millisecond, fromMS(created)
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("maintenance window %d: %w", m.ID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// loadGaps returns the monitoring gaps: times between collector runs and
// recorded uplink outages. Site 0 means all sites.
func loadGaps(ctx context.Context, db *sql.DB) (map[int64][]gapSpan, error) {
	out := map[int64][]gapSpan{}
	rows, err := db.QueryContext(ctx, `SELECT started_ms, alive_ms, stopped_ms FROM av_runs ORDER BY started_ms`)
	if err != nil {
		return nil, fmt.Errorf("load collector runs: %w", err)
	}
	var prevEnd int64 = -1
	for rows.Next() {
		var st, alive int64
		var stopped sql.NullInt64
		if err := rows.Scan(&st, &alive, &stopped); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load collector runs: %w", err)
		}
		if prevEnd >= 0 && st > prevEnd {
			out[0] = append(out[0], gapSpan{Interval{prevEnd, st}, CauseCollectorDown})
		}
		prevEnd = alive
		if stopped.Valid {
			prevEnd = stopped.Int64
		}
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT site_id, cause, start_ms, end_ms FROM av_gaps ORDER BY start_ms`)
	if err != nil {
		return nil, fmt.Errorf("load monitoring gaps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g gapSpan
		var site int64
		if err := rows.Scan(&site, &g.Cause, &g.Start, &g.End); err != nil {
			return nil, fmt.Errorf("load monitoring gaps: %w", err)
		}
		out[site] = append(out[site], g)
	}
	return out, rows.Err()
}

// RecordGap stores a monitoring gap for a site (0: all sites), e.g. a
// known uplink outage: silence during it is unknown, never down.
func RecordGap(ctx context.Context, db *sql.DB, siteID int64, cause Cause, from, to time.Time) error {
	if !to.After(from) {
		return fmt.Errorf("record monitoring gap: end %s is not after start %s", to, from)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO av_gaps(site_id, cause, start_ms, end_ms) VALUES(?,?,?,?)`, siteID, string(cause), ms(from), ms(to)); err != nil {
		return fmt.Errorf("record monitoring gap: %w", err)
	}
	return nil
}

// encodeSegs serialises an evidence snapshot compactly (varints, deltas).
func encodeSegs(segs []seg) []byte {
	b := make([]byte, 0, 16*len(segs))
	var prev int64
	for _, g := range segs {
		b = binary.AppendVarint(b, g.S-prev)
		b = binary.AppendVarint(b, g.E-g.S)
		var flags uint64
		if g.Fail {
			flags |= 1
		}
		if g.Certain {
			flags |= 2
		}
		b = binary.AppendUvarint(b, flags)
		b = binary.AppendUvarint(b, uint64(len(g.Cause)))
		b = append(b, g.Cause...)
		prev = g.S
	}
	return b
}

func decodeSegs(b []byte) ([]seg, error) {
	var out []seg
	var prev int64
	for len(b) > 0 {
		var g seg
		d, n := binary.Varint(b)
		if n <= 0 {
			return nil, errors.New("corrupt evidence snapshot")
		}
		b = b[n:]
		l, n := binary.Varint(b)
		if n <= 0 {
			return nil, errors.New("corrupt evidence snapshot")
		}
		b = b[n:]
		f, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("corrupt evidence snapshot")
		}
		b = b[n:]
		cl, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < cl {
			return nil, errors.New("corrupt evidence snapshot")
		}
		g.Cause = Cause(b[n : n+int(cl)])
		b = b[n+int(cl):]
		g.S = prev + d
		g.E = g.S + l
		g.Fail, g.Certain = f&1 != 0, f&2 != 0
		prev = g.S
		out = append(out, g)
	}
	return out, nil
}

// encodeTails serialises the last segment (start, end) of each object
// that has evidence: a site's tail row.
func encodeTails(objs []*objState) []byte {
	b := make([]byte, 0, 12*len(objs))
	var prev int64
	for _, st := range objs {
		n := len(st.segs)
		if n == 0 {
			continue
		}
		g := st.segs[n-1]
		b = binary.AppendVarint(b, st.ID-prev)
		b = binary.AppendVarint(b, g.S)
		b = binary.AppendVarint(b, g.E-g.S)
		prev = st.ID
	}
	return b
}

// decodeTails calls f with each (object id, start, end) of a tail row.
func decodeTails(b []byte, f func(id, s, e int64)) error {
	var id int64
	for len(b) > 0 {
		var v [3]int64
		for i := range v {
			x, n := binary.Varint(b)
			if n <= 0 {
				return errors.New("corrupt evidence tail")
			}
			v[i], b = x, b[n:]
		}
		id += v[0]
		f(id, v[1], v[1]+v[2])
	}
	return nil
}

func joinChildren(c []string) string { return strings.Join(c, "\n") }

func splitChildren(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// ListRules returns the calendar, target and criticality assignments.
func ListRules(ctx context.Context, db *sql.DB) ([]Rule, error) { return loadRules(ctx, db) }
