package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestCheckpointerCopiesWAL: with SQLite's automatic checkpoints off, the
// store's own checkpointer copies committed points into the database
// file: a copy of the file alone, without its WAL, holds them.
func TestCheckpointerCopiesWAL(t *testing.T) {
	old := checkpointEvery
	checkpointEvery = 20 * time.Millisecond
	defer func() { checkpointEvery = old }()
	s, path := openTest(t)
	defer s.Close()
	var auto int
	if err := s.db.QueryRowContext(context.Background(), `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint %d, %v; want 0 (the checkpointer's job)", auto, err)
	}
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "cpu,host=h%d usage_idle=%d %d\n", i%50, i, 1_700_000_000+i)
	}
	if err := s.Write(context.Background(), rows(t, b.String())); err != nil {
		t.Fatal(err)
	}
	// Only the checkpointer copies pages into the file: watch a copy of
	// the file alone (what is only in the WAL is not in it).
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := pointsInFile(t, path)
		if err == nil && n == 2000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("points in the database file: %d, %v; want 2000 (checkpoints %d)", n, err, s.Stats().Checkpoints)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pointsInFile counts the points in a copy of the database file at path,
// without its WAL.
func pointsInFile(t *testing.T, path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite", "file:"+cp+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(*) FROM points`).Scan(&n)
	return n, err
}
