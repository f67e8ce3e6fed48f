package tenancy

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// newTestDirectory opens a directory in a fresh database file (path) with
// one site, gs-1.
func newTestDirectory(tb testing.TB) (d *Directory, db *sql.DB, site Site, path string) {
	tb.Helper()
	ctx := context.Background()
	path = filepath.Join(tb.TempDir(), "meta.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if d, err = New(ctx, db); err != nil {
		tb.Fatal(err)
	}
	if site, err = d.EnsureSite(ctx, "Kommune", "gs-1", ""); err != nil {
		tb.Fatal(err)
	}
	return d, db, site, path
}
