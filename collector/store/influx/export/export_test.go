package export_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/store/influx/export"
	"github.com/schulmon/schulmon/collector/store/influx/influxtest"
	"github.com/schulmon/schulmon/collector/tenancy"
)

func TestMain(m *testing.M) {
	code := m.Run()
	influxtest.StopShared()
	os.Exit(code)
}

// TestExportThroughCollector runs a collector with the InfluxDB backend
// and the availability engine, lets an agent send heartbeats, runs the
// export job and reads the exported measurements back from InfluxDB.
func TestExportThroughCollector(t *testing.T) {
	idb := influxtest.Shared(t)
	bucket := idb.NewDatabase(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Storage.Backend = "influxdb"
	cfg.Storage.InfluxDB.URL = idb.URL
	cfg.Storage.InfluxDB.Bucket = bucket
	cfg.Storage.InfluxDB.Token = influxtest.Token
	cfg.Limits.TokenRequestsPerSecond, cfg.Limits.TokenPointsPerSecond = -1, -1
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	att, err := avserver.Attach(ctx, srv, cfg.Availability)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := export.Attach(ctx, srv, att, cfg)
	if err != nil || exp == nil {
		t.Fatalf("attach export: %v, %v", exp, err)
	}
	site, err := srv.Dir.EnsureSite(ctx, "Musterstadt", "GS Nord", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &site, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	now := time.Now()
	var lp strings.Builder
	for i := 6; i >= 0; i-- {
		fmt.Fprintf(&lp, "schulmon_agent,host=srv1 version=\"1.4.0\",points_queued=0i %d\n", now.Add(-time.Duration(i)*10*time.Second).UnixNano())
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/api/v2/write?precision=ns", strings.NewReader(lp.String()))
	req.Header.Set("Authorization", "Token "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("agent write: %s", resp.Status)
	}
	// The engine observes writes asynchronously.
	if err := srv.Ingest.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := att.Engine.Tick(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := exp.Run(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}

	flux := func(filter string) string {
		csv, err := idb.Flux(ctx, `from(bucket: "`+bucket+`") |> range(start: -62d, stop: 1d) |> filter(fn: (r) => `+filter+`)`)
		if err != nil {
			t.Fatal(err)
		}
		return csv
	}
	if got := flux(`r._measurement == "availability_state" and r._field == "state" and r.device == "srv1" and r.site == "GS Nord" and r.municipality == "Musterstadt"`); !strings.Contains(got, ",up") {
		t.Errorf("availability_state of srv1 is not up:\n%s", got)
	}
	if got := flux(`r._measurement == "availability_daily" and r.level == "object" and r.device == "srv1" and r._field == "target_pct"`); !strings.Contains(got, "99.98") {
		t.Errorf("availability_daily of srv1 has no target 99.98:\n%s", got)
	}
	if got := flux(`r._measurement == "availability_monthly" and r.level == "site" and r.site == "GS Nord" and r._field == "up_min"`); !strings.Contains(got, "GS Nord") {
		t.Errorf("no monthly site figure:\n%s", got)
	}
	if got := flux(`r._measurement == "staffing" and r.level == "total" and r._field == "fte"`); strings.Count(got, "\n,") < 2 {
		t.Errorf("staffing: want a total per method:\n%s", got)
	}
	// Idempotent: a second run rewrites the same day's figures.
	if err := exp.Run(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := flux(`r._measurement == "availability_daily" and r.level == "object" and r.device == "srv1" and r._field == "target_pct"`)
	if n := strings.Count(got, "99.98"); n != 1 {
		t.Errorf("after two runs the day has %d points, want 1:\n%s", n, got)
	}
}
