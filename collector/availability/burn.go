package availability

import (
	"context"
	"time"
)

// BurnInput is what burn-rate alerting needs about one object: its down
// time and its service time in the last Window, both within the object's
// calendar, with maintenance, unknown and unreachable time taken out.
type BurnInput struct {
	Object Object
	Target Target
	// Down and Service are normalized sets within [Now-Window, Now).
	Down, Service Set
	Now           time.Time
	// InMaintenance is true if the object is in maintenance now.
	InMaintenance bool
}

// BurnInputs returns the inputs for every object that had down time in
// the last window (others burn nothing), plus the objects named in also
// (so that firing alerts can resolve).
func (e *Engine) BurnInputs(ctx context.Context, now time.Time, window time.Duration, also map[int64]bool) []BurnInput {
	e.mu.Lock()
	defer e.mu.Unlock()
	to := ms(now)
	from := to - window.Milliseconds()
	var cc *serviceCache
	if e.set != nil {
		cc = newServiceCache(e.set, from, to)
	}
	// The objects first, so that the result (some 250 bytes an object)
	// is allocated once instead of grown.
	burning := e.burnBuf[:0]
	defer func() { clear(burning); e.burnBuf = burning[:0] }()
	for _, st := range e.list {
		if also[st.ID] || downWithin(st.spans, from, to) {
			burning = append(burning, st)
		}
	}
	if len(burning) == 0 {
		return nil
	}
	out := make([]BurnInput, 0, len(burning))
	var down, excl []Interval // scratch: Normalize copies
	for _, st := range burning {
		down = down[:0]
		for _, sp := range st.spans {
			if sp.State != StateDown {
				continue
			}
			end := sp.End
			if end == 0 {
				end = to
			}
			if end > from && sp.Start < to {
				down = append(down, Interval{max(sp.Start, from), min(end, to)})
			}
		}
		in := BurnInput{Object: st.Object, Target: DefaultTarget, Now: now, InMaintenance: e.inMaintenance(&st.Object, to-1)}
		var svc Set
		if cc != nil {
			in.Target = e.set.target(&st.Object)
			svc, _, _, _ = cc.service(&st.Object, max(from, st.FirstSeen), to)
			svc = svc.Clip(max(from, st.FirstSeen), to)
		} else {
			svc = Set{{max(from, st.FirstSeen), to}}
		}
		excl = excl[:0]
		for _, sp := range st.spans {
			if sp.State == StateUnknown {
				end := sp.End
				if end == 0 {
					end = to
				}
				excl = append(excl, Interval{sp.Start, end})
			}
		}
		// Time behind a down parent is counted at the parent.
		dn := Normalize(down)
		for p := st.ParentID; p != 0; {
			ps := e.byID[p]
			if ps == nil {
				break
			}
			for _, sp := range ps.spans {
				if sp.State == StateDown {
					end := sp.End
					if end == 0 {
						end = to
					}
					excl = append(excl, Interval{sp.Start, end})
				}
			}
			p = ps.ParentID
			if p == st.ID {
				break
			}
		}
		ex := Normalize(excl)
		in.Service = Subtract(svc, ex)
		in.Down = Intersect(Subtract(dn, ex), in.Service)
		out = append(out, in)
	}
	return out
}

// downWithin reports whether a down span overlaps [from, to); an open
// one lasts until to.
func downWithin(spans []Span, from, to int64) bool {
	for _, sp := range spans {
		if sp.State != StateDown {
			continue
		}
		end := sp.End
		if end == 0 {
			end = to
		}
		if end > from && sp.Start < to {
			return true
		}
	}
	return false
}
