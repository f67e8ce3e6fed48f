package availability

import (
	"context"
	"database/sql"
	"strconv"
)

// settings are the assignment rules, calendars and maintenance windows as
// stored, resolved per object.
type settings struct {
	rules     []Rule
	calendars map[string]*Calendar
	maint     []Maintenance
}

func loadSettings(ctx context.Context, db *sql.DB) (*settings, error) {
	rules, err := loadRules(ctx, db)
	if err != nil {
		return nil, err
	}
	cals, err := loadCalendars(ctx, db)
	if err != nil {
		return nil, err
	}
	maint, err := ListMaintenance(ctx, db)
	if err != nil {
		return nil, err
	}
	return &settings{rules: rules, calendars: cals, maint: maint}, nil
}

// rule returns the value of the most specific rule of a kind matching the
// object, and the scope it came from.
func (s *settings) rule(kind string, o *Object) (string, Scope, bool) {
	best, bestSpec := -1, -1
	for i, r := range s.rules {
		if r.Kind != kind || !r.Scope.Matches(o) {
			continue
		}
		if sp := r.Scope.Specificity(); sp > bestSpec {
			best, bestSpec = i, sp
		}
	}
	if best < 0 {
		return "", Scope{}, false
	}
	return s.rules[best].Value, s.rules[best].Scope, true
}

// calendar returns the object's service calendar (nil: 24x7) and its name.
func (s *settings) calendar(o *Object) (*Calendar, string) {
	v, _, ok := s.rule(RuleCalendar, o)
	if !ok || v == Kind24x7 {
		return nil, Kind24x7
	}
	c := s.calendars[v]
	if c == nil {
		return nil, Kind24x7
	}
	return c, v
}

// target returns the object's target, default 99.98 %.
func (s *settings) target(o *Object) Target {
	if v, _, ok := s.rule(RuleTarget, o); ok {
		if t, err := strconv.ParseInt(v, 10, 64); err == nil && t > 0 {
			return Target(t)
		}
	}
	return DefaultTarget
}

func (s *settings) critical(o *Object) bool {
	if v, _, ok := s.rule(RuleCritical, o); ok {
		return v == "true"
	}
	return o.Critical
}

// maintenanceFor returns the indexes of the windows covering the object.
func (s *settings) maintenanceFor(o *Object) []int {
	var out []int
	for i := range s.maint {
		if s.maint[i].Scope.Matches(o) {
			out = append(out, i)
		}
	}
	return out
}
