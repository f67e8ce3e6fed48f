package alerting

import (
	"fmt"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
)

// Settings is the "availability" section of the collector's config file:
// detection, the time zone of report periods, and alert channels.
//
//	availability:
//	  heartbeat: {interval: 10s, missed: 3}
//	  poll: {interval: 60s, missed: 3}
//	  tz: Europe/Berlin
//	  webhooks:
//	    - name: ops
//	      url: https://alerts.example.org/hook
//	      headers: {Authorization: "Bearer …"}
type Settings struct {
	Disabled  bool                   `yaml:"disabled"`
	Heartbeat availability.Detection `yaml:"heartbeat"`
	Poll      availability.Detection `yaml:"poll"`
	Check     availability.Detection `yaml:"check"`
	// Tick is how often detection and burn-rate rules run (default 5 s).
	Tick time.Duration `yaml:"tick"`
	// TZ is the zone report periods are cut in (default Europe/Berlin).
	TZ        string          `yaml:"tz"`
	Webhooks  []WebhookConfig `yaml:"webhooks"`
	BurnRules []BurnRule      `yaml:"burn_rules"`
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if s.TZ != "" {
		if _, err := time.LoadLocation(s.TZ); err != nil {
			return fmt.Errorf("availability.tz: %w", err)
		}
	}
	if s.Tick < 0 {
		return fmt.Errorf("availability.tick must be positive, got %s", s.Tick)
	}
	for i, w := range s.Webhooks {
		if _, err := NewWebhook(w); err != nil {
			return fmt.Errorf("availability.webhooks[%d]: %w", i, err)
		}
	}
	for _, d := range []struct {
		name string
		d    availability.Detection
	}{{"heartbeat", s.Heartbeat}, {"poll", s.Poll}, {"check", s.Check}} {
		if d.d.Interval < 0 || d.d.Missed < 0 || d.d.RecoverHold < 0 {
			return fmt.Errorf("availability.%s: interval, missed and recover_hold must not be negative", d.name)
		}
		if d.d.MinDetect != 0 && d.d.MinDetect < 30*time.Second {
			return fmt.Errorf("availability.%s.min_detect %s: nothing is declared down sooner than 30s", d.name, d.d.MinDetect)
		}
	}
	return nil
}
