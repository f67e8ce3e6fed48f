package avserver_test

import (
	"context"
	"testing"

	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// TestShutdownRecordsStop: a graceful shutdown records when the collector
// stopped, so that the time until the next start is a monitoring gap from
// that moment (unknown, never downtime).
func TestShutdownRecordsStop(t *testing.T) {
	srv, _, stop := startCollector(t)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	db, err := sqlitedb.Open(context.Background(), server.MetaDBPath(srv.Config.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var runs, stopped int
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(stopped_ms) FROM av_runs`).Scan(&runs, &stopped); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || stopped != 1 {
		t.Fatalf("%d runs, %d with a stop time; want 1 and 1", runs, stopped)
	}
}
