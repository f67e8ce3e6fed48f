package sqlite

import (
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/schulmon/schulmon/metric"
)

// Rollups at write time. Re-reading every raw point of a bucket to roll it
// up cost a quarter of the collector's CPU at 10,000 agents, so the writer
// adds each committed point to an accumulator of its five-minute bucket,
// and Rollup writes that accumulator. The raw re-read stays as the exact
// fallback for every bucket memory cannot vouch for: one that had points
// before this process started, one where an overwrite changed a value (an
// accumulator cannot take back a min or max), one that late data reached
// after it was handed to Rollup, or one dropped for the memory cap.

// bucketOf is the start of t's five-minute bucket, rounded down also for
// negative times so that the bucket b holds exactly the times [b, b+step)
// that the raw recompute reads.
func bucketOf(t int64) int64 {
	step := rollupStep.Nanoseconds()
	m := t % step
	if m < 0 {
		if t < math.MinInt64+step { // the first bucket is cut short
			return math.MinInt64
		}
		m += step
	}
	return t - m
}

// fieldNames interns field keys to small ints: an accumulator entry holds
// an int32 instead of a string, and a lookup m[string(key)] allocates
// nothing.
type fieldNames struct {
	ids   map[string]int32
	names []string
	limit int // 0: no limit
}

func (f *fieldNames) id(key []byte) (int32, bool) {
	if id, ok := f.ids[string(key)]; ok {
		return id, true
	}
	if f.limit > 0 && len(f.names) >= f.limit {
		return 0, false
	}
	if f.ids == nil {
		f.ids = map[string]int32{}
	}
	name := string(key)
	id := int32(len(f.names))
	f.ids[name] = id
	f.names = append(f.names, name)
	return id, true
}

// maxFieldNames bounds the names the writer keeps for the whole process
// (an agent sending random field names); points with more roll up from
// raw points.
const maxFieldNames = 1 << 20

// rollEnt is the rollup of one field of one series in one bucket. The
// entries of a series form a chain through next, usually contiguous as a
// series' fields are first seen together. 40 bytes, no padding.
type rollEnt struct {
	count         int64
	sum, min, max float64
	field         int32
	next          int32 // the series' next entry, -1 at the end
}

func (e *rollEnt) add(v float64) {
	e.count++
	e.sum += v
	// The builtins propagate NaN whatever the order, as the raw
	// recompute sees the points in another order than the writer.
	e.min = min(e.min, v)
	e.max = max(e.max, v)
}

const (
	accChunkBits = 13
	accChunk     = 1 << accChunkBits
	accChunkMask = accChunk - 1
)

// bucketAcc accumulates one bucket: a map from series to its first entry
// and the entries in fixed chunks (no copy of hundreds of megabytes when
// the bucket grows). At 500,000 series × 6 fields that is about 130 MB,
// about half of a map keyed by (series, field).
type bucketAcc struct {
	first  map[int64]int32
	chunks [][]rollEnt
	n      int32
}

func newBucketAcc() *bucketAcc { return &bucketAcc{first: map[int64]int32{}} }

func (a *bucketAcc) at(i int32) *rollEnt { return &a.chunks[i>>accChunkBits][i&accChunkMask] }

func (a *bucketAcc) newEnt(field int32, v float64) int32 {
	if len(a.chunks) == 0 || len(a.chunks[len(a.chunks)-1]) == accChunk {
		// Small buckets (an agent with a clock ahead) stay small; the
		// first chunk grows by append up to accChunk.
		c := accChunk
		if len(a.chunks) == 0 {
			c = 8
		}
		a.chunks = append(a.chunks, make([]rollEnt, 0, c))
	}
	last := &a.chunks[len(a.chunks)-1]
	*last = append(*last, rollEnt{count: 1, sum: v, min: v, max: v, field: field, next: -1})
	a.n++
	return a.n - 1
}

// seriesAcc adds the fields of points of one series to a bucket.
type seriesAcc struct {
	a      *bucketAcc
	series int64
	head   int32
	hint   int32 // where the next field is likely: the entry after the last one found
	fresh  bool  // the series had no entry before
}

