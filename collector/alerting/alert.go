// Package alerting turns availability events and error-budget burn rates
// into alerts and delivers them, with retry, to notification channels. It
// sends no duplicates (every alert has a stable key, stored once) and
// nothing for objects in maintenance or behind a down parent (the parent's
// alert names them).
//
// Channels implement Notifier; the package ships a JSON webhook. E-mail,
// Teams, Matrix or Alertmanager channels are further Notifiers.
package alerting

import (
	"context"
	"time"
)

// Alert kinds.
const (
	KindDeviceDown       = "device_down"
	KindDeviceRecovered  = "device_recovered"
	KindOutageRevoked    = "outage_revoked" // replayed data proved the object was up
	KindBurnRate         = "burn_rate"
	KindBurnRateResolved = "burn_rate_resolved"
)

// Alert statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Alert is one notification, as delivered (JSON) to webhooks.
type Alert struct {
	// Key identifies the alert; the same key is never delivered twice.
	Key      string `json:"key"`
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	Severity string `json:"severity"` // critical, warning, info
	Summary  string `json:"summary"`

	Municipality string `json:"municipality"`
	Site         string `json:"site"`
	Device       string `json:"device"`
	Class        string `json:"class,omitempty"`
	Check        string `json:"check,omitempty"`
	Object       string `json:"object"`
	ObjectID     int64  `json:"object_id"`

	Cause            string     `json:"cause,omitempty"`
	Start            time.Time  `json:"start"`
	End              *time.Time `json:"end,omitempty"`
	DurationSeconds  float64    `json:"duration_seconds,omitempty"`
	AffectedChildren []string   `json:"affected_children,omitempty"`
	BurnRate         *BurnRate  `json:"burn_rate,omitempty"`
	At               time.Time  `json:"at"`
}

// BurnRate describes a burn-rate alert: the error budget is being used
// Factor times faster than a 30-day budget allows, over both windows.
type BurnRate struct {
	Rule          string  `json:"rule"`
	Factor        float64 `json:"factor"`
	LongWindow    string  `json:"long_window"`
	ShortWindow   string  `json:"short_window"`
	LongRate      float64 `json:"long_rate"`
	ShortRate     float64 `json:"short_rate"`
	TargetPercent string  `json:"target_percent"`
	BudgetPeriod  string  `json:"budget_period"`
}

// Notifier delivers alerts to one channel. Notify must be safe for
// concurrent use and return an error wrapped with Permanent if retrying
// cannot help (e.g. HTTP 400).
type Notifier interface {
	// Name identifies the channel in logs and in the delivery table; it
	// must be stable across restarts.
	Name() string
	Notify(ctx context.Context, a Alert) error
}

// PermanentError marks a delivery failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{err} }
