package availability

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/teambition/rrule-go"
)

// Calendar is a service calendar: the times during which an object is
// supposed to be available. Outside them nothing counts: no up, no down, no
// error budget. The zero Calendar (or Kind "24x7") is always in service.
type Calendar struct {
	Name string `json:"name"`
	// Kind is "24x7" or "weekly".
	Kind string `json:"kind"`
	// TZ is the IANA time zone the weekly hours and all-day exceptions are
	// read in, e.g. "Europe/Berlin". Empty means UTC.
	TZ string `json:"tz,omitempty"`
	// Weekly lists the service hours per weekday for Kind "weekly".
	Weekly []WeeklyHours `json:"weekly,omitempty"`
	// Exceptions are times out of service (public and school holidays),
	// usually imported from iCalendar files.
	Exceptions []Exception `json:"exceptions,omitempty"`

	loc *time.Location
}

// WeeklyHours is one service range on the given weekdays, in local wall
// clock time. "24:00" as To means the end of the day.
type WeeklyHours struct {
	Days []time.Weekday `json:"days"`
	From string         `json:"from"` // "07:00"
	To   string         `json:"to"`   // "17:00" or "24:00"
}

// Exception is a time out of service. All-day exceptions (from DATE values
// in iCalendar) are kept as local dates so that they mean the whole local
// day in the calendar's time zone, whatever its length.
type Exception struct {
	Summary string    `json:"summary,omitempty"`
	AllDay  bool      `json:"all_day,omitempty"`
	From    string    `json:"from"` // "2026-12-24" (all-day) or RFC 3339
	To      string    `json:"to"`   // exclusive: "2026-12-27" or RFC 3339
	from    time.Time // resolved by Validate
	to      time.Time
}

// Calendar kinds.
const (
	Kind24x7   = "24x7"
	KindWeekly = "weekly"
)

// Validate checks the calendar and resolves its time zone and exceptions.
// It must be called before ServiceIntervals.
func (c *Calendar) Validate() error {
	if c.Kind == "" {
		c.Kind = Kind24x7
	}
	if c.Kind != Kind24x7 && c.Kind != KindWeekly {
		return fmt.Errorf("calendar %q: kind %q is not supported: use %q or %q", c.Name, c.Kind, Kind24x7, KindWeekly)
	}
	loc := time.UTC
	if c.TZ != "" {
		var err error
		if loc, err = time.LoadLocation(c.TZ); err != nil {
			return fmt.Errorf("calendar %q: time zone %q: %w (use an IANA name such as Europe/Berlin)", c.Name, c.TZ, err)
		}
	}
	c.loc = loc
	if c.Kind == KindWeekly && len(c.Weekly) == 0 {
		return fmt.Errorf("calendar %q: kind weekly needs at least one range of weekly hours", c.Name)
	}
	for i, w := range c.Weekly {
		f, err := parseClock(w.From)
		if err != nil {
			return fmt.Errorf("calendar %q: weekly range %d: from: %w", c.Name, i+1, err)
		}
		t, err := parseClock(w.To)
		if err != nil {
			return fmt.Errorf("calendar %q: weekly range %d: to: %w", c.Name, i+1, err)
		}
		if t <= f {
			return fmt.Errorf("calendar %q: weekly range %d: %s–%s ends before it starts", c.Name, i+1, w.From, w.To)
		}
		if len(w.Days) == 0 {
			return fmt.Errorf("calendar %q: weekly range %d has no days", c.Name, i+1)
		}
	}
	for i := range c.Exceptions {
		e := &c.Exceptions[i]
		var err error
		if e.AllDay {
			if e.from, err = time.ParseInLocation("2006-01-02", e.From, loc); err == nil {
				e.to, err = time.ParseInLocation("2006-01-02", e.To, loc)
			}
		} else {
			if e.from, err = time.Parse(time.RFC3339, e.From); err == nil {
				e.to, err = time.Parse(time.RFC3339, e.To)
			}
		}
		if err != nil {
			return fmt.Errorf("calendar %q: exception %q: %w", c.Name, e.Summary, err)
		}
		if !e.to.After(e.from) {
			return fmt.Errorf("calendar %q: exception %q ends before it starts", c.Name, e.Summary)
		}
	}
	return nil
}

