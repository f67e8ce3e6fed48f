package availability

import (
	"fmt"
	"strings"
	"time"

	"github.com/teambition/rrule-go"
)

// Maintenance is a planned maintenance window, one-off or recurring. During
// it the objects in its scope are in state maintenance: the time is taken
// out of their service time and no alerts are sent.
type Maintenance struct {
	ID    int64 `json:"id"`
	Scope Scope `json:"scope"`
	// Start of the (first) window and its length.
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	// RRule is an RFC 5545 recurrence rule such as
	// "FREQ=WEEKLY;BYDAY=WE;UNTIL=20271231T000000Z"; empty for a one-off
	// window. Recurrences are computed in TZ, so a weekly 22:00 window stays
	// at 22:00 local time across DST changes.
	RRule     string    `json:"rrule,omitempty"`
	TZ        string    `json:"tz,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	Created   time.Time `json:"created"`

	rule *rrule.RRule
}

// Validate checks the window and prepares its recurrence rule.
func (m *Maintenance) Validate() error {
	if m.Start.IsZero() {
		return fmt.Errorf("maintenance window: start is missing")
	}
	if m.Duration <= 0 {
		return fmt.Errorf("maintenance window: duration must be positive (e.g. 2h)")
	}
	if m.Scope == (Scope{}) {
		return fmt.Errorf("maintenance window: scope is empty: name a municipality, site or device")
	}
	if m.RRule == "" {
		return nil
	}
	loc := time.UTC
	if m.TZ != "" {
		var err error
		if loc, err = time.LoadLocation(m.TZ); err != nil {
			return fmt.Errorf("maintenance window: time zone %q: %w", m.TZ, err)
		}
	}
	rr := strings.TrimPrefix(strings.TrimSpace(m.RRule), "RRULE:")
	opt, err := rrule.StrToROptionInLocation(rr, loc)
	if err != nil {
		return fmt.Errorf("maintenance window: RRULE %q: %w (see RFC 5545, e.g. FREQ=WEEKLY;BYDAY=WE)", m.RRule, err)
	}
	opt.Dtstart = m.Start.In(loc)
	if m.rule, err = rrule.NewRRule(*opt); err != nil {
		return fmt.Errorf("maintenance window: RRULE %q: %w", m.RRule, err)
	}
	return nil
}

// Occurrences returns the window's occurrences that overlap [from, to).
func (m *Maintenance) Occurrences(from, to int64) Set {
	d := m.Duration.Milliseconds()
	if m.RRule == "" || m.rule == nil {
		s := ms(m.Start)
		return Set{{s, s + d}}.Clip(from, to)
	}
	starts := m.rule.Between(fromMS(from-d), fromMS(to), true)
	ivs := make([]Interval, 0, len(starts))
	for _, s := range starts {
		ivs = append(ivs, Interval{ms(s), ms(s) + d})
	}
	return Normalize(ivs).Clip(from, to)
}
