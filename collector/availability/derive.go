package availability

import (
	"sort"
	"time"
)

// Detection configures when silence or failures become an outage.
type Detection struct {
	// Interval is the expected time between two signals of one object.
	Interval time.Duration `json:"interval" yaml:"interval"`
	// Missed is the number of missed or failed intervals after which an
	// object is down (default 3).
	Missed int `json:"missed" yaml:"missed"`
	// MinDetect is the floor of the detection time (default and minimum
	// 30 s): nothing is declared down sooner.
	MinDetect time.Duration `json:"min_detect" yaml:"min_detect"`
	// RecoverHold is the flap damping: an object must stay up this long
	// for an outage to end; shorter ups between two downs are merged into
	// one outage. Default: the detection time.
	RecoverHold time.Duration `json:"recover_hold" yaml:"recover_hold"`
}

// minDetect is the floor below which nothing is ever declared down.
const minDetect = 30 * time.Second

func (d Detection) withDefaults(interval time.Duration) Detection {
	if d.Interval <= 0 {
		d.Interval = interval
	}
	if d.Missed <= 0 {
		d.Missed = 3
	}
	if d.MinDetect < minDetect {
		d.MinDetect = minDetect
	}
	if d.RecoverHold <= 0 {
		d.RecoverHold = d.detect()
	}
	return d
}

// detect is the detection time: Missed intervals, never less than MinDetect.
func (d Detection) detect() time.Duration {
	return max(time.Duration(d.Missed)*d.Interval, d.MinDetect, minDetect)
}

type params struct {
	I, D, M, hold int64 // interval, detection, merge distance, recover hold (ms)
}

func (d Detection) params() params {
	i := d.Interval.Milliseconds()
	dd := d.detect().Milliseconds()
	return params{I: i, D: dd, M: i + dd, hold: d.RecoverHold.Milliseconds()}
}

// seg is a run of evidence of one kind: ok samples (or failed samples)
// with no silence long enough between them to matter. Segments are what
// the engine keeps per object instead of every sample.
type seg struct {
	S, E    int64
	Fail    bool
	Certain bool // a proven outage (reboot): counts whatever its length
	Cause   Cause
}

// insertSample adds one sample to a sorted segment list. Samples may come
// out of order (an agent replaying its outbox); the list stays sorted.
func insertSample(segs []seg, t int64, fail bool, cause Cause, mergeDist int64) []seg {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].S > t }) // first seg starting after t
	// Inside segment i-1?
	if i > 0 && t <= segs[i-1].E {
		p := segs[i-1]
		if p.Fail == fail {
			return segs
		}
		// Contradicting evidence inside a run: split it around t.
		left := seg{S: p.S, E: t - 1, Fail: p.Fail, Certain: p.Certain, Cause: p.Cause}
		mid := seg{S: t, E: t, Fail: fail, Cause: cause}
		right := seg{S: t + 1, E: p.E, Fail: p.Fail, Certain: p.Certain, Cause: p.Cause}
		out := make([]seg, 0, len(segs)+2)
		out = append(out, segs[:i-1]...)
		if left.E >= left.S {
			out = append(out, left)
		}
		out = append(out, mid)
		if right.E >= right.S {
			out = append(out, right)
		}
		return append(out, segs[i:]...)
	}
	joinPrev := i > 0 && segs[i-1].Fail == fail && !segs[i-1].Certain && t-segs[i-1].E < mergeDist
	joinNext := i < len(segs) && segs[i].Fail == fail && !segs[i].Certain && segs[i].S-t < mergeDist
	switch {
	case joinPrev && joinNext:
		segs[i-1].E = segs[i].E
		return append(segs[:i], segs[i+1:]...)
	case joinPrev:
		segs[i-1].E = t
		return segs
	case joinNext:
		segs[i].S = t
		return segs
	}
	segs = append(segs, seg{})
	copy(segs[i+1:], segs[i:])
	segs[i] = seg{S: t, E: t, Fail: fail, Cause: cause}
	return segs
}

// insertCertain adds a proven outage [s, e) (a reboot) as its own segment,
// cutting away ok evidence it overlaps.
func insertCertain(segs []seg, s, e int64, cause Cause) []seg {
	out := make([]seg, 0, len(segs)+1)
	placed := false
	for _, g := range segs {
		if g.E < s || g.S >= e {
			if !placed && g.S >= e {
				out = append(out, seg{S: s, E: e - 1, Fail: true, Certain: true, Cause: cause})
				placed = true
			}
			out = append(out, g)
			continue
		}
		// Overlap: keep the parts outside [s, e).
		if g.S < s {
			h := g
			h.E = s - 1
			out = append(out, h)
		}
		if !placed {
			out = append(out, seg{S: s, E: e - 1, Fail: true, Certain: true, Cause: cause})
			placed = true
		}
		if g.E >= e {
			h := g
			h.S = e
			out = append(out, h)
		}
	}
	if !placed {
		out = append(out, seg{S: s, E: e - 1, Fail: true, Certain: true, Cause: cause})
	}
	return out
}

// Span is a derived interval during which an object was not up: down (an
// outage) or unknown. End 0 means the span is still open.
type Span struct {
	ID       int64    `json:"id"`
	ObjectID int64    `json:"object_id"`
	State    State    `json:"state"`
	Cause    Cause    `json:"cause"`
	Start    int64    `json:"start_ms"`
	End      int64    `json:"end_ms"` // 0: open
	Children []string `json:"children,omitempty"`
}

