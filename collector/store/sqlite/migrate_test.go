package sqlite

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// TestMigrateRollupsToBucketKey: a store written before version 3 (rollups
// keyed by series) keeps its rollups when it is opened again, now keyed by
// bucket.
func TestMigrateRollupsToBucketKey(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	if err := s.Write(ctx, rows(t, "cpu,cpu=0 v=1 0\ncpu,cpu=1 v=2 0\ncpu,cpu=0 v=3 100\ncpu,cpu=0 v=10 300\ncpu,cpu=1 v=4 400")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(600, 0)); err != nil {
		t.Fatal(err)
	}
	want, err := s.Query(ctx, q("v", 0, 600, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 {
		t.Fatalf("before the migration: %+v", want)
	}
	s.Close()

	// Turn the file back into version 2.
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE rollups_v2(series_id INTEGER NOT NULL, field TEXT NOT NULL, bucket INTEGER NOT NULL,
			count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
			PRIMARY KEY(series_id, field, bucket)) WITHOUT ROWID`,
		`INSERT INTO rollups_v2 SELECT series_id, field, bucket, count, sum, min, max FROM rollups`,
		`DROP TABLE rollups`,
		`ALTER TABLE rollups_v2 RENAME TO rollups`,
		`CREATE INDEX rollups_bucket ON rollups(bucket)`,
		`DELETE FROM schema_migrations WHERE component='points' AND version=3`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()

	s, err = Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Query(ctx, q("v", 0, 600, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rollups after the migration:\n got %+v\nwant %+v", got, want)
	}
	var first string
	if err := s.DB().QueryRow(`SELECT name FROM pragma_table_info('rollups') WHERE pk = 1`).Scan(&first); err != nil || first != "bucket" {
		t.Errorf("rollups key starts with %q (%v), want bucket", first, err)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'rollups_bucket'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("index rollups_bucket still there (%d, %v); the key serves retention now", n, err)
	}
}

// TestRollupLogsEachBucket: each bucket rolled up is logged with its rows
// and how long the longest of its transactions held the file, which is
// what the point writer waited for.
func TestRollupLogsEachBucket(t *testing.T) {
	var logged bytes.Buffer
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "points.db"), Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Write(ctx, rows(t, "cpu,cpu=0 v=1,w=2 0\ncpu,cpu=1 v=2 10\ncpu,cpu=0 v=3 300")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(600, 0)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`msg="rolled up bucket" bucket=1970-01-01T00:00:00.000Z from=memory rows=3 transactions=1 took=`,
		`msg="rolled up bucket" bucket=1970-01-01T00:05:00.000Z from=memory rows=1 transactions=1 took=`,
		"longest_transaction=",
	} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logged.String())
		}
	}
}
