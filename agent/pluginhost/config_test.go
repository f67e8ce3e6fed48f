package pluginhost

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/schulmon/schulmon/internal/testservers"
)

func TestConfigFromYAML(t *testing.T) {
	src := `
dir: /usr/lib/schulmon/plugins
restart_backoff: 2s
instances:
  - name: lernplattform
    plugin: http
    interval: 30s
    timeout: 5s
    sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
    device: moodle
    config:
      url: https://moodle.schule.example/
      expect_status: [200, 302]
  - name: smb
    plugin: tcp
    config: {address: "10.1.0.5:445"}
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	a, b := c.Instances[0], c.Instances[1]
	if a.Interval != 30*time.Second || a.Timeout != 5*time.Second || a.Class != "other" ||
		a.SHA256 != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("first instance: %+v", a)
	}
	if b.Interval != DefaultInterval || b.Timeout != DefaultTimeout || b.Class != "" || b.Device != "" {
		t.Errorf("second instance defaults: %+v", b)
	}
	if c.RestartBackoff != 2*time.Second || c.RestartBackoffMax != DefaultRestartBackoffMax {
		t.Errorf("backoff: %s %s", c.RestartBackoff, c.RestartBackoffMax)
	}
	if got := a.Config["expect_status"]; got == nil {
		t.Errorf("plugin config lost: %+v", a.Config)
	}
}

func TestConfigValidateSaysWhatIsWrong(t *testing.T) {
	c := Config{Instances: []Instance{
		{Name: "a", Plugin: "http"},
		{Name: "a", Plugin: "../bin/sh"},
		{Plugin: "tcp"},
		{Name: "x y", Plugin: "tcp", Interval: 10 * time.Second, Timeout: 20 * time.Second},
		{Name: "fast", Plugin: "tcp", Interval: 100 * time.Millisecond},
		{Name: "sum", Plugin: "tcp", SHA256: "abc"},
		{Name: "cls", Plugin: "tcp", Class: "toaster"},
	}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"plugins.dir: missing",
		`plugins.instances[1] (a): name "a" used twice`,
		`plugins.instances[1] (a): plugin "../bin/sh": give the plugin's name, not a path`,
		"plugins.instances[2]: name missing",
		`plugins.instances[3] (x y): name "x y": use letters`,
		"plugins.instances[3] (x y): timeout 20s is longer than the interval 10s",
		"plugins.instances[4] (fast): interval 100ms: want at least 1s",
		`plugins.instances[5] (sum): sha256 "abc": want 64 hex digits`,
		`plugins.instances[6] (cls): class "toaster": want one of server`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := New(c, Options{}); err == nil || !strings.HasPrefix(err.Error(), "plugin configuration: ") {
		t.Errorf("New: %v", err)
	}
}

func TestEmptyConfigRunsNothing(t *testing.T) {
	h, err := New(Config{}, Options{Device: "x"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := h.Run(t.Context(), rec); err != nil || len(rec.points) != 0 {
		t.Errorf("Run without instances: %v, %d points", err, len(rec.points))
	}
}

func TestOnce(t *testing.T) {
	dir := buildPlugins(t)
	h, err := New(Config{Dir: dir, Instances: []Instance{
		{Name: "closed", Plugin: "tcp", Timeout: time.Second, Config: map[string]any{"address": testservers.ClosedPort(t)}},
		{Name: "gone", Plugin: "nosuch"},
	}}, Options{Device: "d", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := h.Once(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	c := rec.find(MeasurementCheck, "closed")
	g := rec.find(MeasurementCheck, "gone")
	if len(c) != 1 || field(c[0], "status") != int64(2) || len(g) != 1 || field(g[0], "status") != int64(3) {
		t.Fatalf("points: %+v %+v", c, g)
	}
	if m := field(g[0], "message").(string); strings.Contains(m, "next start") || !strings.Contains(m, "no executable schulmon-plugin-nosuch") {
		t.Errorf("message %q", m)
	}
	if len(rec.find(MeasurementPlugin, "closed")) != 1 {
		t.Errorf("no schulmon_plugin point")
	}
}
