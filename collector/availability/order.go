package availability

import "strings"

// Finding a signal's object. Nearly every write names the objects its
// site's previous write named, in the same order (an agent's polls and
// its heartbeat). ObserveSignals therefore looks a signal's object up in
// a list of the objects of the site's previous run of signals, whose
// names lie back to back in memory, before it asks e.objs: with 340,000
// objects each lookup there cost several cache misses (the table's
// control word, the slot, the key's strings), the largest part of the
// engine's per-signal work after the allocations.

// siteOrder is the objects a site's previous run of signals named, in
// the order named (repeats included).
type siteOrder struct {
	names string // device and check names of all entries, back to back
	objs  []orderedObj
}

type orderedObj struct {
	st *objState
	// names[start:devEnd] is the device, names[devEnd:end] the check;
	// start is the previous entry's end.
	devEnd, end uint32
}

// maxOrder bounds the entries of a siteOrder: longer runs (replays) are
// not typical of a site's writes and are not remembered.
const maxOrder = 4096

func newSiteOrder(objs []*objState) *siteOrder {
	n := 0
	for _, st := range objs {
		n += len(st.Device) + len(st.Check)
	}
	var b strings.Builder
	b.Grow(n)
	o := &siteOrder{objs: make([]orderedObj, len(objs))}
	for i, st := range objs {
		b.WriteString(st.Device)
		o.objs[i].devEnd = uint32(b.Len())
		b.WriteString(st.Check)
		o.objs[i].end = uint32(b.Len())
		o.objs[i].st = st
	}
	o.names = b.String()
	return o
}

// is reports whether entry i is the object named device/check.
func (o *siteOrder) is(i int, device, check string) bool {
	var start uint32
	if i > 0 {
		start = o.objs[i-1].end
	}
	x := &o.objs[i]
	return int(x.devEnd-start) == len(device) && int(x.end-x.devEnd) == len(check) &&
		o.names[start:x.devEnd] == device && o.names[x.devEnd:x.end] == check
}

// orderRun follows one run of consecutive signals of a site through the
// site's siteOrder and collects the run's objects for the next.
type orderRun struct {
	active bool
	site   int64
	order  *siteOrder // the site's previous run (nil: none)
	next   int        // the entry expected next
	missed bool       // an object was not in order
	objs   []*objState
}

// find returns the object named device/check if the site's previous run
// named it, else nil. It searches from the entry after the previous hit,
// around the whole order.
func (r *orderRun) find(device, check string) *objState {
	o := r.order
	if o == nil {
		r.missed = true
		return nil
	}
	n := len(o.objs)
	j := r.next
	for range n {
		if j >= n {
			j = 0
		}
		if o.is(j, device, check) {
			r.next = j + 1
			return o.objs[j].st
		}
		j++
	}
	r.missed = true
	return nil
}

// beginRun starts a run of signals of site, ending the previous run.
func (e *Engine) beginRun(r *orderRun, site int64) {
	e.endRun(r)
	r.active, r.site, r.order, r.next, r.missed = true, site, e.orders[site], 0, false
}

// endRun remembers the run's objects for the site's next run if they
// were not all in its order. An order may name objects the run did not
// (a write without its check results): it still serves.
func (e *Engine) endRun(r *orderRun) {
	if !r.active {
		return
	}
	if r.missed {
		if len(r.objs) <= maxOrder {
			if e.orders == nil {
				e.orders = map[int64]*siteOrder{}
			}
			e.orders[r.site] = newSiteOrder(r.objs)
		} else {
			delete(e.orders, r.site)
		}
	}
	clear(r.objs)
	r.objs = r.objs[:0]
	r.active, r.order = false, nil
}
