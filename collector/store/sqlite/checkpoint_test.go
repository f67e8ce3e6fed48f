package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCheckpointerBoundsWAL: commits never copy the WAL into the database
// file themselves (no automatic checkpoint), the checkpointer does, so
// the WAL stays near what a checkpoint interval writes instead of growing
// with everything written.
func TestCheckpointerBoundsWAL(t *testing.T) {
	old := checkpointEvery
	checkpointEvery = 20 * time.Millisecond
	defer func() { checkpointEvery = old }()
	s, path := openTest(t)
	rng := rand.New(rand.NewSource(1))
	walMax := int64(0)
	const batches = 60
	for b := 0; b < batches; b++ {
		var body strings.Builder
		for i := 0; i < 1000; i++ {
			body.WriteString(mixLine(rng, b*1000+i, int64(b)*1e9))
		}
		writeLines(t, s, body.String())
		time.Sleep(2 * checkpointEvery)
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		walMax = max(walMax, fi.Size())
	}
	db, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("database %d bytes, WAL at most %d bytes; last checkpoint %d of %d pages", db.Size(), walMax, st.WALCheckpointed, st.WALFrames)
	// Each batch is some 40 pages of new series and points; the WAL
	// restarts after a checkpoint copied it whole.
	if walMax > db.Size()/4 {
		t.Fatalf("WAL grew to %d bytes for a database of %d: not checkpointed", walMax, db.Size())
	}
	if st.WALFrames == 0 || st.WALCheckpointed != st.WALFrames {
		t.Fatalf("last checkpoint copied %d of %d pages, want all of some", st.WALCheckpointed, st.WALFrames)
	}
}

// TestRollupCommitsDoNotWaitForDisk: rollup transactions (derived rows)
// run with synchronous=NORMAL, and the write connection is back to FULL
// for the points after them, also after a rollup cut short.
func TestRollupCommitsDoNotWaitForDisk(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	sync := func() int {
		t.Helper()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		var v int
		if err := s.wconn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	b := 9100 * stepNS
	var body strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&body, "cpu,host=h%d v=%d %d\n", i, i, b+int64(i)*1e9)
	}
	writeLines(t, s, body.String())
	if got := sync(); got != 2 {
		t.Fatalf("point writes with synchronous=%d, want 2 (FULL)", got)
	}
	var during []int
	defer func(rows int) { rollupTxRows, afterRollupTx = rows, nil }(rollupTxRows)
	rollupTxRows = 5
	afterRollupTx = func(tx *sql.Tx) {
		var v int
		if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&v); err != nil {
			t.Error(err)
		}
		during = append(during, v)
	}
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	if len(during) != 4 || slices.ContainsFunc(during, func(v int) bool { return v != 1 }) {
		t.Fatalf("rollup transactions with synchronous %v, want 4 with 1 (NORMAL)", during)
	}
	if got := sync(); got != 2 {
		t.Fatalf("point writes after a rollup with synchronous=%d, want 2 (FULL)", got)
	}
}
