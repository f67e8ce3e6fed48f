package alerting

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestSettingsFromYAML(t *testing.T) {
	var s Settings
	src := `
heartbeat: {interval: 10s, missed: 3, recover_hold: 1m}
tz: Europe/Berlin
webhooks:
  - {name: ops, url: "https://alerts.example.org/hook", headers: {Authorization: "Bearer x"}}
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Heartbeat.Interval != 10*time.Second || s.Heartbeat.RecoverHold != time.Minute || s.Webhooks[0].Headers["Authorization"] != "Bearer x" {
		t.Fatalf("%+v", s)
	}
	for src, want := range map[string]string{
		"tz: Mars/Olympus":                     "availability.tz",
		"webhooks: [{url: 'ftp://x'}]":         "availability.webhooks[0]",
		"poll: {interval: 5s, min_detect: 5s}": "nothing is declared down sooner than 30s",
	} {
		var s Settings
		if err := yaml.Unmarshal([]byte(src), &s); err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}
