package staffing

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/store/sqlite"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// The real write path: an agent writes line protocol to the collector's
// InfluxDB-compatible endpoint; the ingest handler stamps the trusted
// tags and calls the staffing observer; the report counts the agent's
// host once although the switch's ARP table shows it too.
func TestIngestWritePathFeedsInventory(t *testing.T) {
	ctx := context.Background()
	dir, st := openDB(t)
	points, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "points.db"), sqlite.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer points.Close()
	site, err := dir.EnsureSite(ctx, "Moers", "GS Nord", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := dir.CreateToken(ctx, tenancy.RoleAgent, &site, "test agent")
	if err != nil {
		t.Fatal(err)
	}
	h := ingest.New(dir, points, ingest.Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	h.AddObserver(st)
	srv := httptest.NewServer(h)
	defer srv.Close()

	now := time.Now().UnixNano()
	ns := func(d time.Duration) string { return strconv.FormatInt(now-int64(d), 10) }
	body := strings.Join([]string{
		// The agent's heartbeat names its host's MACs; a client-sent site
		// tag is ignored (the token decides).
		`schulmon_agent,host=srv-gsnord,site=Elsewhere version="dev",uptime_s=12.5,macs="00:1a:2b:3c:4d:5e,00:1a:2b:3c:4d:5f" ` + ns(0),
		`snmp_poll,device=sw-1,class=switch,agent_host=srv-gsnord,target=10.0.0.2:161 reachable=true,duration_s=0.02,error="" ` + ns(0),
		`discovered_endpoint,device=sw-1,class=switch mac="00:1a:2b:3c:4d:5e",ip="10.0.0.10",port="Gi1/0/1" ` + ns(0),
		`discovered_endpoint,device=sw-1,class=switch mac="02:00:00:00:00:01",ip="10.0.0.51",port="Gi1/0/3" ` + ns(0),
		`discovered_endpoint,device=sw-1,class=switch mac="02:00:00:00:00:02",ip="10.0.0.52",port="Gi1/0/4" ` + ns(0),
	}, "\n")
	req, _ := http.NewRequest("POST", srv.URL+"/api/v2/write?org=x&bucket=y&precision=ns", strings.NewReader(body))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d %s", resp.StatusCode, msg)
	}
	if err := dir.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}

	inv, err := st.LoadInventory(ctx, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Sites) != 1 || inv.Sites[0].Name != "GS Nord" {
		t.Fatalf("sites = %+v", inv.Sites)
	}
	c := inv.Count()[0]
	if c.Devices[ClassServer] != 1 || c.Devices[ClassSwitch] != 1 || c.Devices[ClassEndpoint] != 2 || c.Total() != 4 {
		t.Fatalf("counts = %v (%s), want 1 server (agent+ARP), 1 switch, 2 endpoints", c.Devices, HowCounted(c.Provenance))
	}
	if how := HowCounted(c.Provenance); !strings.Contains(how, "server 1: agent+discovery 1") {
		t.Errorf("provenance = %q", how)
	}
}
