package alerting

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
)

// BurnRule is one multi-window burn-rate rule: it fires when the error
// budget burns at least Factor times as fast as the budget allows over both
// the long and the short window. The short window makes the alert stop
// soon after the problem stops.
type BurnRule struct {
	Name     string        `yaml:"name" json:"name"`
	Factor   float64       `yaml:"factor" json:"factor"`
	Long     time.Duration `yaml:"long" json:"long"`
	Short    time.Duration `yaml:"short" json:"short"`
	Severity string        `yaml:"severity" json:"severity"`
}

// DefaultBurnRules are the classic pair for a 30-day budget: 14.4× over
// 1 h and 5 min (2 % of the budget in an hour) and 6× over 6 h and 30 min
// (5 % in six hours).
var DefaultBurnRules = []BurnRule{
	{Name: "fast", Factor: 14.4, Long: time.Hour, Short: 5 * time.Minute, Severity: "critical"},
	{Name: "slow", Factor: 6, Long: 6 * time.Hour, Short: 30 * time.Minute, Severity: "warning"},
}

// Config configures alerting. The zero value is usable.
type Config struct {
	BurnRules   []BurnRule
	MaxAttempts int           // per alert and channel (default 8)
	Backoff     time.Duration // first retry delay, doubled each time (default 2 s)
	MaxBackoff  time.Duration // default 5 min
	Now         func() time.Time
	Logger      *slog.Logger
}

// Source provides burn-rate inputs; *availability.Engine implements it.
type Source interface {
	BurnInputs(ctx context.Context, now time.Time, window time.Duration, also map[int64]bool) []availability.BurnInput
}

