package availability_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/internal/testenv"
)

// TestParentsCLIAndAPI runs the real collector: an agent's SNMP poller
// reports LLDP neighbours, an operator sets a parent through the API
// (applied at once) and through the CLI (applied at the collector's
// next sync, here its restart), the manual parent wins and --clear hands
// the decision back to LLDP.
func TestParentsCLIAndAPI(t *testing.T) {
	if testenv.Quick() {
		t.Skip("end-to-end test with the real collector (about 30 s); skipped with SCHULMON_QUICK=1")
	}
	c := testenv.StartCollector(t, "")
	tok := c.Token("GS Am Park", "Moers")
	op := c.Token("", "", "--role", "operator")
	do := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, c.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Token "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := time.Now().Truncate(time.Second)
	lines := agentRound("srv1", now) +
		pollLines("srv1", "gw", "router", now, true, map[string]string{"ge-0/0/1": "sw-core"}) +
		pollLines("srv1", "sw-core", "switch", now, true, map[string]string{"Gi1/0/1": "gw", "Gi1/0/2": "srv1.schule.local"})
	if code, body := do("POST", "/api/v2/write?precision=s", tok, lines); code != http.StatusNoContent {
		t.Fatalf("write: %d %s", code, body)
	}
	type dep struct {
		Device, Class, Parent string
		ManualParent          string `json:"manual_parent"`
		ParentSource          string `json:"parent_source"`
	}
	list := func() map[string]dep {
		t.Helper()
		var rows []dep
		out := c.CLI("device", "list", "--site", "GS Am Park", "--json")
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		m := map[string]dep{}
		for _, r := range rows {
			m[r.Device] = r
		}
		return m
	}

	// Only operators may set parents; the API applies at once, and the
	// same sync derives the LLDP parents.
	if code, _ := do("PUT", "/api/v1/sites/GS%20Am%20Park/devices/srv1/parent", tok, `{"parent":"gw"}`); code != http.StatusForbidden {
		t.Fatalf("agent token set a parent: %d", code)
	}
	if code, body := do("PUT", "/api/v1/sites/GS%20Am%20Park/devices/srv1/parent", op, `{"parent":"nope"}`); code != http.StatusNotFound || !strings.Contains(body, "nope") {
		t.Fatalf("unknown parent: %d %s", code, body)
	}
	code, body := do("PUT", "/api/v1/sites/GS%20Am%20Park/devices/srv1/parent", op, `{"parent":"gw"}`)
	if code != http.StatusOK || !strings.Contains(body, `"applied": true`) {
		t.Fatalf("set parent: %d %s", code, body)
	}
	m := list()
	if m["srv1"].Parent != "gw" || m["srv1"].ParentSource != "manual" || m["srv1"].ManualParent != "gw" {
		t.Fatalf("srv1 after PUT: %+v", m["srv1"])
	}
	if m["sw-core"].Parent != "gw" || m["sw-core"].ParentSource != "lldp" {
		t.Fatalf("sw-core from LLDP: %+v", m["sw-core"])
	}
	_, states := do("GET", "/api/v1/states?site=GS%20Am%20Park", op, "")
	if !strings.Contains(states, `"parent": "gw"`) || !strings.Contains(states, `"parent_source": "lldp"`) {
		t.Fatalf("states do not show the parents:\n%s", states)
	}

	// The CLI: a cycle is refused with a reason, --clear hands srv1 back
	// to LLDP (the switch it was seen on).
	bin := filepath.Join(c.Bin, "schulmon-collector")
	out, err := exec.Command(bin, "device", "set-parent", "--site", "GS Am Park", "--device", "gw", "--parent", "srv1", "--data-dir", c.DataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already depends on") {
		t.Fatalf("cycle accepted: %v %s", err, out)
	}
	if out := c.CLI("device", "set-parent", "--site", "GS Am Park", "--device", "srv1", "--clear"); !strings.Contains(out, "LLDP decides") {
		t.Fatalf("clear: %s", out)
	}
	c.Stop()
	c.Start() // the collector syncs parents at start (and every minute)
	m = list()
	if m["srv1"].ManualParent != "" || m["srv1"].Parent != "sw-core" || m["srv1"].ParentSource != "lldp" {
		t.Fatalf("srv1 after --clear: %+v", m["srv1"])
	}
	if out := c.CLI("device", "set-parent", "--site", "GS Am Park", "--device", "srv1", "--parent", "gw"); !strings.Contains(out, "depends on gw (manual)") {
		t.Fatalf("set-parent: %s", out)
	}
	c.Stop()
	c.Start()
	if m = list(); m["srv1"].Parent != "gw" || m["srv1"].ParentSource != "manual" {
		t.Fatalf("srv1 after set-parent: %+v", m["srv1"])
	}
	if out := c.CLI("device", "list", "--site", "GS Am Park"); !strings.Contains(out, "MANUAL PARENT") || !strings.Contains(out, "manual") {
		t.Fatalf("device list:\n%s", out)
	}
}
