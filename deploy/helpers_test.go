package deploy_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repo is the repository root (this package lives in deploy/).
func repo(t testing.TB) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func quick() bool { return os.Getenv("SCHULMON_QUICK") == "1" }

// need fails (or skips in quick mode) when a prerequisite is missing.
func need(t *testing.T, ok bool, msg string) {
	t.Helper()
	if ok {
		return
	}
	if quick() {
		t.Skip(msg + " (skipped: SCHULMON_QUICK=1)")
	}
	t.Fatal(msg)
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds agent, collector and the bundled plugins for this
// machine once per test run, into the layout deploy/nfpm expects
// (dist/pkgroot/ below the returned directory).
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "schulmon-deploy-test-")
		if buildErr != nil {
			return
		}
		root := filepath.Join(buildDir, "dist", "pkgroot")
		run := func(out string, pkgs ...string) error {
			args := append([]string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out}, pkgs...)
			cmd := exec.Command("go", args...)
			cmd.Dir = repo(t)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build %v: %v\n%s", pkgs, err, b)
			}
			return nil
		}
		if buildErr = run(root+"/", "./agent/cmd/schulmon-agent", "./collector/cmd/schulmon-collector"); buildErr != nil {
			return
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

var (
	pluginsOnce sync.Once
	pluginsErr  error
)

// withPlugins adds the bundled check plugins to binaries (the agent
// package needs them).
func withPlugins(t *testing.T) string {
	t.Helper()
	dir := binaries(t)
	pluginsOnce.Do(func() {
		out := filepath.Join(dir, "dist", "pkgroot", "plugins") + "/"
		args := []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out}
		for _, p := range []string{"http", "tcp", "ping", "dns"} {
			args = append(args, "./plugins/"+p)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = repo(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if b, err := cmd.CombinedOutput(); err != nil {
			pluginsErr = fmt.Errorf("go build plugins: %v\n%s", err, b)
			return
		}
		// go build -o DIR/ names them after their folders.
		for _, p := range []string{"http", "tcp", "ping", "dns"} {
			if err := os.Rename(out+p, out+"schulmon-plugin-"+p); err != nil {
				pluginsErr = err
				return
			}
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return dir
}

// unit is a parsed systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: not 'Key=value' inside a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is the effective value of a key (the last assignment wins).
func (u unit) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// nfpmConfig is the part of an nfpm file the tests cross-check.
type nfpmConfig struct {
	Name     string `yaml:"name"`
	Contents []struct {
		Src  string `yaml:"src"`
		Dst  string `yaml:"dst"`
		Type string `yaml:"type"`
	} `yaml:"contents"`
	Scripts map[string]string `yaml:"scripts"`
}

// checkCollectorConfig runs the collector's own strict config check.
func checkCollectorConfig(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binaries(t), "dist", "pkgroot", "schulmon-collector"), "check-config", "--config", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("schulmon-collector check-config %s: %v\n%s", path, err, out)
	}
}
