package main

import (
	"context"
	"strings"
	"testing"
)

func TestDNSConfig(t *testing.T) {
	c := &dnsCheck{}
	if err := c.Configure(context.Background(), "t", []byte(`{"server":"10.1.0.53","name":"moodle.schule.test","type":"mx"}`)); err != nil {
		t.Fatal(err)
	}
	if c.cfg.Server != "10.1.0.53:53" || c.cfg.Transport != "udp" || c.qtype != 15 {
		t.Errorf("defaults: %+v qtype %d", c.cfg, c.qtype)
	}
	for cfg, want := range map[string]string{
		`{"name":"x"}`:         "server missing",
		`{"server":"1.2.3.4"}`: "name missing",
		`{"server":"1.2.3.4","name":"x","type":"BOGUS"}`:    `type "BOGUS"`,
		`{"server":"1.2.3.4","name":"x","transport":"doh"}`: `transport "doh": want udp or tcp`,
		`{"server":"1.2.3.4","nam":"x"}`:                    `unknown field "nam"`,
	} {
		err := (&dnsCheck{}).Configure(context.Background(), "t", []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", cfg, err, want)
		}
	}
}
