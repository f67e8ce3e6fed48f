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

// TestCheckpointerCopiesWAL: the store's checkpointer copies committed
// points into the database file, long before SQLite's own checkpoint
// would (at 1,000 pages): a copy of the file alone, without its WAL,
// holds them.
func TestCheckpointerCopiesWAL(t *testing.T) {
	old := checkpointEvery
	checkpointEvery = 20 * time.Millisecond
	defer func() { checkpointEvery = old }()
	s, path := openTest(t)
	defer s.Close()
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "cpu,host=h%d usage_idle=%d %d\n", i%50, i, 1_700_000_000+i)
	}
	if err := s.Write(context.Background(), rows(t, b.String())); err != nil {
		t.Fatal(err)
	}
	// The write is far below 1,000 pages: only the checkpointer copies it
	// into the file. Watch a copy of the file alone.
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

// TestWALStartsOverUnderSteadyWrites: with a writer committing back to
// back and the checkpointer beside it, the WAL still starts over, so it
// stays small instead of growing with everything written (a checkpointer
// alone, without SQLite's own checkpoint in the writer's commits, let it
// grow to a gigabyte in the load test).
func TestWALStartsOverUnderSteadyWrites(t *testing.T) {
	old := checkpointEvery
	checkpointEvery = 20 * time.Millisecond
	defer func() { checkpointEvery = old }()
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	maxFrames, restarts, last := 0, 0, 0
	var checkpoints uint64
	for round := 0; checkpoints < 40; round++ {
		var b strings.Builder
		for i := range 500 {
			fmt.Fprintf(&b, "cpu,host=h%d usage_idle=%d %d\n", i, i, 1_700_000_000+round)
		}
		if err := s.Write(ctx, rows(t, b.String())); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.Checkpoints != checkpoints {
			checkpoints = st.Checkpoints
			maxFrames = max(maxFrames, st.WALFrames)
			if st.WALFrames < last {
				restarts++
			}
			last = st.WALFrames
		}
		if round > 100000 {
			t.Fatal("no checkpoints")
		}
	}
	// SQLite's own checkpoint comes at 1,000 pages.
	if restarts == 0 || maxFrames > 2500 {
		t.Fatalf("the WAL started over %d times in 40 checkpoints, largest %d frames; want it to start over, staying near 1,000 frames", restarts, maxFrames)
	}
}
