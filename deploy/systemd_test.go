package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type unitWant struct {
	name     string // package, user, unit and binary name
	config   string // /etc/schulmon/…
	caps     []string
	stateDir string
}

var units = []unitWant{
	{"schulmon-agent", "/etc/schulmon/agent.yaml", []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}, "schulmon-agent"},
	{"schulmon-collector", "/etc/schulmon/collector.yaml", nil, "schulmon-collector"},
}

// TestSystemdUnits checks the hardening every unit must have, that the
// unit, the package and the default config agree on every path, and runs
// `systemd-analyze verify` on the units (with ExecStart pointed at freshly
// built binaries, since verify insists that they exist). Without
// systemd-analyze (no Debian package systemd) only the static checks run.
func TestSystemdUnits(t *testing.T) {
	root := repo(t)
	for _, w := range units {
		t.Run(w.name, func(t *testing.T) {
			path := filepath.Join(root, "deploy", "systemd", w.name+".service")
			u := parseUnit(t, path)
			svc := "Service"
			for key, want := range map[string]string{
				"User": w.name, "Group": w.name, "NoNewPrivileges": "yes", "ProtectSystem": "strict",
				"StateDirectory": w.stateDir, "LogsDirectory": w.stateDir, "PrivateTmp": "yes", "Restart": "on-failure",
				"ReadWritePaths": "/var/lib/" + w.stateDir + " /var/log/" + w.stateDir,
			} {
				if got := u.last(svc, key); got != want {
					t.Errorf("%s=%q, want %q", key, got, want)
				}
			}
			for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
				if len(u[svc][key]) == 0 {
					t.Errorf("%s is not set: without it the unit keeps the default capabilities", key)
				}
				got := strings.Fields(u.last(svc, key))
				slices.Sort(got)
				if !slices.Equal(got, w.caps) {
					t.Errorf("%s=%v, want exactly %v", key, got, w.caps)
				}
			}
			exec0 := strings.Fields(u.last(svc, "ExecStart"))
			if len(exec0) < 3 || exec0[0] != "/usr/bin/"+w.name || !slices.Contains(exec0, w.config) {
				t.Errorf("ExecStart=%v: want /usr/bin/%s … --config %s", exec0, w.name, w.config)
			}
			if u.last("Install", "WantedBy") != "multi-user.target" {
				t.Error("WantedBy=multi-user.target missing: the service would not start at boot")
			}

			// The package installs what the unit refers to.
			var pkg nfpmConfig
			readYAML(t, filepath.Join(root, "deploy", "nfpm", strings.TrimPrefix(w.name, "schulmon-")+".yaml"), &pkg)
			dst := map[string]string{}
			for _, c := range pkg.Contents {
				dst[c.Dst] = c.Src
				if !strings.HasPrefix(c.Src, "dist/") {
					if _, err := os.Stat(filepath.Join(root, c.Src)); err != nil {
						t.Errorf("nfpm %s: source %s: %v", pkg.Name, c.Src, err)
					}
				}
			}
			for _, p := range []string{"/usr/bin/" + w.name, "/usr/lib/systemd/system/" + w.name + ".service", w.config} {
				if _, ok := dst[p]; !ok {
					t.Errorf("the %s package does not install %s, which the unit uses", pkg.Name, p)
				}
			}
			for _, s := range pkg.Scripts {
				if _, err := os.Stat(filepath.Join(root, s)); err != nil {
					t.Errorf("nfpm script %s: %v", s, err)
				}
			}
		})
	}

	// The shipped default configs pass the binaries' own strict check
	// (the units run it as ExecStartPre).
	bin := filepath.Join(binaries(t), "dist", "pkgroot")
	for _, c := range []struct{ bin, file string }{{"schulmon-agent", "agent.yaml"}, {"schulmon-collector", "collector.yaml"}} {
		out, err := exec.Command(filepath.Join(bin, c.bin), "check-config", "--config", filepath.Join(root, "deploy", "config", c.file)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OK") {
			t.Errorf("%s check-config deploy/config/%s: %v\n%s", c.bin, c.file, err, out)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found (Debian package systemd): only the static checks above ran")
		return
	}
	dir := t.TempDir()
	var paths []string
	for _, w := range units {
		data, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", w.name+".service"))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "/usr/bin/"+w.name, filepath.Join(bin, w.name))
		p := filepath.Join(dir, w.name+".service")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	// verify exits 0 on unknown keys and bad values, but says so.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