func (a *bucketAcc) series(id int64) seriesAcc {
	head, ok := a.first[id]
	if !ok {
		head = -1
	}
	return seriesAcc{a: a, series: id, head: head, hint: head, fresh: !ok}
}

func (c *seriesAcc) add(field int32, v float64) {
	a := c.a
	// Points of a series repeat their fields in the same order, so the
	// search starts after the last field found and mostly hits at once;
	// it wraps around to the head.
	tail := int32(-1)
	if c.hint >= 0 {
		for i := c.hint; i >= 0; {
			e := a.at(i)
			if e.field == field {
				e.add(v)
				c.hint = e.next
				return
			}
			tail = i
			i = e.next
		}
	}
	for i := c.head; i >= 0 && i != c.hint; {
		e := a.at(i)
		if e.field == field {
			e.add(v)
			c.hint = e.next
			return
		}
		if c.hint < 0 {
			tail = i
		}
		i = e.next
	}
	idx := a.newEnt(field, v)
	if tail < 0 {
		c.head = idx
	} else {
		a.at(tail).next = idx
	}
	c.hint = -1
}

// done records a new series' first entry.
func (c *seriesAcc) done() {
	if c.fresh && c.head >= 0 {
		c.a.first[c.series] = c.head
	}
}

// rollupState is the writer's side of the rollups, guarded by Store.rmu.
type rollupState struct {
	// closed: buckets before it were handed to Rollup (or rolled up
	// before this process started). A new point committed for one of
	// them goes into a late accumulator, which Rollup adds to the stored
	// rows: an agent replaying its outbox costs what it sends, not a
	// recompute of every school's points in the bucket.
	closed int64
	// dirty buckets are recomputed from raw points.
	dirty   map[int64]struct{}
	buckets map[int64]*bucketAcc
	late    map[int64]*bucketAcc // closed buckets' new points
	entries int                  // over all buckets
	names   fieldNames
	max     int // cap on entries and accBucketCost per bucket
	// off: no accumulators (max < 0, or too many dirty buckets). Then
	// marks are kept only for buckets before closed: Rollup's scan finds
	// the later ones when their time comes.
	off bool
	log *slog.Logger

	// The bucket of the previous point, as a batch is mostly one bucket.
	lastB   int64
	lastAcc *bucketAcc
	lastOK  bool

	// applyCommitted's scratch.
	confIdx map[[2]int64]int32
	confs   []conflicts
	recNext []int32
}

func newRollupState(closed int64, maxEntries int, log *slog.Logger) *rollupState {
	return &rollupState{closed: closed, dirty: map[int64]struct{}{}, buckets: map[int64]*bucketAcc{}, late: map[int64]*bucketAcc{}, names: fieldNames{limit: maxFieldNames}, max: maxEntries, off: maxEntries < 0, log: log}
}

// accBucketCost is a bucket's own memory (maps, first chunk) in entries,
// charged against the cap: else points at random times, each a bucket of
// its own, would take gigabytes under a cap of entries.
const accBucketCost = 16

// maxDirtyBuckets bounds the marks of buckets not due yet (a clock far
// ahead, times at random); past it the accumulators go off until restart.
var maxDirtyBuckets = 1 << 20

func (r *rollupState) markDirty(b int64) {
	if a := r.buckets[b]; a != nil {
		r.entries -= int(a.n)
		delete(r.buckets, b)
	}
	r.dropLate(b)
	r.lastOK = false
	if b >= r.closed {
		if r.off {
			return
		}
		if len(r.dirty) >= maxDirtyBuckets {
			r.turnOff()
			return
		}
	}
	r.dirty[b] = struct{}{}
}

// dropLate forgets bucket b's late points: the raw recompute reads them.
func (r *rollupState) dropLate(b int64) {
	if a := r.late[b]; a != nil {
		r.entries -= int(a.n)
		delete(r.late, b)
		r.lastOK = false
	}
}

func (r *rollupState) turnOff() {
	r.log.Error("too many five-minute buckets to recompute from raw points (clocks far ahead?); in-memory rollups off until restart", "buckets", len(r.dirty))
	r.off = true
	clear(r.buckets)
	// Their points are stored, but not in the rollups yet.
	for b := range r.late {
		r.dirty[b] = struct{}{}
	}
	clear(r.late)
	r.entries = 0
	for b := range r.dirty {
		if b >= r.closed {
			delete(r.dirty, b)
		}
	}
	r.lastOK = false
}

