package logging

import (
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

func TestLevelAndFormat(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	New("warn", "json").Info("hidden")
	New("warn", "json").Warn("shown", "k", "v")
	New("debug", "text").Debug("plain")
	os.Stderr = old
	w.Close()
	out, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), out)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["msg"] != "shown" || rec["k"] != "v" {
		t.Fatalf("json line %q: %v", lines[0], err)
	}
	if !strings.Contains(lines[1], "level=DEBUG") || !strings.Contains(lines[1], "msg=plain") {
		t.Fatalf("text line %q", lines[1])
	}
}
