package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/schulmon/schulmon/internal/testenv"
	"github.com/schulmon/schulmon/metric"
)

// schemaKey is one documented tag or field of a measurement.
type schemaKey struct {
	kind string // tag or field
	typ  string // line protocol type of a field: float, int, uint, string, bool
}

// docSchema parses the tables of docs/schema.md into measurement → key →
// kind and type. "trusted" holds the trusted tags, which every point has.
// A measurement is named in backticks in a ### heading (several may share
// one table); rows are `| tag|field | key | type | …`.
func docSchema(t *testing.T) map[string]map[string]schemaKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]schemaKey{}
	var cur []string
	head := regexp.MustCompile(`^###\s+(.*)$`)
	name := regexp.MustCompile("`([a-z0-9_]+)`")
	row := regexp.MustCompile(`^\|\s*(tag|field)\s*\|\s*([A-Za-z0-9_]+)\s*\|\s*([a-z]*)\s*\|`)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "## Trusted tags"):
			cur = []string{"trusted"}
			out["trusted"] = map[string]schemaKey{}
			continue
		case strings.HasPrefix(line, "## "):
			cur = nil
			continue
		}
		if m := head.FindStringSubmatch(line); m != nil {
			cur = nil
			for _, n := range name.FindAllStringSubmatch(m[1], -1) {
				cur = append(cur, n[1])
				if out[n[1]] == nil {
					out[n[1]] = map[string]schemaKey{}
				}
			}
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil {
			for _, c := range cur {
				out[c][m[2]] = schemaKey{kind: m[1], typ: m[3]}
			}
		}
	}
	if len(out["trusted"]) != 4 || out["cpu"]["usage_idle"].kind != "field" {
		t.Fatalf("docs/schema.md parsed to %d measurements, trusted tags %v; did the table format change?", len(out), out["trusted"])
	}
	return out
}

// lpType is the schema's name for a line protocol field type.
var lpType = map[metric.Kind]string{metric.KindFloat: "float", metric.KindInt: "int", metric.KindUint: "uint", metric.KindString: "string", metric.KindBool: "bool"}

// TestAgentOutputIsDocumented runs the real agent for one round and checks
// that every measurement, tag and field it prints is in docs/schema.md with
// the type it has, so that a new field cannot ship undocumented.
func TestAgentOutputIsDocumented(t *testing.T) {
	out, err := exec.Command(filepath.Join(testenv.Binaries(t), "schulmon-agent"), "--once").Output()
	if err != nil {
		t.Fatalf("--once: %v", err)
	}
	var p metric.Parser
	if err := p.Parse(out, metric.PrecisionNS, 0); err != nil {
		t.Fatalf("--once output is not line protocol: %v\n%s", err, out)
	}
	doc := docSchema(t)
	missing := map[string]bool{} // report each gap once
	miss := func(format string) {
		if !missing[format] {
			missing[format] = true
			t.Error(format)
		}
	}
	measurements := map[string]bool{}
	for i := range p.Rows {
		r := &p.Rows[i]
		m := string(r.Measurement)
		measurements[m] = true
		keys, ok := doc[m]
		if !ok {
			miss("measurement " + m + " is not documented in docs/schema.md")
			continue
		}
		hasHost := false
		for _, tg := range r.Tags {
			hasHost = hasHost || string(tg.Key) == "host"
		}
		for _, tg := range r.Tags {
			k := string(tg.Key)
			if k == "device" && hasHost {
				// The collector keeps a client's device tag beside host as
				// client_device: that is the name that is stored.
				k = "client_device"
			}
			if keys[k].kind == "tag" || (k != "client_device" && doc["trusted"][k].kind == "tag") {
				continue
			}
			miss("tag " + m + "." + k + " is not documented in docs/schema.md")
		}
		for _, f := range r.Fields {
			k := string(f.Key)
			d := keys[k]
			switch {
			case d.kind != "field":
				miss("field " + m + "." + k + " (" + lpType[f.Kind] + ") is not documented in docs/schema.md")
			case d.typ != lpType[f.Kind]:
				miss("field " + m + "." + k + " is " + lpType[f.Kind] + " but docs/schema.md says " + d.typ)
			}
		}
	}
	// The round must have had the host inputs and the heartbeat, or the
	// check above proved little.
	for _, m := range []string{"cpu", "mem", "swap", "disk", "diskio", "net", "system", "processes", "schulmon_agent", "schulmon_agent_collector"} {
		if !measurements[m] {
			t.Errorf("--once printed no %s point", m)
		}
	}
}
