package pluginhost

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// ExecPrefix is the file name prefix of plugin executables.
const ExecPrefix = "schulmon-plugin-"

// Discover lists the plugin executables in dir by plugin name: every
// regular, executable file named schulmon-plugin-<name> (.exe on Windows).
func Discover(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list plugin directory: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ExecPrefix) {
			continue
		}
		path := filepath.Join(dir, name)
		if !isExecutable(path) {
			continue
		}
		name = strings.TrimSuffix(strings.TrimPrefix(name, ExecPrefix), ".exe")
		out[name] = path
	}
	return out, nil
}

// resolve finds the executable of plugin in dir.
func resolve(dir, plugin string) (string, error) {
	ext := ""
	if runtime.GOOS == "windows" {
		ext = ".exe"
	}
	for _, cand := range []string{ExecPrefix + plugin + ext, plugin + ext} {
		p := filepath.Join(dir, cand)
		if _, err := os.Stat(p); err == nil {
			if !isExecutable(p) {
				return "", fmt.Errorf("%s is not executable (chmod +x it)", p)
			}
			return p, nil
		}
	}
	found, err := Discover(dir)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	return "", fmt.Errorf("no executable %s%s%s in %s (installed plugins: %s)", ExecPrefix, plugin, ext, dir, have)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if runtime.GOOS == "windows" {
		return true
	}
	return fi.Mode().Perm()&0o111 != 0
}
