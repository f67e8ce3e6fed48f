package pluginhost

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/schulmon/schulmon/metric"
	"github.com/schulmon/schulmon/plugins/sdk"
)

func TestPointsCarryInstanceTags(t *testing.T) {
	r := &runner{inst: Instance{Name: "web", Plugin: "http", Device: "moodle", Class: "server"}, device: "moodle"}
	at := time.Unix(1700000000, 0)
	long := strings.Repeat("ä", 5000) // 10,000 bytes of two-byte runes
	p := r.checkPoint(at, sdk.StatusWarning, long, 1500*time.Millisecond, []metric.Field{
		{Key: "status", Value: metric.Int(0)}, // a plugin cannot override the host's fields
		{Key: "cert_days_left", Value: metric.Float(9.5)},
	})
	if p.Measurement != "check" || !p.Time.Equal(at) {
		t.Fatalf("point %+v", p)
	}
	for k, want := range map[string]string{"device": "moodle", "class": "server", "check": "web", "plugin": "http"} {
		if v, _ := p.Tag(k); v != want {
			t.Errorf("tag %s = %q, want %q", k, v, want)
		}
	}
	if v, _ := p.Field("status"); v.IntValue() != 1 {
		t.Errorf("status %d, want the result's 1", v.IntValue())
	}
	if v, _ := p.Field("cert_days_left"); v.FloatValue() != 9.5 {
		t.Errorf("plugin field lost: %+v", p.Fields)
	}
	if v, _ := p.Field("duration_s"); v.FloatValue() != 1.5 {
		t.Errorf("duration_s %v", v.FloatValue())
	}
	m, _ := p.Field("message")
	if len(m.StringValue()) > maxMessage || !strings.HasSuffix(m.StringValue(), "...") || !utf8.ValidString(m.StringValue()) {
		t.Errorf("long message: %d bytes, valid UTF-8 %v", len(m.StringValue()), utf8.ValidString(m.StringValue()))
	}
	line := metric.AppendLine(nil, &p)
	if !strings.HasPrefix(string(line), "check,check=web,class=server,device=moodle,plugin=http ") {
		t.Errorf("line protocol: %.120s", line)
	}

	// A plugin's own point keeps its tags and gets the instance's.
	own := r.ownPoint(at, metric.NewPoint("http_timing", map[string]string{"phase": "tls", "device": "lb"}, map[string]metric.Value{"s": metric.Float(1)}, time.Time{}))
	if v, _ := own.Tag("device"); v != "lb" {
		t.Errorf("own point: device %q, want the plugin's lb", v)
	}
	if v, _ := own.Tag("check"); v != "web" || !own.Time.Equal(at) {
		t.Errorf("own point: %+v", own)
	}
}

// The reset after a good check is tested in TestFrozenPluginIsKilled.
func TestBackoffDoubles(t *testing.T) {
	cfg := Config{RestartBackoff: 100 * time.Millisecond, RestartBackoffMax: 350 * time.Millisecond}.withDefaults()
	r := &runner{inst: Instance{Name: "x", Plugin: "p"}, cfg: cfg, backoff: cfg.RestartBackoff,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var waits []time.Duration
	for i := 0; i < 4; i++ {
		before := time.Now()
		r.fail(errors.New("boom"))
		waits = append(waits, r.retryAt.Sub(before).Round(50*time.Millisecond))
	}
	r.retry.Stop()
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 350 * time.Millisecond}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("restart waits %v, want %v", waits, want)
	}
	if r.lastErr == nil || r.lastErr.Error() != "boom" {
		t.Errorf("last error %v", r.lastErr)
	}
}