// bucketFor returns the accumulator that takes points of bucket b (the
// late one for a closed bucket), or nil if b is to be recomputed from raw
// points.
func (r *rollupState) bucketFor(b int64) *bucketAcc {
	if r.lastOK && b == r.lastB {
		return r.lastAcc
	}
	var a *bucketAcc
	_, dirty := r.dirty[b]
	switch {
	case r.off && b < r.closed:
		r.markDirty(b)
	case dirty || r.off:
	case r.buckets[b] != nil: // open, or given back by a Rollup cut short
		a = r.buckets[b]
	case b < r.closed:
		if a = r.late[b]; a == nil {
			a = newBucketAcc()
			r.late[b] = a
		}
	default:
		a = newBucketAcc()
		r.buckets[b] = a
	}
	r.lastB, r.lastAcc, r.lastOK = b, a, true
	return a
}

// addPoint adds a committed new point.
func (r *rollupState) addPoint(series, t int64, fields []metric.RawField) {
	b := bucketOf(t)
	a := r.bucketFor(b)
	if a == nil {
		return
	}
	before := a.n
	c := a.series(series)
	for i := range fields {
		f := &fields[i]
		v, ok := numeric(f.Kind, f.Num)
		if !ok {
			continue
		}
		id, ok := r.names.id(f.Key)
		if !ok {
			c.done()
			r.entries += int(a.n - before)
			r.markDirty(b)
			return
		}
		c.add(id, v)
	}
	c.done()
	r.grew(int(a.n - before))
}

func (r *rollupState) cost() int { return r.entries + accBucketCost*(len(r.buckets)+len(r.late)) }

func (r *rollupState) grew(n int) {
	r.entries += n
	if r.cost() > r.max {
		r.shed()
	}
}

// shed drops the newest buckets' accumulators until they fit 90 % of the
// cap (not to come back at the next point): a clock far ahead fills the
// newest buckets, and the oldest is the one Rollup writes next.
func (r *rollupState) shed() {
	bs := make([]int64, 0, len(r.buckets)+len(r.late))
	for b := range r.buckets {
		bs = append(bs, b)
	}
	for b := range r.late {
		bs = append(bs, b)
	}
	slices.Sort(bs)
	before, n := r.cost(), 0
	for i := len(bs) - 1; i >= 0 && r.cost() > r.max/10*9 && !r.off; i-- {
		r.markDirty(bs[i])
		n++
	}
	if n > 0 {
		r.log.Warn("in-memory rollups over their cap; buckets will be rolled up from raw points", "buckets", n, "from", bucketTime(bs[len(bs)-n]), "entries", before, "cap", r.max)
	}
}

// applyCommitted adds the points of a committed transaction. ov is what
// the merge function recorded about the transaction's overwrites: for a
// point that overwrote another, ov's delta is added instead of the point.
func (r *rollupState) applyCommitted(batch []*writeReq, ov *overwriteLog) {
	if len(ov.recs) == 0 {
		for _, req := range batch {
			for i := range req.points {
				p := &req.points[i]
				r.addPoint(p.seriesID, p.time, p.row.Fields)
			}
		}
		return
	}
	// The merge function is called once per conflicting row, in row
	// order. A (series, time) written k times in the transaction has k
	// calls if it was stored before, else k-1 and the first write is new.
	// The scratch is kept: a replay overwrites every point of a batch.
	if r.confIdx == nil {
		r.confIdx = map[[2]int64]int32{}
	}
	clear(r.confIdx)
	r.confs = r.confs[:0]
	r.recNext = slices.Grow(r.recNext[:0], len(ov.recs))[:len(ov.recs)]
	for i := range ov.recs {
		r.recNext[i] = -1
		k := [2]int64{ov.recs[i].series, ov.recs[i].time}
		if j, ok := r.confIdx[k]; ok {
			c := &r.confs[j]
			r.recNext[c.last] = int32(i)
			c.last = int32(i)
			c.calls++
			continue
		}
		r.confIdx[k] = int32(len(r.confs))
		r.confs = append(r.confs, conflicts{next: int32(i), last: int32(i), calls: 1})
	}
	for _, req := range batch {
		for i := range req.points {
			if j, ok := r.confIdx[[2]int64{req.points[i].seriesID, req.points[i].time}]; ok {
				r.confs[j].occ++
			}
		}
	}
	for _, req := range batch {
		for i := range req.points {
			p := &req.points[i]
			j, ok := r.confIdx[[2]int64{p.seriesID, p.time}]
			if !ok {
				r.addPoint(p.seriesID, p.time, p.row.Fields)
				continue
			}
			c := &r.confs[j]
			first := c.seen == 0
			c.seen++
			switch {
			case c.calls == c.occ-1 && first:
				r.addPoint(p.seriesID, p.time, p.row.Fields)
			case c.calls == c.occ || c.calls == c.occ-1:
				r.addOverwrite(ov, c.next)
				c.next = r.recNext[c.next]
			default:
				// Not the calls expected: no guessing.
				r.markDirty(bucketOf(p.time))
			}
		}
	}
}