// Manager creates alerts and delivers them.
type Manager struct {
	db        *sql.DB
	cfg       Config
	source    Source
	notifiers map[string]Notifier
	names     []string
	wake      chan struct{}
	mu        sync.Mutex // serialises Evaluate
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS al_alerts (
		key TEXT PRIMARY KEY,
		object_id INTEGER NOT NULL,
		kind TEXT NOT NULL,
		payload TEXT NOT NULL,
		created_ms INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS al_deliveries (
		key TEXT NOT NULL,
		notifier TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		next_ms INTEGER NOT NULL,
		state TEXT NOT NULL DEFAULT 'pending',
		last_error TEXT NOT NULL DEFAULT '',
		PRIMARY KEY(key, notifier))`,
	`CREATE INDEX IF NOT EXISTS al_deliveries_due ON al_deliveries(state, next_ms)`,
	`CREATE TABLE IF NOT EXISTS al_burn (
		object_id INTEGER NOT NULL,
		rule TEXT NOT NULL,
		since_ms INTEGER NOT NULL,
		PRIMARY KEY(object_id, rule))`,
}

// Migrate creates the alerting tables.
func Migrate(ctx context.Context, db *sql.DB) error {
	for _, s := range schema {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("alerting: migrate: %w", err)
		}
	}
	return nil
}

// New creates the tables and a manager. source may be nil (no burn-rate
// alerts); notifiers may be added later with AddNotifier.
func New(ctx context.Context, db *sql.DB, cfg Config, source Source, notifiers ...Notifier) (*Manager, error) {
	if err := Migrate(ctx, db); err != nil {
		return nil, err
	}
	if cfg.BurnRules == nil {
		cfg.BurnRules = DefaultBurnRules
	}
	for _, r := range cfg.BurnRules {
		if r.Factor <= 0 || r.Long <= 0 || r.Short <= 0 || r.Short > r.Long {
			return nil, fmt.Errorf("alerting: burn rule %q: want factor > 0 and 0 < short ≤ long windows", r.Name)
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager{db: db, cfg: cfg, source: source, notifiers: map[string]Notifier{}, wake: make(chan struct{}, 1)}
	for _, n := range notifiers {
		if err := m.AddNotifier(n); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// AddNotifier adds a channel. Alerts created from now on go to it.
func (m *Manager) AddNotifier(n Notifier) error {
	if _, dup := m.notifiers[n.Name()]; dup {
		return fmt.Errorf("alerting: two channels named %q: give each a unique name", n.Name())
	}
	m.notifiers[n.Name()] = n
	m.names = append(m.names, n.Name())
	return nil
}

// enqueue stores an alert once; it reports false if the key was seen
// before (a duplicate).
func (m *Manager) enqueue(ctx context.Context, a Alert) (bool, error) {
	n, err := m.enqueueAll(ctx, []Alert{a})
	return n == 1, err
}

// enqueueAll stores alerts (each once) with their deliveries in one
// transaction and returns how many were new. The availability engine hands
// over the events of one merged write at a time; a transaction per alert
// made the engine wait for one commit per event, and after a school's
// uplink failure there are dozens.
func (m *Manager) enqueueAll(ctx context.Context, alerts []Alert) (int, error) {
	return m.enqueueWith(ctx, alerts, nil)
}

// enqueueWith is enqueueAll with more statements (extra) in the same
// transaction.
func (m *Manager) enqueueWith(ctx context.Context, alerts []Alert, extra func(*sql.Tx) error) (int, error) {
	if len(alerts) == 0 && extra == nil {
		return 0, nil
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("alerting: store %d alerts: %w", len(alerts), err)
	}
	defer tx.Rollback()
	if extra != nil {
		if err := extra(tx); err != nil {
			return 0, err
		}
	}
	now := m.cfg.Now().UnixMilli()
	added := 0
	for _, a := range alerts {
		payload, err := json.Marshal(a)
		if err != nil {
			return 0, fmt.Errorf("alerting: encode %s: %w", a.Key, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO al_alerts(key, object_id, kind, payload, created_ms) VALUES(?,?,?,?,?) ON CONFLICT(key) DO NOTHING`,
			a.Key, a.ObjectID, a.Kind, string(payload), now)
		if err != nil {
			return 0, fmt.Errorf("alerting: store %s: %w", a.Key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // a duplicate
		}
		added++
		for _, name := range m.names {
			if _, err := tx.ExecContext(ctx, `INSERT INTO al_deliveries(key, notifier, next_ms) VALUES(?,?,?)`, a.Key, name, now); err != nil {
				return 0, fmt.Errorf("alerting: queue %s: %w", a.Key, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("alerting: store %d alerts: %w", len(alerts), err)
	}
	if added > 0 {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
	return added, nil
}

func (m *Manager) sent(ctx context.Context, key string) bool {
	var n int
	err := m.db.QueryRowContext(ctx, `SELECT 1 FROM al_alerts WHERE key=?`, key).Scan(&n)
	return err == nil
}

func objectAlert(o availability.Object) Alert {
	return Alert{Municipality: o.Municipality, Site: o.Site, Device: o.Device, Class: o.Class, Check: o.Check, Object: o.Name(), ObjectID: o.ID}
}

// HandleEvents implements availability.EventHandler.
// The alerts of all events are stored in one transaction.
func (m *Manager) HandleEvents(ctx context.Context, events []availability.Event) {
	var alerts []Alert
	keys := map[string]bool{} // alerts of this call, for a recovery in the same call
	for _, ev := range events {
		if a, ok := m.alertFor(ctx, ev, keys); ok {
			alerts = append(alerts, a)
			keys[a.Key] = true
		}
	}
	if _, err := m.enqueueAll(ctx, alerts); err != nil {
		m.cfg.Logger.Error("alerting: store alerts of availability events", "alerts", len(alerts), "err", err)
	}
}

// alertFor returns the alert an event raises, if any; pending holds the
// keys of alerts about to be stored with it.
func (m *Manager) alertFor(ctx context.Context, ev availability.Event, pending map[string]bool) (Alert, bool) {
	downKey := fmt.Sprintf("down:%d", ev.Span.ID)
	a := objectAlert(ev.Object)
	a.Cause, a.Start, a.At = string(ev.Span.Cause), time.UnixMilli(ev.Span.Start).UTC(), ev.At
	a.AffectedChildren = ev.Span.Children
	if ev.Span.End != 0 {
		end := time.UnixMilli(ev.Span.End).UTC()
		a.End = &end
		a.DurationSeconds = end.Sub(a.Start).Seconds()
	}
	switch ev.Kind {
	case availability.EventDown:
		if ev.Maintenance || ev.Unreachable {
			m.cfg.Logger.Debug("alerting: down not alerted", "object", ev.Object.Name(), "maintenance", ev.Maintenance, "unreachable", ev.Unreachable)
			return Alert{}, false
		}
		a.Key, a.Kind, a.Status = downKey, KindDeviceDown, StatusFiring
		a.Severity = "warning"
		if ev.Object.Critical {
			a.Severity = "critical"
		}
		a.Summary = fmt.Sprintf("%s is down since %s (%s)", ev.Object.Name(), a.Start.Format(time.RFC3339), ev.Span.Cause)
		if n := len(a.AffectedChildren); n > 0 {
			a.Summary += fmt.Sprintf("; %d dependent objects unreachable", n)
		}
	case availability.EventRecovered, availability.EventRevoked:
		if !pending[downKey] && !m.sent(ctx, downKey) {
			return Alert{}, false // nothing was alerted, so nothing to resolve
		}
		a.Status, a.Severity = StatusResolved, "info"
		if ev.Kind == availability.EventRecovered {
			a.Key, a.Kind = fmt.Sprintf("recovered:%d", ev.Span.ID), KindDeviceRecovered
			a.Summary = fmt.Sprintf("%s recovered after %s", ev.Object.Name(), time.Duration(a.DurationSeconds*float64(time.Second)).Round(time.Second))
		} else {
			a.Key, a.Kind = fmt.Sprintf("revoked:%d", ev.Span.ID), KindOutageRevoked
			a.Summary = fmt.Sprintf("%s was up after all: data replayed by its agent covers the suspected outage", ev.Object.Name())
		}
	default:
		return Alert{}, false
	}
	return a, true
}

// rate is the burn rate over the last window: the share of service time
// that was down, divided by the share the target allows.
func rate(in availability.BurnInput, window time.Duration) float64 {
	to := in.Now.UnixMilli()
	from := to - window.Milliseconds()
	svc := in.Service.Clip(from, to).Total()
	if svc == 0 {
		return 0
	}
	down := in.Down.Clip(from, to).Total()
	allowed := float64(1_000_000-int64(in.Target)) / 1e6
	if allowed <= 0 {
		if down > 0 {
			return float64(1 << 30)
		}
		return 0
	}
	return float64(down) / float64(svc) / allowed
}

// Evaluate checks the burn-rate rules at now and fires or resolves
// alerts. The collector calls it every tick, after the engine's Tick.
func (m *Manager) Evaluate(ctx context.Context, now time.Time) error {
	if m.source == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	firing := map[int64]map[string]int64{}
	rows, err := m.db.QueryContext(ctx, `SELECT object_id, rule, since_ms FROM al_burn`)
	if err != nil {
		return fmt.Errorf("alerting: load burn state: %w", err)
	}
	for rows.Next() {
		var id, since int64
		var rule string
		if err := rows.Scan(&id, &rule, &since); err != nil {
			rows.Close()
			return fmt.Errorf("alerting: load burn state: %w", err)
		}
		if firing[id] == nil {
			firing[id] = map[string]int64{}
		}
		firing[id][rule] = since
	}
	rows.Close()
	var longest time.Duration
	for _, r := range m.cfg.BurnRules {
		longest = max(longest, r.Long)
	}
	also := make(map[int64]bool, len(firing))
	for id := range firing {
		also[id] = true
	}
	// All changes of a tick in one transaction: when a district's uplink
	// fails, hundreds of objects start burning at once.
	type burnChange struct {
		id   int64
		rule string
		on   bool
	}
	var changes []burnChange
	var alerts []Alert
	for _, in := range m.source.BurnInputs(ctx, now, longest, also) {
		for _, r := range m.cfg.BurnRules {
			long, short := rate(in, r.Long), rate(in, r.Short)
			on := long >= r.Factor && short >= r.Factor && !in.InMaintenance
			since, was := firing[in.Object.ID][r.Name]
			if on == was {
				continue
			}
			a := objectAlert(in.Object)
			a.At = now
			a.BurnRate = &BurnRate{Rule: r.Name, Factor: r.Factor, LongWindow: r.Long.String(), ShortWindow: r.Short.String(),
				LongRate: round3(long), ShortRate: round3(short), TargetPercent: in.Target.Percent(), BudgetPeriod: "30d"}
			if on {
				a.Key = fmt.Sprintf("burn:%d:%s:%d", in.Object.ID, r.Name, now.UnixMilli())
				a.Kind, a.Status, a.Severity, a.Start = KindBurnRate, StatusFiring, r.Severity, now
				a.Summary = fmt.Sprintf("%s burns its error budget %.1f× too fast (%s: %.1f×, %s: %.1f×; target %s %%)",
					in.Object.Name(), r.Factor, r.Long, long, r.Short, short, in.Target.Percent())
			} else {
				a.Key = fmt.Sprintf("burn-resolved:%d:%s:%d", in.Object.ID, r.Name, since)
				a.Kind, a.Status, a.Severity, a.Start = KindBurnRateResolved, StatusResolved, "info", time.UnixMilli(since).UTC()
				a.Summary = fmt.Sprintf("%s: error budget burn rate back below %.1f×", in.Object.Name(), r.Factor)
			}
			changes = append(changes, burnChange{in.Object.ID, r.Name, on})
			alerts = append(alerts, a)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err = m.enqueueWith(ctx, alerts, func(tx *sql.Tx) error {
		for _, c := range changes {
			var err error
			if c.on {
				_, err = tx.ExecContext(ctx, `INSERT INTO al_burn(object_id, rule, since_ms) VALUES(?,?,?)`, c.id, c.rule, now.UnixMilli())
			} else {
				_, err = tx.ExecContext(ctx, `DELETE FROM al_burn WHERE object_id=? AND rule=?`, c.id, c.rule)
			}
			if err != nil {
				return fmt.Errorf("alerting: store burn state: %w", err)
			}
		}
		return nil
	})
	return err
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// Run delivers queued alerts until ctx ends, retrying failed deliveries
// with exponential back-off. Deliveries survive restarts (they are rows).
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if _, err := m.Deliver(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Error("alerting: deliver", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.wake:
		}
	}
}

// Deliver makes one pass over the due deliveries and returns how many
// succeeded.
func (m *Manager) Deliver(ctx context.Context) (int, error) {
	now := m.cfg.Now()
	rows, err := m.db.QueryContext(ctx, `SELECT d.key, d.notifier, d.attempts, a.payload FROM al_deliveries d JOIN al_alerts a ON a.key=d.key
		WHERE d.state='pending' AND d.next_ms<=? ORDER BY d.next_ms, d.rowid LIMIT 200`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("alerting: load deliveries: %w", err)
	}
	type due struct {
		key, notifier, payload string
		attempts               int
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.key, &d.notifier, &d.attempts, &d.payload); err != nil {
			rows.Close()
			return 0, fmt.Errorf("alerting: load deliveries: %w", err)
		}
		list = append(list, d)
	}
	rows.Close()
	ok := 0
	for _, d := range list {
		n := m.notifiers[d.notifier]
		state, next, msg := "sent", int64(0), ""
		var a Alert
		if n == nil {
			state, msg = "failed", "channel no longer configured"
		} else if err := json.Unmarshal([]byte(d.payload), &a); err != nil {
			state, msg = "failed", err.Error()
		} else if err := n.Notify(ctx, a); err != nil {
			msg = err.Error()
			var perm *PermanentError
			switch {
			case errors.As(err, &perm) || d.attempts+1 >= m.cfg.MaxAttempts:
				state = "failed"
				m.cfg.Logger.Error("alerting: giving up on delivery", "alert", d.key, "channel", d.notifier, "attempts", d.attempts+1, "err", err)
			default:
				state = "pending"
				back := m.cfg.Backoff << d.attempts
				if back <= 0 || back > m.cfg.MaxBackoff {
					back = m.cfg.MaxBackoff
				}
				next = m.cfg.Now().Add(back).UnixMilli()
				m.cfg.Logger.Warn("alerting: delivery failed, will retry", "alert", d.key, "channel", d.notifier, "in", back, "err", err)
			}
		} else {
			ok++
		}
		if _, err := m.db.ExecContext(ctx, `UPDATE al_deliveries SET attempts=attempts+1, state=?, next_ms=?, last_error=? WHERE key=? AND notifier=?`,
			state, next, truncate(msg, 500), d.key, d.notifier); err != nil {
			return ok, fmt.Errorf("alerting: update delivery: %w", err)
		}
	}
	return ok, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Delivery is the state of one alert on one channel.
type Delivery struct {
	Key       string `json:"key"`
	Channel   string `json:"channel"`
	State     string `json:"state"` // pending, sent, failed
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	Alert     Alert  `json:"alert"`
}

// Recent lists the latest alerts with their delivery state, newest first.
func (m *Manager) Recent(ctx context.Context, limit int) ([]Delivery, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT d.key, d.notifier, d.state, d.attempts, d.last_error, a.payload FROM al_deliveries d JOIN al_alerts a ON a.key=d.key
		ORDER BY a.created_ms DESC, d.key LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("alerting: list alerts: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var payload string
		if err := rows.Scan(&d.Key, &d.Channel, &d.State, &d.Attempts, &d.LastError, &payload); err != nil {
			return nil, fmt.Errorf("alerting: list alerts: %w", err)
		}
		if err := json.Unmarshal([]byte(payload), &d.Alert); err != nil {
			return nil, fmt.Errorf("alerting: list alerts: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
