package availability

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is a report window [From, To).
type Window struct {
	Label string    `json:"label"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
}

// ParsePeriod turns a period name into a window in loc:
//
//	2026-10      calendar month
//	2026-Q4      quarter
//	2026         calendar year
//	rolling-30d  the 30 days up to now (also "30d", "rolling")
//
// Calendar periods start and end at local midnight, so October in
// Europe/Berlin has 31 days and 1 hour (the autumn DST change).
func ParsePeriod(s string, loc *time.Location, now time.Time) (Window, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "rolling-30d", "rolling", "30d", "rolling30d":
		to := now.Truncate(time.Second)
		return Window{Label: "rolling 30 days", From: to.Add(-30 * 24 * time.Hour), To: to}, nil
	}
	if y, err := strconv.Atoi(s); err == nil && len(s) == 4 {
		f := time.Date(y, 1, 1, 0, 0, 0, 0, loc)
		return Window{Label: s, From: f, To: f.AddDate(1, 0, 0)}, nil
	}
	if ys, q, ok := strings.Cut(strings.ToUpper(s), "-Q"); ok {
		y, err1 := strconv.Atoi(ys)
		n, err2 := strconv.Atoi(q)
		if err1 == nil && err2 == nil && n >= 1 && n <= 4 {
			f := time.Date(y, time.Month(3*(n-1)+1), 1, 0, 0, 0, 0, loc)
			return Window{Label: s, From: f, To: f.AddDate(0, 3, 0)}, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01", s, loc); err == nil {
		return Window{Label: s, From: t, To: t.AddDate(0, 1, 0)}, nil
	}
	return Window{}, fmt.Errorf("period %q: want YYYY-MM (month), YYYY-Qn (quarter), YYYY (year) or rolling-30d", s)
}

// ParseTime parses a report boundary: RFC 3339, or a local date
// (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM) in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, f := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(f, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-10-01T00:00:00+02:00) or a local date 2026-10-01", s)
}
