package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kardianos/service"
)

// TestCrossCompile builds the agent for the platforms schools run, with
// cgo off, as `make build-all` does: the Windows build includes the
// service manager code, which Linux builds never compile.
func TestCrossCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiling takes a while (-short)")
	}
	dir := t.TempDir()
	for _, p := range []struct{ goos, goarch string }{{"windows", "amd64"}, {"linux", "arm64"}, {"darwin", "arm64"}} {
		out := filepath.Join(dir, "schulmon-agent-"+p.goos+"-"+p.goarch)
		if p.goos == "windows" {
			out += ".exe"
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.goos, "GOARCH="+p.goarch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("GOOS=%s GOARCH=%s go build: %v\n%s", p.goos, p.goarch, err, b)
		}
		head := make([]byte, 4)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		f.Read(head)
		f.Close()
		want := map[string]string{"windows": "MZ", "linux": "\x7fELF", "darwin": "\xcf\xfa\xed\xfe"}[p.goos]
		if !bytes.HasPrefix(head, []byte(want)) {
			t.Errorf("%s/%s: %s is not a %s executable (starts %q)", p.goos, p.goarch, out, p.goos, head)
		}
	}
}

func TestServiceDefinition(t *testing.T) {
	c := serviceConfig(serviceOptions{configPath: `C:\ProgramData\schulmon\agent.yaml`, logFile: `C:\ProgramData\schulmon\agent.log`})
	want := []string{"service", "run", "--config", `C:\ProgramData\schulmon\agent.yaml`, "--log-file", `C:\ProgramData\schulmon\agent.log`}
	if !slices.Equal(c.Arguments, want) {
		t.Fatalf("service arguments %q, want %q", c.Arguments, want)
	}
	if c.Name != "schulmon-agent" || c.Option["StartType"] != "automatic" || c.Option["OnFailure"] != "restart" {
		t.Fatalf("service config %+v", c)
	}
	// The recorded arguments are a command line the agent accepts.
	root := newRootCmd()
	cmd, rest, err := root.Find(want)
	if err != nil || cmd.Name() != "run" || cmd.Parent().Name() != "service" {
		t.Fatalf("'schulmon-agent %s' does not reach 'service run': %v %v", strings.Join(want, " "), cmd.Name(), err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("service run flags: %v", err)
	}
}

func TestServiceInstallNeedsConfig(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"service", "install"})
	root.SetOut(&bytes.Buffer{})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("install without --config: %v", err)
	}
	root = newRootCmd()
	bad := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(bad, []byte("colector:\n  url: https://x\n"), 0o600)
	root.SetArgs([]string{"service", "install", "--config", bad})
	root.SetOut(&bytes.Buffer{})
	if err := root.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "colector") {
		t.Fatalf("install with a broken config was not refused before touching the service manager: %v", err)
	}
}

// fakeSystemLog records what the agent would write to the event log.
type fakeSystemLog struct{ entries []string }

func (f *fakeSystemLog) Error(v ...any) error   { f.add("E", v...); return nil }
func (f *fakeSystemLog) Warning(v ...any) error { f.add("W", v...); return nil }
func (f *fakeSystemLog) Info(v ...any) error    { f.add("I", v...); return nil }
func (f *fakeSystemLog) Errorf(s string, v ...any) error {
	return f.Error(fmt.Sprintf(s, v...))
}
func (f *fakeSystemLog) Warningf(s string, v ...any) error {
	return f.Warning(fmt.Sprintf(s, v...))
}
func (f *fakeSystemLog) Infof(s string, v ...any) error { return f.Info(fmt.Sprintf(s, v...)) }
func (f *fakeSystemLog) add(level string, v ...any) {
	f.entries = append(f.entries, level+" "+fmt.Sprint(v...))
}

var _ service.Logger = (*fakeSystemLog)(nil)

func TestServiceLogHandler(t *testing.T) {
	sl := &fakeSystemLog{}
	log := slog.New(newServiceLogHandler(sl, slog.LevelInfo)).With("device", "srv-01")
	log.Debug("not shown")
	log.Info("agent started", "interval", "10s")
	log.Warn("collector slow")
	log.WithGroup("snmp").Error("poll failed", "target", "switch-1")
	want := []string{
		`I msg="agent started" device=srv-01 interval=10s`,
		`W msg="collector slow" device=srv-01`,
		`E msg="poll failed" device=srv-01 snmp.target=switch-1`,
	}
	if !slices.Equal(sl.entries, want) {
		t.Fatalf("event log entries:\n%s\nwant:\n%s", strings.Join(sl.entries, "\n"), strings.Join(want, "\n"))
	}
}
