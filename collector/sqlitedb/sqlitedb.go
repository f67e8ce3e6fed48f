// Package sqlitedb opens the collector's embedded SQLite databases (pure Go,
// modernc.org/sqlite) with the settings every user of them relies on: WAL,
// a busy timeout, foreign keys and full fsync on commit, so that a
// committed transaction survives a crash or power loss.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
)

// Option changes a setting of Open.
type Option func(*settings)

type settings struct {
	pageSize int
	pragmas  []string
}

// Pragma adds a pragma for every connection, as "name(value)".
func Pragma(p string) Option { return func(s *settings) { s.pragmas = append(s.pragmas, p) } }

// PageSize sets the page size of a database Open creates; an existing
// one keeps its own. Larger pages suit a table that only grows at its end
// (fewer B-tree splits and WAL frames per row).
func PageSize(bytes int) Option { return func(s *settings) { s.pageSize = bytes } }

// Open opens (creating if needed) the SQLite database at path.
func Open(ctx context.Context, path string, opts ...Option) (*sql.DB, error) {
	var set settings
	for _, o := range opts {
		o(&set)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create directory for %s: %w", path, err)
	}
	if set.pageSize > 0 {
		if err := create(ctx, path, set.pageSize); err != nil {
			return nil, err
		}
	}
	q := url.Values{}
	for _, p := range append([]string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)", "cache_size(-65536)"}, set.pragmas...) {
		q.Add("_pragma", p)
	}
	// Write transactions take the write lock at BEGIN: one that read first
	// and wrote later could otherwise fail at once (SQLITE_BUSY_SNAPSHOT)
	// when another process (the CLI) wrote in between.
	q.Set("_txlock", "immediate")
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	conn, err := newGatedConnector("file:"+path+"?"+q.Encode(), abs)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := sql.OpenDB(conn)
	// Opening a SQLite connection is expensive (caches, a global lock);
	// unbounded, database/sql opens one per concurrent query and keeps
	// only two, which under load costs more than the queries (measured at
	// 10,000 simulated agents: 30× more writes accepted with a bounded,
	// kept pool). SQLite runs one writer at a time anyway; 32 leaves room
	// for nested queries.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// create makes a new database file with the given page size. It is a step
// of its own because the driver sorts the DSN's pragmas, and journal_mode
// (which writes a new file's header, page size included) sorts first.
func create(ctx context.Context, path string, pageSize int) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or for Open to report
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("page_size(%d)", pageSize))
	c, err := sqlite.NewConnector("file:" + path + "?" + q.Encode())
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return db.Close()
}

// Migration is one schema step; steps run in order, once each.
type Migration struct {
	Version int
	SQL     string
}

// Migrate applies the migrations of one component, recorded under name in
// the schema_migrations table, so that several packages can each own
// their tables in one database.
func Migrate(ctx context.Context, db *sql.DB, name string, steps []Migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations(component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY(component, version))`); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	for _, m := range steps {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE component=? AND version=?`, name, m.Version).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if n > 0 {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s to version %d: %w", name, m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s to version %d: %w", name, m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(component, version) VALUES(?, ?)`, name, m.Version); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s to version %d: %w", name, m.Version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s to version %d: %w", name, m.Version, err)
		}
	}
	return nil
}
