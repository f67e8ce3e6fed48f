package sqlitedb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// SQLite runs one writer at a time. Between connections of one process it
// arbitrates with its busy handler, which sleeps and polls (1 ms growing to
// 100 ms): under load the writers of the metadata database (device
// registration, availability, inventory, last-seen) slept most of the
// time, starved each other into "database is locked" and left the CPU idle.
// A gate per database file in front of every write hands the lock from
// one writer to the next without sleeping, in arrival order. SQLite's own
// locking still guards against other processes (the CLI).
type gate struct{ ch chan struct{} }

var (
	gatesMu sync.Mutex
	gates   = map[string]*gate{}
)

// gateFor returns the gate of the database file at path.
func gateFor(path string) *gate {
	gatesMu.Lock()
	defer gatesMu.Unlock()
	g := gates[path]
	if g == nil {
		g = &gate{ch: make(chan struct{}, 1)}
		gates[path] = g
	}
	return g
}

// busyWait is how long a writer waits for the gate, as SQLite's
// busy_timeout does for the file lock.
var busyWait = 10 * time.Second

func (g *gate) acquire(ctx context.Context) error {
	select {
	case g.ch <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(busyWait)
	defer t.Stop()
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("database is locked: waited %s for another write transaction of this process to finish", busyWait)
	}
}

func (g *gate) release() { <-g.ch }

// gatedConnector opens modernc connections that pass writes through the gate.
type gatedConnector struct {
	inner driver.Connector
	gate  *gate
}

func newGatedConnector(dsn, path string) (*gatedConnector, error) {
	inner, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &gatedConnector{inner: inner, gate: gateFor(path)}, nil
}

func (c *gatedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := cn.(sqliteConn)
	if !ok {
		cn.Close()
		return nil, fmt.Errorf("sqlite connection %T lacks a method database/sql needs", cn)
	}
	return &gatedConn{conn: sc, gate: c.gate}, nil
}

func (c *gatedConnector) Driver() driver.Driver { return c.inner.Driver() }

// sqliteConn is what database/sql uses of a modernc connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// gatedConn holds the gate for a whole read-write transaction, and for
// single writing statements outside one. database/sql uses a connection
// from one goroutine at a time, so inTx needs no lock.
type gatedConn struct {
	conn sqliteConn
	gate *gate
	inTx bool
}

func (c *gatedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *gatedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ss, ok := st.(sqliteStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("sqlite statement %T lacks a method database/sql needs", st)
	}
	return &gatedStmt{stmt: ss, c: c, writes: isWrite(query)}, nil
}

func (c *gatedConn) Close() error { return c.conn.Close() }

func (c *gatedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	held := !opts.ReadOnly
	if held {
		if err := c.gate.acquire(ctx); err != nil {
			return nil, fmt.Errorf("begin transaction: %w", err)
		}
	}
	tx, err := c.conn.BeginTx(ctx, opts)
	if err != nil {
		if held {
			c.gate.release()
		}
		return nil, err
	}
	c.inTx = true
	return &gatedTx{tx: tx, c: c, held: held}, nil
}

// lock takes the gate for one statement outside a transaction; the
// returned func releases it.
func (c *gatedConn) lock(ctx context.Context, writes bool) (func(), error) {
	if c.inTx || !writes {
		return func() {}, nil
	}
	if err := c.gate.acquire(ctx); err != nil {
		return nil, err
	}
	return c.gate.release, nil
}

func (c *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	unlock, err := c.lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return c.conn.ExecContext(ctx, query, args)
}

func (c *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	unlock, err := c.lock(ctx, isWrite(query))
	if err != nil {
		return nil, err
	}
	rows, err := c.conn.QueryContext(ctx, query, args)
	if err != nil {
		unlock()
		return nil, err
	}
	if c.inTx || !isWrite(query) {
		return rows, nil
	}
	return &gatedRows{Rows: rows, unlock: unlock}, nil
}

func (c *gatedConn) Ping(ctx context.Context) error         { return c.conn.Ping(ctx) }
func (c *gatedConn) ResetSession(ctx context.Context) error { return c.conn.ResetSession(ctx) }
func (c *gatedConn) IsValid() bool                          { return c.conn.IsValid() }

type gatedTx struct {
	tx   driver.Tx
	c    *gatedConn
	held bool
}

func (t *gatedTx) Commit() error   { return t.end(t.tx.Commit) }
func (t *gatedTx) Rollback() error { return t.end(t.tx.Rollback) }

func (t *gatedTx) end(fn func() error) error {
	err := fn()
	t.c.inTx = false
	if t.held {
		t.held = false
		t.c.gate.release()
	}
	return err
}

// gatedRows keeps the gate until a writing query's rows (RETURNING) are closed.
type gatedRows struct {
	driver.Rows
	unlock func()
	once   sync.Once
}

func (r *gatedRows) Close() error {
	defer r.once.Do(r.unlock)
	return r.Rows.Close()
}

type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type gatedStmt struct {
	stmt   sqliteStmt
	c      *gatedConn
	writes bool
}

func (s *gatedStmt) Close() error  { return s.stmt.Close() }
func (s *gatedStmt) NumInput() int { return s.stmt.NumInput() }

// Exec and Query are the pre-context API; database/sql calls the
// context variants below.
func (s *gatedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, driver.ErrSkip
}

func (s *gatedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, driver.ErrSkip
}

func (s *gatedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	unlock, err := s.c.lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.stmt.ExecContext(ctx, args)
}

func (s *gatedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	unlock, err := s.c.lock(ctx, s.writes)
	if err != nil {
		return nil, err
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		unlock()
		return nil, err
	}
	if s.c.inTx || !s.writes {
		return rows, nil
	}
	return &gatedRows{Rows: rows, unlock: unlock}, nil
}

// isWrite reports whether a statement run as a query may write (INSERT …
// RETURNING and the like); plain reads never take the gate.
func isWrite(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	i := strings.IndexAny(q, " \t\r\n(")
	if i < 0 {
		i = len(q)
	}
	switch strings.ToUpper(q[:i]) {
	case "SELECT", "EXPLAIN", "VALUES":
		return false
	case "PRAGMA":
		// PRAGMA x = y writes; PRAGMA x reads. A passive checkpoint runs
		// beside the writer (SQLite's own checkpointer lock); the others
		// wait for writers and go through the gate.
		l := strings.ToLower(q)
		if strings.Contains(l, "wal_checkpoint") {
			return strings.Contains(l, "(") && !strings.Contains(l, "passive")
		}
		return strings.Contains(q, "=")
	case "WITH":
		u := strings.ToUpper(q)
		return strings.Contains(u, "INSERT") || strings.Contains(u, "UPDATE") || strings.Contains(u, "DELETE")
	}
	return true
}
