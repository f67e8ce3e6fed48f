package availability

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) HandleEvents(_ context.Context, ev []Event) {
	r.mu.Lock()
	r.events = append(r.events, ev...)
	r.mu.Unlock()
}

func (r *recorder) kinds(device string) []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, e := range r.events {
		if e.Object.Device == device {
			out = append(out, e.Kind)
		}
	}
	return out
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

// addObject inserts an object directly (report tests do not need the
// engine).
func addObject(t testing.TB, db *sql.DB, o Object) int64 {
	t.Helper()
	err := db.QueryRow(`INSERT INTO av_objects(municipality_id, site_id, device_id, municipality, site, device, class, check_name, parent_id, critical, heartbeat, first_seen_ms)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`, o.MunicipalityID, o.SiteID, o.DeviceID, o.Municipality, o.Site, o.Device, o.Class, o.Check, o.ParentID, o.Critical, o.Heartbeat, o.FirstSeen).Scan(&o.ID)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func addSpan(t testing.TB, db *sql.DB, obj int64, state State, from, to time.Time) {
	t.Helper()
	var end any
	if !to.IsZero() {
		end = ms(to)
	}
	if _, err := db.Exec(`INSERT INTO av_spans(object_id, site_id, state, cause, start_ms, end_ms) VALUES(?,?,?,?,?,?)`, obj, 1, state, "test", ms(from), end); err != nil {
		t.Fatal(err)
	}
}

func report(t testing.TB, db *sql.DB, q Query) *Report {
	t.Helper()
	if q.Now.IsZero() {
		q.Now = mustTime(t, "2030-01-01T00:00:00Z")
	}
	r, err := BuildReport(context.Background(), db, q)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
