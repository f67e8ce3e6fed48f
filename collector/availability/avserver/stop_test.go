package avserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// TestShutdownRecordsStop: a graceful shutdown records when the collector
// stopped, so that the time until the next start is a monitoring gap from
// that moment (unknown, never downtime).
func TestShutdownRecordsStop(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := avserver.Attach(ctx, srv, cfg.Availability); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	db, err := sqlitedb.Open(context.Background(), server.MetaDBPath(cfg.DataDir))
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
