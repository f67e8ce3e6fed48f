package sqlite

import (
	"math/rand"
	"os"
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
