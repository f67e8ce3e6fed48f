package sqlitedb

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestPageSizeForNewFilesOnly: PageSize sets the page size of a file Open
// creates, in WAL mode as every other file; a file that exists keeps its
// page size and its data.
func TestPageSizeForNewFilesOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pragmas := func(path string, opts ...Option) (pageSize int, mode string) {
		t.Helper()
		db, err := Open(ctx, path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS t(x)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES(1)`); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		return pageSize, mode
	}

	fresh := filepath.Join(dir, "new.db")
	if ps, mode := pragmas(fresh, PageSize(16384)); ps != 16384 || mode != "wal" {
		t.Fatalf("new file: page size %d, journal %s; want 16384, wal", ps, mode)
	}
	old := filepath.Join(dir, "old.db")
	if ps, _ := pragmas(old); ps != 4096 {
		t.Fatalf("default page size %d, want 4096", ps)
	}
	if ps, mode := pragmas(old, PageSize(16384)); ps != 4096 || mode != "wal" {
		t.Fatalf("existing file reopened: page size %d, journal %s; want 4096, wal", ps, mode)
	}
	db, err := Open(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows in the existing file: %d, %v; want 2", n, err)
	}
}

// TestPragmaOnEveryConnection: a Pragma option holds on every pooled
// connection, not only the first.
func TestPragmaOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Pragma("temp_store(MEMORY)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var conns []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var v int
		if err := c.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&v); err != nil || v != 2 {
			t.Fatalf("connection %d: temp_store %d, %v; want 2 (memory)", i, v, err)
		}
		c.Close()
	}
}
