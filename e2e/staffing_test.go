package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/agent/hostmetrics"
	"github.com/schulmon/schulmon/internal/testenv"
)

// staffingReport is the part of GET /api/v1/staffing (format json) the
// tests read.
type staffingReport struct {
	Sites []struct {
		Site    string           `json:"site"`
		Devices map[string]int   `json:"devices"`
		Figures []staffingFigure `json:"figures"`
	} `json:"sites"`
	Notes []string `json:"notes"`
}

type staffingFigure struct {
	Method string  `json:"method"`
	FTE    float64 `json:"fte"`
	Basis  string  `json:"basis"`
	Note   string  `json:"note"`
}

// writeLines posts line protocol with a site's token and fails on anything
// but 204.
func writeLines(t *testing.T, url, token string, lines []string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/api/v2/write?org=x&bucket=y&precision=s", strings.NewReader(strings.Join(lines, "\n")))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("write: status %d: %s", resp.StatusCode, b.String())
	}
}

// The real agent reports its host's MACs in its heartbeat; a switch's ARP
// table (a discovered_endpoint point) shows the same host. The staffing
// inventory counts it once, as the agent's server, not a second time as
// an endpoint.
func TestStaffingCountsAgentHostOnceWithItsARPEntry(t *testing.T) {
	id, err := hostmetrics.ReadIdentity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(id.MACs) == 0 {
		t.Skip("this machine has no up, non-loopback interface with a real MAC: nothing a switch could see")
	}
	c := testenv.StartCollector(t, "")
	tok := c.Token("gs-nord", "Moers")
	op := c.Token("", "", "--role", "operator")
	startAgent(t, testenv.Binaries(t), c.URL, tok, "srv-gsnord")

	// The switch sw-1 (reported by the agent's SNMP poller in production)
	// sees the agent's host on a port, and one PC without an agent.
	now := time.Now().Unix()
	writeLines(t, c.URL, tok, []string{
		fmt.Sprintf(`discovered_endpoint,device=sw-1,class=switch mac="%s",ip="10.0.0.10",port="Gi1/0/1" %d`, strings.ToUpper(id.MACs[0]), now),
		fmt.Sprintf(`discovered_endpoint,device=sw-1,class=switch mac="02:00:5e:10:20:30",ip="10.0.0.51",port="Gi1/0/7" %d`, now),
	})

	var rep staffingReport
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep = staffingReport{}
		code := getJSON(t, c.URL+"/api/v1/staffing?format=json&method=device_ratio", op, &rep)
		if code != http.StatusOK {
			t.Fatalf("GET /api/v1/staffing: status %d", code)
		}
		if len(rep.Sites) == 1 && rep.Sites[0].Devices["server"] == 1 && rep.Sites[0].Devices["endpoint"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staffing inventory of gs-nord = %+v, want 1 server (the agent's host, merged with its ARP entry by MAC %s) and 1 endpoint (the PC)\ncollector log:\n%s",
				rep.Sites, id.MACs[0], c.Logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	// It stays so: not a transient state before the ARP entries arrive.
	time.Sleep(2 * time.Second)
	rep = staffingReport{}
	getJSON(t, c.URL+"/api/v1/staffing?format=json&method=device_ratio", op, &rep)
	if d := rep.Sites[0].Devices; d["server"] != 1 || d["endpoint"] != 1 {
		t.Fatalf("devices = %v, want server 1, endpoint 1", d)
	}
	var csv bytes.Buffer
	req, _ := http.NewRequest("GET", c.URL+"/api/v1/staffing?format=csv&method=device_ratio", nil)
	req.Header.Set("Authorization", "Token "+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = csv.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(csv.String(), "server 1: agent+discovery 1") {
		t.Errorf("how_counted does not show the merge of agent and ARP entry:\n%s", csv.String())
	}
}

// The workload figures of `report staffing` (CLI) and GET /api/v1/staffing
// (API) come from the same outages with the same parameters: a 10-minute
// outage counts, a 3-minute one (below min_outage_minutes, 5) does not, in
// both; with min_outage_minutes 0 both count two.
func TestStaffingWorkloadSameInCLIAndAPI(t *testing.T) {
	c := testenv.StartCollector(t, "")
	tok := c.Token("gs-sued", "Moers")
	op := c.Token("", "", "--role", "operator")

	// Heartbeats of the last 40 minutes as an agent replaying its outbox
	// would send them (time comes from the data): silent for 10 minutes
	// from -30 min and for 3 minutes from -10 min.
	end := time.Now().Add(-5 * time.Second).Truncate(time.Second)
	start := end.Add(-40 * time.Minute)
	var lines []string
	for ts := start; !ts.After(end); ts = ts.Add(10 * time.Second) {
		ago := end.Sub(ts)
		if (ago < 30*time.Minute && ago > 20*time.Minute) || (ago < 10*time.Minute && ago > 7*time.Minute) {
			continue
		}
		lines = append(lines, fmt.Sprintf(`schulmon_agent,host=srv-sued version="e2e",uptime_s=%d,interval_s=10 %d`, int(ts.Sub(start).Seconds()), ts.Unix()))
	}
	writeLines(t, c.URL, tok, lines)

	// Wait until the availability engine has recorded both outages.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var outages []struct {
			Ongoing bool `json:"ongoing"`
		}
		getJSON(t, c.URL+"/api/v1/outages?site=gs-sued", op, &outages)
		closed := 0
		for _, o := range outages {
			if !o.Ongoing {
				closed++
			}
		}
		if closed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine recorded %+v, want 2 closed outages\ncollector log:\n%s", outages, c.Logs())
		}
		time.Sleep(300 * time.Millisecond)
	}

	api := func(t *testing.T, scenario string) staffingFigure {
		t.Helper()
		var rep staffingReport
		if scenario == "" {
			if code := getJSON(t, c.URL+"/api/v1/staffing?format=json&method=workload", op, &rep); code != http.StatusOK {
				t.Fatalf("GET /api/v1/staffing: status %d", code)
			}
		} else {
			req, _ := http.NewRequest("POST", c.URL+"/api/v1/staffing/scenario?format=json&method=workload", strings.NewReader(scenario))
			req.Header.Set("Authorization", "Token "+op)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				var b bytes.Buffer
				_, _ = b.ReadFrom(resp.Body)
				t.Fatalf("POST /api/v1/staffing/scenario: %d %s", resp.StatusCode, b.String())
			}
			if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
				t.Fatal(err)
			}
		}
		return onlyFigure(t, rep, "API")
	}
	cli := func(t *testing.T, args ...string) staffingFigure {
		t.Helper()
		var rep staffingReport
		out := c.CLI(append([]string{"report", "staffing", "--format", "json", "--method", "workload"}, args...)...)
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("report staffing --format json: %v\n%s", err, out)
		}
		return onlyFigure(t, rep, "CLI")
	}

	a, b := api(t, ""), cli(t)
	if a.FTE != b.FTE || a.Basis != b.Basis {
		t.Errorf("default parameters: API %+v, CLI %+v; want the same figures", a, b)
	}
	if !strings.HasPrefix(a.Basis, "1 incidents") || a.FTE <= 0 {
		t.Errorf("default parameters: API basis %q (FTE %v), want 1 incident (the 3-minute outage is below 5 min)", a.Basis, a.FTE)
	}

	params := filepath.Join(t.TempDir(), "params.yaml")
	if err := os.WriteFile(params, []byte("methods: {workload: {min_outage_minutes: 0}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b = api(t, `{"name": "every outage", "params": {"methods": {"workload": {"min_outage_minutes": 0}}}}`), cli(t, "--params", params)
	if a.FTE != b.FTE || a.Basis != b.Basis {
		t.Errorf("min_outage_minutes 0: API %+v, CLI %+v; want the same figures", a, b)
	}
	if !strings.HasPrefix(b.Basis, "2 incidents") {
		t.Errorf("min_outage_minutes 0: CLI basis %q, want 2 incidents", b.Basis)
	}
}

// onlyFigure returns the workload figure of the report's only site.
func onlyFigure(t *testing.T, rep staffingReport, who string) staffingFigure {
	t.Helper()
	if len(rep.Sites) != 1 || len(rep.Sites[0].Figures) != 1 || rep.Sites[0].Figures[0].Method != "workload" {
		t.Fatalf("%s report: %+v, want one site with the workload figure", who, rep)
	}
	return rep.Sites[0].Figures[0]
}
