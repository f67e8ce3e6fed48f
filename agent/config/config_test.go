package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEmptyFileIsTheDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != 10*time.Second || c.Class != "server" || len(c.Inputs) != len(AllInputs) {
		t.Errorf("defaults: %+v", c)
	}
}

func TestStrictAndValidated(t *testing.T) {
	cases := map[string]string{
		"collector:\n  url: http://x\n  colour: red\n":                 "line 3: field colour not found",
		"interval: 500ms\n":                                            "interval 500ms is too short",
		"collector:\n  url: http://10.1.2.3:8086\n":                    "plain HTTP to another host",
		"collector:\n  url: http://127.example.org:8086\n":             "plain HTTP to another host",
		"collector:\n  url: ftp://x\n":                                 "want http(s)://HOST:PORT",
		"class: toaster\n":                                             "class \"toaster\"",
		"inputs: [cpu, gpu]\n":                                         "unknown input \"gpu\"",
		"collector:\n  token: a\n  token_file: /x\n":                   "token or token_file, not both",
		"log:\n  level: loud\n":                                        "unknown level",
		"interval: ten\n":                                              "cannot unmarshal",
		"collector:\n  url: https://c.example:8086\n  batch_size: 0\n": "batch_size must be at least 1",
	}
	for in, want := range cases {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", in, err, want)
		}
	}
	if _, err := Parse([]byte("collector:\n  url: http://10.1.2.3:8086\n  allow_insecure: true\n")); err != nil {
		t.Errorf("allow_insecure: %v", err)
	}
	for _, u := range []string{"http://127.0.0.1:8086", "http://127.0.0.2:8086", "http://[::1]:8086", "http://localhost:8086"} {
		if _, err := Parse([]byte("collector:\n  url: " + u + "\n")); err != nil {
			t.Errorf("loopback %s without allow_insecure: %v", u, err)
		}
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	c := Default()
	c.StateDir = dir
	if _, err := c.ResolveToken(); err == nil || !strings.Contains(err.Error(), "schulmon-agent enroll") {
		t.Errorf("no token: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte("sm_enrolled\n"), 0o600)
	if tok, err := c.ResolveToken(); err != nil || tok != "sm_enrolled" {
		t.Errorf("enrolled token: %q %v", tok, err)
	}
	c.Collector.Token = "sm_inline"
	if tok, _ := c.ResolveToken(); tok != "sm_inline" {
		t.Errorf("inline token: %q", tok)
	}
}
