package channels

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
)

// AlertmanagerConfig configures a Prometheus Alertmanager (API v2).
type AlertmanagerConfig struct {
	Name  string `yaml:"name"`
	Route `yaml:",inline"`
	// URL is the Alertmanager's base URL, e.g. http://alertmanager:9093.
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Timeout time.Duration     `yaml:"timeout"`
	// FiringTTL is the endsAt of a firing alert; while the collector runs
	// it re-sends firing alerts every ResendInterval with a fresh endsAt,
	// so an alert ends in Alertmanager only by its recovery (or, if the
	// collector is gone, FiringTTL later). Defaults 24h and 1m.
	FiringTTL      time.Duration `yaml:"firing_ttl"`
	ResendInterval time.Duration `yaml:"resend_interval"`
	// Labels are added to every alert (e.g. {team: rz}).
	Labels map[string]string `yaml:"labels"`
}

// Alertmanager posts alerts to POST /api/v2/alerts. Alertmanager groups,
// deduplicates (by label set), silences and routes them further. A
// down alert and its recovery carry the same labels, so the recovery
// resolves it there.
type Alertmanager struct {
	cfg    AlertmanagerConfig
	msgs   Messages
	client *http.Client
	now    func() time.Time

	mu     sync.Mutex
	firing map[string]amAlert // label fingerprint → last firing alert
}

// amAlert is the API v2 postable alert.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// NewAlertmanager checks the configuration.
func NewAlertmanager(cfg AlertmanagerConfig, msgs Messages, now func() time.Time) (*Alertmanager, error) {
	if err := checkURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.FiringTTL <= 0 {
		cfg.FiringTTL = 24 * time.Hour
	}
	if cfg.ResendInterval <= 0 {
		cfg.ResendInterval = time.Minute
	}
	if cfg.Name == "" {
		cfg.Name = "alertmanager:" + hostOf(cfg.URL)
	}
	if now == nil {
		now = time.Now
	}
	return &Alertmanager{cfg: cfg, msgs: msgs, client: &http.Client{Timeout: cfg.Timeout}, now: now, firing: map[string]amAlert{}}, nil
}

// Name implements alerting.Notifier.
func (am *Alertmanager) Name() string { return am.cfg.Name }

// Labels returns the identifying labels of an alert: the same for a down
// alert and its recovery, and for a burn-rate alert and its resolution.
func Labels(a alerting.Alert) map[string]string {
	l := map[string]string{"severity": a.Severity, "municipality": a.Municipality, "site": a.Site, "object_id": strconv.FormatInt(a.ObjectID, 10)}
	switch a.Kind {
	case alerting.KindBurnRate, alerting.KindBurnRateResolved:
		l["alertname"] = "SchulmonErrorBudgetBurn"
		if a.BurnRate != nil {
			l["rule"] = a.BurnRate.Rule
		}
	default:
		l["alertname"] = "SchulmonDown"
		if a.Check != "" {
			l["alertname"] = "SchulmonServiceDown"
		}
	}
	// Resolutions carry severity info; keep the label set of the firing
	// alert by leaving severity out of the identity (set below).
	for k, v := range map[string]string{"device": a.Device, "class": a.Class, "check": a.Check} {
		if v != "" {
			l[k] = v
		}
	}
	return l
}

func fingerprint(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		if k != "severity" {
			keys = append(keys, k+"="+l[k])
		}
	}
	sortStrings(keys)
	return strings.Join(keys, ",")
}

func (am *Alertmanager) build(a alerting.Alert) amAlert {
	m := am.msgs.Render(a)
	x := amAlert{Labels: Labels(a), Annotations: map[string]string{"summary": m.Subject, "description": m.Text}, StartsAt: a.Start, GeneratorURL: m.Link}
	for k, v := range am.cfg.Labels {
		x.Labels[k] = v
	}
	if x.StartsAt.IsZero() {
		x.StartsAt = a.At
	}
	return x
}

// Notify implements alerting.Notifier.
func (am *Alertmanager) Notify(ctx context.Context, a alerting.Alert) error {
	x := am.build(a)
	fp := fingerprint(x.Labels)
	am.mu.Lock()
	if a.Status == alerting.StatusResolved {
		if prev, ok := am.firing[fp]; ok {
			// Same labels as the firing alert, severity included, so
			// Alertmanager resolves exactly that alert.
			x.Labels["severity"] = prev.Labels["severity"]
			x.StartsAt = prev.StartsAt
		} else if a.Kind == alerting.KindDeviceRecovered || a.Kind == alerting.KindOutageRevoked {
			x.Labels["severity"] = "warning"
			if a.Severity == "critical" {
				x.Labels["severity"] = "critical"
			}
		}
		end := a.At
		if a.End != nil {
			end = *a.End
		}
		if !end.After(x.StartsAt) {
			end = x.StartsAt.Add(time.Second)
		}
		x.EndsAt = end
		delete(am.firing, fp)
	} else {
		x.EndsAt = am.now().Add(am.cfg.FiringTTL)
		am.firing[fp] = x
	}
	am.mu.Unlock()
	return am.post(ctx, []amAlert{x}, fmt.Sprintf("alertmanager %s: alert %s", am.cfg.Name, a.Key))
}

func (am *Alertmanager) post(ctx context.Context, xs []amAlert, what string) error {
	return postJSON(ctx, am.client, http.MethodPost, strings.TrimRight(am.cfg.URL, "/")+"/api/v2/alerts", am.cfg.Headers, xs, what)
}

// Interval is how often Resend should run.
func (am *Alertmanager) Interval() time.Duration { return am.cfg.ResendInterval }

// Resend posts the firing alerts again with a fresh endsAt.
func (am *Alertmanager) Resend(ctx context.Context) error {
	am.mu.Lock()
	xs := make([]amAlert, 0, len(am.firing))
	for fp, x := range am.firing {
		x.EndsAt = am.now().Add(am.cfg.FiringTTL)
		am.firing[fp] = x
		xs = append(xs, x)
	}
	am.mu.Unlock()
	if len(xs) == 0 {
		return nil
	}
	return am.post(ctx, xs, "alertmanager "+am.cfg.Name+": re-send firing alerts")
}

func sortStrings(s []string) { slices.Sort(s) }
