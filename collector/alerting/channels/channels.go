// Package channels delivers schulmon alerts beyond the JSON webhook: e-mail
// (SMTP with STARTTLS), Microsoft Teams and Matrix (their incoming-webhook
// APIs) and Prometheus Alertmanager (API v2). Every channel implements
// alerting.Notifier, so the alerting manager's guarantees hold for all of
// them: each alert (down, recovered, burn rate, resolved) is delivered at
// most once per channel, retried with back-off, and none is created for
// objects in maintenance or behind a down parent. Channels add routing (by
// municipality, site and severity) and the message language (German,
// English or both).
package channels

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
)

// Config is the "alerting" section of the collector's config file.
//
//	alerting:
//	  lang: de                       # de, en or both (default de)
//	  public_url: https://monitor.example.org
//	  email:
//	    - name: it-moers
//	      host: smtp.example.org
//	      port: 587
//	      starttls: required         # required (default), opportunistic, none
//	      username: schulmon
//	      password_file: /etc/schulmon/smtp-password
//	      from: schulmon@example.org
//	      to: [it@moers.example]
//	      municipalities: [Moers]
//	  teams:
//	    - {name: rz-teams, url: https://prod-00.westeurope.logic.azure.com/…, min_severity: critical}
//	  matrix:
//	    - {name: rz-matrix, url: https://hookshot.example.org/webhook/…}
//	    - {name: rz-room, homeserver: https://matrix.example.org, room_id: "!abc:example.org", access_token_file: /etc/schulmon/matrix-token}
//	  alertmanager:
//	    - {name: am, url: http://alertmanager:9093}
type Config struct {
	Lang         string               `yaml:"lang"`
	PublicURL    string               `yaml:"public_url"`
	Email        []EmailConfig        `yaml:"email"`
	Teams        []TeamsConfig        `yaml:"teams"`
	Matrix       []MatrixConfig       `yaml:"matrix"`
	Alertmanager []AlertmanagerConfig `yaml:"alertmanager"`
}

// Route selects the alerts a channel gets. Empty lists match everything.
type Route struct {
	Municipalities []string `yaml:"municipalities"`
	Sites          []string `yaml:"sites"`
	// MinSeverity drops alerts below it: info < warning < critical.
	// Recoveries (info) of alerts the route passed are always delivered.
	MinSeverity string `yaml:"min_severity"`
	// Lang overrides the section's language for this channel.
	Lang string `yaml:"lang"`
}

var severityRank = map[string]int{"": 0, "info": 1, "warning": 2, "critical": 3}

// Matches reports whether the route passes the alert.
func (r Route) Matches(a alerting.Alert) bool {
	if len(r.Municipalities) > 0 && !slices.Contains(r.Municipalities, a.Municipality) {
		return false
	}
	if len(r.Sites) > 0 && !slices.Contains(r.Sites, a.Site) {
		return false
	}
	if r.MinSeverity != "" && a.Status == alerting.StatusFiring && severityRank[a.Severity] < severityRank[r.MinSeverity] {
		return false
	}
	if r.MinSeverity != "" && a.Status == alerting.StatusResolved && a.Kind == alerting.KindBurnRateResolved {
		// A resolved burn-rate alert carries no severity of its own; the
		// rule name tells which one it ends.
		if a.BurnRate != nil && r.MinSeverity == "critical" && a.BurnRate.Rule != "fast" {
			return false
		}
	}
	return true
}

func (r Route) validate(where string) error {
	if _, ok := severityRank[r.MinSeverity]; !ok {
		return fmt.Errorf("%s.min_severity %q: use info, warning or critical", where, r.MinSeverity)
	}
	return checkLang(where+".lang", r.Lang)
}

func checkLang(where, l string) error {
	switch l {
	case "", "de", "en", "both":
		return nil
	}
	return fmt.Errorf("%s %q: use de, en or both", where, l)
}

// Validate checks the section without contacting anything.
func (c *Config) Validate() error {
	if err := checkLang("alerting.lang", c.Lang); err != nil {
		return err
	}
	_, err := c.Build(nil)
	return err
}

// routed applies a route to a notifier.
type routed struct {
	alerting.Notifier
	route Route
}

func (r routed) Notify(ctx contextT, a alerting.Alert) error {
	if !r.route.Matches(a) {
		return nil // not for this channel: counts as done
	}
	return r.Notifier.Notify(ctx, a)
}

// Background is a channel with periodic work while the collector runs
// (Alertmanager re-sends firing alerts so they do not expire there): call
// Resend every Interval, e.g. as a server job.
type Background interface {
	Name() string
	Interval() time.Duration
	Resend(ctx contextT) error
}

// Built are the configured channels.
type Built struct {
	Notifiers  []alerting.Notifier
	Background []Background
}

// Build creates the notifiers. now may be nil (time.Now).
func (c *Config) Build(now func() time.Time) (*Built, error) {
	if now == nil {
		now = time.Now
	}
	b := &Built{}
	names := map[string]bool{}
	add := func(n alerting.Notifier, r Route) error {
		if names[n.Name()] {
			return fmt.Errorf("alerting: two channels named %q: give each a unique name", n.Name())
		}
		names[n.Name()] = true
		b.Notifiers = append(b.Notifiers, routed{n, r})
		return nil
	}
	lang := func(r Route) string {
		if r.Lang != "" {
			return r.Lang
		}
		if c.Lang != "" {
			return c.Lang
		}
		return "de"
	}
	for i, e := range c.Email {
		where := fmt.Sprintf("alerting.email[%d]", i)
		if err := e.Route.validate(where); err != nil {
			return nil, err
		}
		n, err := NewEmail(e, Messages{Lang: lang(e.Route), PublicURL: c.PublicURL})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := add(n, e.Route); err != nil {
			return nil, err
		}
	}
	for i, t := range c.Teams {
		where := fmt.Sprintf("alerting.teams[%d]", i)
		if err := t.Route.validate(where); err != nil {
			return nil, err
		}
		n, err := NewTeams(t, Messages{Lang: lang(t.Route), PublicURL: c.PublicURL})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := add(n, t.Route); err != nil {
			return nil, err
		}
	}
	for i, m := range c.Matrix {
		where := fmt.Sprintf("alerting.matrix[%d]", i)
		if err := m.Route.validate(where); err != nil {
			return nil, err
		}
		n, err := NewMatrix(m, Messages{Lang: lang(m.Route), PublicURL: c.PublicURL})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := add(n, m.Route); err != nil {
			return nil, err
		}
	}
	for i, a := range c.Alertmanager {
		where := fmt.Sprintf("alerting.alertmanager[%d]", i)
		if err := a.Route.validate(where); err != nil {
			return nil, err
		}
		n, err := NewAlertmanager(a, Messages{Lang: lang(a.Route), PublicURL: c.PublicURL}, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := add(n, a.Route); err != nil {
			return nil, err
		}
		b.Background = append(b.Background, n)
	}
	return b, nil
}

// secret returns value, or the trimmed content of file.
func secret(value, file, what string) (string, error) {
	if value != "" && file != "" {
		return "", fmt.Errorf("give %s or %s_file, not both", what, what)
	}
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s_file: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errors.New(what + "_file is empty")
	}
	return s, nil
}
