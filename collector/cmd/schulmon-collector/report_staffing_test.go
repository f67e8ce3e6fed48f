package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCLIReportStaffing(t *testing.T) {
	dd := t.TempDir()
	for _, args := range [][]string{
		{"site", "add", "GS Nord", "--municipality", "Moers", "--school-type", "grundschule", "--data-dir", dd},
		{"site", "add", "Adolfinum", "--municipality", "Moers", "--data-dir", dd},
		{"site", "set", "Adolfinum", "--school-type", "weiterführende Schule", "--contracted-person-days", "150", "--data-dir", dd},
	} {
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	csv := filepath.Join(t.TempDir(), "inv.csv")
	if err := os.WriteFile(csv, []byte("site;class;count\nGS Nord;endpoint;1201\nAdolfinum;tablet;399\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "inventory", "import", "--data-dir", dd, csv); err != nil || !strings.Contains(out, "imported 1600 devices") {
		t.Fatalf("import: %v %s", err, out)
	}
	out, err := runCLI(t, "report", "staffing", "--data-dir", dd, "--format", "json", "--municipality", "Moers")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Sites []struct {
			Site    string `json:"site"`
			Figures []struct {
				Method string  `json:"method"`
				FTE    float64 `json:"fte"`
			} `json:"figures"`
			ContractedPersonDays float64 `json:"contracted_person_days"`
		} `json:"sites"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, s := range rep.Sites {
		if s.Site == "GS Nord" && !(s.Figures[0].Method == "device_ratio" && s.Figures[0].FTE > 3) {
			t.Errorf("GS Nord: %+v, want more than 3 FTE by device_ratio", s.Figures[0])
		}
		if s.Site == "Adolfinum" && s.ContractedPersonDays != 150 {
			t.Errorf("Adolfinum contracted days = %v", s.ContractedPersonDays)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	_ = os.WriteFile(bad, []byte("site,class\nGS Nord,endpoint\nGS Nord,toaster\n"), 0o600)
	if _, err := runCLI(t, "inventory", "import", "--data-dir", dd, bad); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad CSV: %v, want an error naming line 3", err)
	}
	if _, err := runCLI(t, "report", "staffing", "--data-dir", dd, "--method", "gut_feeling"); err == nil || !strings.Contains(err.Error(), "method") {
		t.Errorf("unknown method: %v", err)
	}
}
