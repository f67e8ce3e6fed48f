package avserver

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// TestParentSyncSkipsWhenNothingChanged: the minutely parent sync reads
// every device only when a device or its parent changed, also through
// another connection (the CLI), or when the full-sync interval passed.
func TestParentSyncSkipsWhenNothingChanged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir, err := tenancy.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	site, err := dir.EnsureSite(ctx, "Moers", "gs-nord", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sw-core", "ap-1"} {
		if _, _, err := dir.ResolveDevice(ctx, site.ID, n, "switch"); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := availability.Open(ctx, db, availability.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ps := &parentSync{dir: dir, eng: eng}
	now := time.Now()
	step := func(d time.Duration, want int) {
		t.Helper()
		now = now.Add(d)
		if err := ps.run(ctx, now, false); err != nil {
			t.Fatal(err)
		}
		if ps.runs != want {
			t.Fatalf("%d full syncs, want %d", ps.runs, want)
		}
	}
	step(0, 1)           // first run
	step(time.Minute, 1) // nothing changed
	step(time.Minute, 1)

	// The CLI sets a parent through its own connection.
	cli, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	cliDir, err := tenancy.New(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if err := cliDir.SetParent(ctx, site.ID, "ap-1", "sw-core"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	step(time.Minute, 2)
	step(time.Minute, 2)

	// Last-seen updates do not count as a change.
	id, _, _ := dir.ResolveDevice(ctx, site.ID, "ap-1", "switch")
	dir.Seen(id, now)
	if err := dir.FlushAllSeen(ctx); err != nil {
		t.Fatal(err)
	}
	step(time.Minute, 2)

	// A new device does; and after the full-sync interval it runs anyway.
	if _, _, err := dir.ResolveDevice(ctx, site.ID, "prn-1", "printer"); err != nil {
		t.Fatal(err)
	}
	step(time.Minute, 3)
	step(parentFullSync, 4)
}