// conflicts are the merge calls of one (series, time) in a transaction.
type conflicts struct {
	next, last int32 // the next call's record and the last one's
	calls, occ int32 // merge calls, and writes in the batch
	seen       int32 // writes applied so far
}

// addOverwrite adds what an overwrite added to its point's values.
func (r *rollupState) addOverwrite(ov *overwriteLog, i int32) {
	rec := &ov.recs[i]
	b := bucketOf(rec.time)
	if !rec.exact {
		r.markDirty(b)
		return
	}
	if rec.adds0 == rec.adds1 {
		// The same values again (a replay): nothing changes, even in a
		// bucket rolled up already.
		return
	}
	a := r.bucketFor(b)
	if a == nil {
		return
	}
	before := a.n
	c := a.series(rec.series)
	for _, ad := range ov.adds[rec.adds0:rec.adds1] {
		id, ok := r.names.id(ov.keys[ad.key0:ad.key1])
		if !ok {
			c.done()
			r.entries += int(a.n - before)
			r.markDirty(b)
			return
		}
		c.add(id, ad.v)
	}
	c.done()
	r.grew(int(a.n - before))
}

// take hands Rollup the accumulators and dirty marks of the buckets
// before end and every late accumulator, and closes those buckets: a
// point committed for one of them from now on goes into a new late
// accumulator.
func (r *rollupState) take(end int64) (accs, late map[int64]*bucketAcc, dirty []int64, names []string) {
	if end > r.closed {
		r.closed = end
	}
	accs = map[int64]*bucketAcc{}
	for b, a := range r.buckets {
		if b < end {
			accs[b] = a
			r.entries -= int(a.n)
			delete(r.buckets, b)
		}
	}
	late = r.late
	for _, a := range late {
		r.entries -= int(a.n)
	}
	r.late = map[int64]*bucketAcc{}
	for b := range r.dirty {
		if b < end {
			dirty = append(dirty, b)
			delete(r.dirty, b)
		}
	}
	r.lastOK = false
	// names only grows, and the taken entries refer to names it has now.
	return accs, late, dirty, r.names.names
}

// putBack returns what a Rollup cut short did not get to. An accumulator
// is still exact unless its bucket was marked dirty meanwhile. Late
// accumulators come back as dirty marks: a newer late accumulator may
// have begun meanwhile, and the raw recompute covers both.
func (r *rollupState) putBack(accs, late map[int64]*bucketAcc, dirty []int64) {
	for b := range late {
		r.markDirty(b)
	}
	for _, b := range dirty {
		r.markDirty(b)
	}
	for b, a := range accs {
		if _, d := r.dirty[b]; d || r.off {
			continue
		}
		if r.buckets[b] != nil || r.late[b] != nil {
			// Points came for the bucket while Rollup had it: two
			// accumulators for one bucket, recomputed instead.
			r.markDirty(b)
			continue
		}
		r.buckets[b] = a
		r.entries += int(a.n)
	}
	r.lastOK = false
	if r.cost() > r.max {
		r.shed()
	}
}

// bucketTime is bucket b for messages.
func bucketTime(b int64) time.Time { return time.Unix(0, b).UTC() }
