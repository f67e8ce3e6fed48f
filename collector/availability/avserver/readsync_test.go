package avserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability/avserver"
	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// TestReadSeesAcknowledgedWrites: the engine observes writes after they
// were acknowledged, so the collector makes reads wait for it. Each new
// host written and then read at once must be in the states the API
// returns.
func TestReadSeesAcknowledgedWrites(t *testing.T) {
	ctx := context.Background()
	srv, base, stop := startCollector(t)
	defer stop()

	site, err := srv.Dir.EnsureSite(ctx, "Moers", "gs-nord", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	agent, _, err := srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &site, "agent")
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := srv.Dir.CreateToken(ctx, tenancy.RoleOperator, nil, "operator")
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, token, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Token "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	now := time.Now()
	for i := range 15 { // within the token's request burst
		host := fmt.Sprintf("srv-%02d", i)
		line := fmt.Sprintf("schulmon_agent,host=%s up=1i %d\n", host, now.UnixNano())
		if resp := do("POST", "/api/v2/write?precision=ns", agent, line); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("write %s: %s", host, resp.Status)
		}
		resp := do("GET", "/api/v1/states?site=gs-nord", operator, "")
		var states []struct {
			Object struct{ Device string } `json:"object"`
			State  string                  `json:"state"`
		}
		err := json.NewDecoder(resp.Body).Decode(&states)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range states {
			found = found || s.Object.Device == host
		}
		if !found {
			t.Fatalf("write %d: host %s acknowledged but not in the states read right after (%d states)", i, host, len(states))
		}
	}
}

// startCollector runs a collector as serve assembles it (with the
// availability engine) in a temporary data directory on a loopback port;
// stop shuts it down gracefully and returns Run's error.
func startCollector(t *testing.T) (srv *server.Server, base string, stop func() error) {
	t.Helper()
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
	return srv, "http://" + ln.Addr().String(), func() error { cancel(); return <-done }
}