// parseClock parses "HH:MM" into minutes since midnight; "24:00" is 1440.
func parseClock(s string) (int, error) {
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time of day %q: want HH:MM between 00:00 and 24:00", s)
	}
	return h*60 + m, nil
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// ServiceIntervals returns the service time within [from, to).
//
// Weekly hours are wall-clock times: each day's range is built with
// time.Date in the calendar's zone, so a 00:00–24:00 range is 23 hours on
// the spring DST day and 25 hours on the autumn one.
func (c *Calendar) ServiceIntervals(from, to int64) Set {
	if to <= from {
		return nil
	}
	var base Set
	if c == nil || c.Kind == "" || c.Kind == Kind24x7 {
		base = Set{{from, to}}
	} else {
		loc := c.Location()
		ft := fromMS(from).In(loc)
		day := time.Date(ft.Year(), ft.Month(), ft.Day(), 0, 0, 0, 0, loc)
		var ivs []Interval
		for ; ms(day) < to; day = day.AddDate(0, 0, 1) {
			wd := day.Weekday()
			for _, w := range c.Weekly {
				if !containsDay(w.Days, wd) {
					continue
				}
				f, _ := parseClock(w.From)
				t, _ := parseClock(w.To)
				s := time.Date(day.Year(), day.Month(), day.Day(), f/60, f%60, 0, 0, loc)
				e := time.Date(day.Year(), day.Month(), day.Day(), t/60, t%60, 0, 0, loc)
				ivs = append(ivs, Interval{max(ms(s), from), min(ms(e), to)})
			}
		}
		base = Normalize(ivs)
	}
	if len(c.exceptionSet()) == 0 {
		return base
	}
	return Subtract(base, c.exceptionSet().Clip(from, to))
}

func (c *Calendar) exceptionSet() Set {
	if c == nil {
		return nil
	}
	ivs := make([]Interval, 0, len(c.Exceptions))
	for _, e := range c.Exceptions {
		ivs = append(ivs, Interval{ms(e.from), ms(e.to)})
	}
	return Normalize(ivs)
}

func containsDay(days []time.Weekday, d time.Weekday) bool {
	for _, x := range days {
		if x == d {
			return true
		}
	}
	return false
}

// ParseICS reads the events of an iCalendar file as exceptions. All-day
// events (DTSTART;VALUE=DATE) become whole local days; events with an
// RRULE are expanded up to expandUntil (e.g. yearly holidays).
func ParseICS(r io.Reader, loc *time.Location, expandUntil time.Time) ([]Exception, error) {
	cal, err := ics.ParseCalendar(r)
	if err != nil {
		return nil, fmt.Errorf("parse iCalendar: %w", err)
	}
	if loc == nil {
		loc = time.UTC
	}
	var out []Exception
	for _, ev := range cal.Events() {
		summary := ""
		if p := ev.GetProperty(ics.ComponentPropertySummary); p != nil {
			summary = p.Value
		}
		sp := ev.GetProperty(ics.ComponentPropertyDtStart)
		if sp == nil {
			return nil, fmt.Errorf("iCalendar event %q has no DTSTART", summary)
		}
		allDay := len(strings.TrimSpace(sp.Value)) == 8
		var start, end time.Time
		if allDay {
			if start, err = time.ParseInLocation("20060102", sp.Value, loc); err != nil {
				return nil, fmt.Errorf("iCalendar event %q: DTSTART: %w", summary, err)
			}
			end = start.AddDate(0, 0, 1)
			if ep := ev.GetProperty(ics.ComponentPropertyDtEnd); ep != nil {
				if end, err = time.ParseInLocation("20060102", strings.TrimSpace(ep.Value), loc); err != nil {
					return nil, fmt.Errorf("iCalendar event %q: DTEND: %w", summary, err)
				}
			}
		} else {
			if start, err = ev.GetStartAt(); err != nil {
				return nil, fmt.Errorf("iCalendar event %q: DTSTART: %w", summary, err)
			}
			if end, err = ev.GetEndAt(); err != nil {
				return nil, fmt.Errorf("iCalendar event %q: DTEND: %w", summary, err)
			}
		}
		starts := []time.Time{start}
		if rp := ev.GetProperty(ics.ComponentPropertyRrule); rp != nil {
			opt, err := rrule.StrToROptionInLocation(rp.Value, loc)
			if err != nil {
				return nil, fmt.Errorf("iCalendar event %q: RRULE %q: %w", summary, rp.Value, err)
			}
			opt.Dtstart = start
			rr, err := rrule.NewRRule(*opt)
			if err != nil {
				return nil, fmt.Errorf("iCalendar event %q: RRULE %q: %w", summary, rp.Value, err)
			}
			starts = rr.Between(start, expandUntil, true)
		}
		for _, s := range starts {
			e := Exception{Summary: summary, AllDay: allDay}
			if allDay {
				days := int(end.Sub(start).Hours()/24 + 0.5)
				e.From = s.Format("2006-01-02")
				e.To = s.AddDate(0, 0, days).Format("2006-01-02")
			} else {
				e.From = s.UTC().Format(time.RFC3339)
				e.To = s.Add(end.Sub(start)).UTC().Format(time.RFC3339)
			}
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out, nil
}