type pieceKind uint8

const (
	pOK pieceKind = iota
	pFail
	pSilence
	pGap
)

type piece struct {
	s, e    int64
	kind    pieceKind
	certain bool
	cause   Cause
}

// gapSpan is a monitoring gap: the collector was not running, or the
// site's uplink was known down.
type gapSpan struct {
	Interval
	Cause Cause
}

// Deriving spans: scratch.derive turns an object's evidence into its down
// and unknown spans as of now. It is a pure function of its inputs, which is what makes the state
// rebuildable and replays able to revise the past: the same evidence
// always gives the same spans.
//
// Rules (README.md explains them for users):
//   - a sample covers the time until the next expected sample (one
//     interval); after that comes silence;
//   - silence of a heartbeat object is down (heartbeat lost), of any other
//     object unknown (no data); silence during a monitoring gap is unknown;
//   - a run of failures and (for heartbeat objects) silence is an outage
//     once it has lasted the detection time; proven outages (reboots)
//     count whatever their length;
//   - two outages with less than RecoverHold of up time between them are
//     one outage (flap damping).

// scratch holds buffers reused between derivations, so that a tick over
// 100,000 objects does not allocate per object. The spans returned by
// scratch.derive are valid until its next call.
type scratch struct {
	pieces, split []piece
	spans         []Span
}

func (sc *scratch) derive(segs []seg, p params, heartbeat bool, gaps []gapSpan, now int64) []Span {
	if len(segs) == 0 {
		return nil
	}
	pieces := sc.pieces[:0]
	for i, g := range segs {
		next := max(now, g.E)
		if i+1 < len(segs) {
			next = segs[i+1].S
		}
		cover := min(g.E+p.I, next)
		k := pOK
		if g.Fail {
			k = pFail
		}
		if cover > g.S {
			pieces = append(pieces, piece{g.S, cover, k, g.Certain, g.Cause})
		} else if g.Certain {
			pieces = append(pieces, piece{g.S, g.S + 1, k, true, g.Cause})
		}
		if cover < next {
			pieces = append(pieces, piece{cover, next, pSilence, false, ""})
		}
	}
	sc.pieces = pieces
	if len(gaps) > 0 {
		sc.split = splitGaps(sc.split[:0], pieces, gaps)
		pieces = sc.split
	}

	spans := sc.spans[:0]
	defer func() { sc.spans = spans[:0] }()
	last := len(pieces) - 1
	for i := 0; i <= last; {
		pc := pieces[i]
		switch {
		case pc.kind == pOK:
			i++
		case pc.kind == pGap:
			j := i
			for j+1 <= last && pieces[j+1].kind == pGap && pieces[j+1].cause == pc.cause && pieces[j+1].s == pieces[j].e {
				j++
			}
			spans = append(spans, Span{State: StateUnknown, Cause: pc.cause, Start: pc.s, End: pieces[j].e})
			i = j + 1
		case pc.kind == pFail || (pc.kind == pSilence && heartbeat):
			j, certain := i, pc.certain
			for j+1 <= last && (pieces[j+1].kind == pFail || (pieces[j+1].kind == pSilence && heartbeat)) && pieces[j+1].s == pieces[j].e {
				j++
				certain = certain || pieces[j].certain
			}
			cause := pc.cause
			if pc.kind == pSilence {
				cause = CauseHeartbeatLost
			}
			if end := pieces[j].e; certain || end-pc.s >= p.D {
				spans = append(spans, Span{State: StateDown, Cause: cause, Start: pc.s, End: end})
			}
			i = j + 1
		default: // silence of a non-heartbeat object
			if pc.e-pc.s >= p.D {
				spans = append(spans, Span{State: StateUnknown, Cause: CauseNoData, Start: pc.s, End: pc.e})
			}
			i++
		}
	}
	// A span reaching the end of the evidence and now is still open, unless
	// a sign of life at its end closed it.
	if n := len(spans); n > 0 && spans[n-1].End >= now && pieces[last].e == spans[n-1].End {
		if lg := segs[len(segs)-1]; lg.Fail || spans[n-1].End > lg.S {
			spans[n-1].End = 0
		}
	}
	// Flap damping: merge downs separated by a short up.
	w := 0
	for r := 0; r < len(spans); r++ {
		if w > 0 && spans[r].State == StateDown && spans[w-1].State == StateDown && spans[w-1].End != 0 &&
			spans[r].Start-spans[w-1].End < p.hold {
			spans[w-1].End = spans[r].End
			continue
		}
		spans[w] = spans[r]
		w++
	}
	return spans[:w]
}

// splitGaps marks the silent parts of the evidence that fall into a
// monitoring gap: they are unknown, never down.
func splitGaps(out, pieces []piece, gaps []gapSpan) []piece {
	for _, pc := range pieces {
		if pc.kind != pSilence {
			out = append(out, pc)
			continue
		}
		cur := pc.s
		for _, g := range gaps {
			if g.End <= cur || g.Start >= pc.e {
				continue
			}
			if g.Start > cur {
				out = append(out, piece{cur, g.Start, pSilence, false, ""})
				cur = g.Start
			}
			e := min(g.End, pc.e)
			out = append(out, piece{cur, e, pGap, false, g.Cause})
			cur = e
		}
		if cur < pc.e {
			out = append(out, piece{cur, pc.e, pSilence, false, ""})
		}
	}
	return out
}
