package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// nfpm finds the package builder: .tools/nfpm (make deps) or PATH.
func nfpm(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repo(t), ".tools", "nfpm")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p, err := exec.LookPath("nfpm")
	need(t, err == nil, "nfpm not found in .tools/ or PATH: run 'make deps' (or 'make deps-nfpm')")
	return p
}

// buildPackage builds one package of the given format and version from
// deploy/nfpm/<which>.yaml, as `make packages` does, and returns its path.
func buildPackage(t *testing.T, which, format, version string) string {
	t.Helper()
	dir := withPlugins(t)
	// nfpm resolves sources relative to its working directory: the
	// binaries are in dir/dist/pkgroot, the rest comes from the repo.
	if _, err := os.Lstat(filepath.Join(dir, "deploy")); err != nil {
		if err := os.Symlink(filepath.Join(repo(t), "deploy"), filepath.Join(dir, "deploy")); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(t.TempDir(), which+"-"+version+"."+format)
	cmd := exec.Command(nfpm(t), "package", "--config", "deploy/nfpm/"+which+".yaml", "--packager", format, "--target", target)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VERSION="+version, "ARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nfpm %s %s: %v\n%s", which, format, err, out)
	}
	return target
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func userExists(name string) bool {
	return exec.Command("getent", "passwd", name).Run() == nil
}

// TestRPMBuilds builds both .rpm packages (no rpm tool is needed).
func TestRPMBuilds(t *testing.T) {
	for _, which := range []string{"agent", "collector"} {
		p := buildPackage(t, which, "rpm", "1.0.0")
		st, err := os.Stat(p)
		if err != nil || st.Size() < 1<<20 {
			t.Fatalf("%s rpm: %v (size %v)", which, err, st)
		}
		// An RPM starts with its lead magic ed ab ee db.
		b, _ := os.ReadFile(p)
		if len(b) < 4 || string(b[:4]) != "\xed\xab\xee\xdb" {
			t.Fatalf("%s is not an RPM", p)
		}
	}
}

// TestDebInstallUpgradeRemove installs the .deb packages into this
// machine with dpkg, upgrades them, removes and purges them, and checks
// files, users, directories and units at each step. It needs root and
// dpkg (a Debian-like test machine) and changes the system while it runs.
func TestDebInstallUpgradeRemove(t *testing.T) {
	_, err := exec.LookPath("dpkg")
	need(t, err == nil, "dpkg not found: this test installs the .deb into the machine; run it on Debian/Ubuntu")
	need(t, os.Geteuid() == 0, "not root: this test installs the .deb with dpkg -i; run the tests as root (or SCHULMON_QUICK=1 to skip)")

	for _, w := range units {
		if exec.Command("dpkg", "-s", w.name).Run() == nil {
			t.Fatalf("package %s is installed on this machine already; the test would remove it: remove it first or run the test elsewhere", w.name)
		}
		if userExists(w.name) {
			t.Fatalf("user %s exists on this machine already; the test's purge would delete it", w.name)
		}
	}
	t.Cleanup(func() {
		for _, w := range units {
			_ = exec.Command("dpkg", "--purge", w.name).Run()
		}
	})

	v1 := map[string]string{}
	for _, which := range []string{"agent", "collector"} {
		v1[which] = buildPackage(t, which, "deb", "1.0.0")
	}
	run(t, "dpkg", "-i", v1["agent"], v1["collector"])

	for _, w := range units {
		for _, p := range []string{"/usr/bin/" + w.name, "/usr/lib/systemd/system/" + w.name + ".service", w.config} {
			if !exists(p) {
				t.Errorf("after install: %s is missing", p)
			}
		}
		if !userExists(w.name) {
			t.Errorf("after install: system user %s missing", w.name)
		}
		st, err := os.Stat("/var/lib/" + w.stateDir)
		if err != nil {
			t.Fatalf("after install: state directory: %v", err)
		}
		uid := st.Sys().(*syscall.Stat_t).Uid
		owner := strings.TrimSpace(run(t, "id", "-u", w.name))
		if owner != itoa(int(uid)) {
			t.Errorf("/var/lib/%s belongs to uid %d, want %s (%s)", w.stateDir, uid, owner, w.name)
		}
		cst, _ := os.Stat(w.config)
		if cst.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %v, want 0640 (it may name secrets' paths; readable by the service's group only)", w.config, cst.Mode().Perm())
		}
		if !strings.Contains(run(t, "dpkg-query", "-W", "-f=${Conffiles}", w.name), w.config) {
			t.Errorf("%s is not a conffile: upgrades would overwrite the administrator's changes", w.config)
		}
		// The installed binary runs and accepts the installed config.
		out := run(t, "/usr/bin/"+w.name, "check-config", "--config", w.config)
		if !strings.Contains(out, "OK") {
			t.Errorf("%s check-config: %s", w.name, out)
		}
	}
	if !exists("/usr/lib/schulmon/plugins/schulmon-plugin-http") {
		t.Error("the agent package lacks the bundled check plugins in /usr/lib/schulmon/plugins")
	}

	// Upgrade: the administrator's config stays, the binary is replaced.
	const marker = "\n# edited by the administrator\n"
	f, err := os.OpenFile("/etc/schulmon/agent.yaml", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(marker)
	f.Close()
	run(t, "dpkg", "--force-confold", "-i", buildPackage(t, "agent", "deb", "1.0.1"))
	if v := run(t, "dpkg-query", "-W", "-f=${Version}", "schulmon-agent"); v != "1.0.1" {
		t.Errorf("after upgrade: version %q", v)
	}
	if b, _ := os.ReadFile("/etc/schulmon/agent.yaml"); !strings.Contains(string(b), marker) {
		t.Error("the upgrade overwrote the administrator's /etc/schulmon/agent.yaml")
	}
	if !userExists("schulmon-agent") {
		t.Error("the upgrade lost the user")
	}

	// Remove: program and unit go, config and state stay.
	run(t, "dpkg", "-r", "schulmon-agent", "schulmon-collector")
	for _, w := range units {
		for _, p := range []string{"/usr/bin/" + w.name, "/usr/lib/systemd/system/" + w.name + ".service"} {
			if exists(p) {
				t.Errorf("after dpkg -r: %s is still there", p)
			}
		}
		if !exists(w.config) || !exists("/var/lib/"+w.stateDir) {
			t.Errorf("after dpkg -r: %s or /var/lib/%s is gone; they belong to purge", w.config, w.stateDir)
		}
	}
	// Purge: config, state, logs and user go.
	run(t, "dpkg", "--purge", "schulmon-agent", "schulmon-collector")
	for _, w := range units {
		for _, p := range []string{w.config, "/var/lib/" + w.stateDir, "/var/log/" + w.stateDir} {
			if exists(p) {
				t.Errorf("after dpkg --purge: %s is still there", p)
			}
		}
		if userExists(w.name) {
			t.Errorf("after dpkg --purge: user %s is still there", w.name)
		}
	}
	if exists("/etc/schulmon") {
		t.Error("after purging both packages /etc/schulmon is still there")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
