package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

// The in-memory rollups must give exactly what the raw recompute gives.
// Float sums depend on the order of the additions, and the writer sees
// points in another order than the raw read (time, series): the tests use
// eighths, whose sums are exact in any order.

type rollRow struct {
	count         int64
	sum, min, max float64
}

// rollTable is a bucket's rollups by "series/field".
type rollTable map[string]rollRow

func tableFromAcc(a *bucketAcc, names []string) rollTable {
	out := rollTable{}
	for id, i := range a.first {
		for i >= 0 {
			e := a.at(i)
			k := fmt.Sprintf("%d/%s", id, names[e.field])
			if _, dup := out[k]; dup {
				panic("field twice in a series' chain: " + k)
			}
			out[k] = rollRow{e.count, e.sum, e.min, e.max}
			i = e.next
		}
	}
	return out
}

// memRollup is bucket b's accumulator now, nil if there is none.
func memRollup(t *testing.T, s *Store, b int64) rollTable {
	t.Helper()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	a := s.roll.buckets[b]
	if a == nil {
		return nil
	}
	return tableFromAcc(a, s.roll.names.names)
}

// rawRollup recomputes bucket b from the raw points.
func rawRollup(t *testing.T, s *Store, b int64) rollTable {
	t.Helper()
	a, names, _, err := s.readBucket(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return tableFromAcc(a, names)
}

// storedRollup reads bucket b from the rollups table.
func storedRollup(t *testing.T, s *Store, b int64) rollTable {
	t.Helper()
	rs, err := s.DB().Query(`SELECT series_id, field, count, sum, min, max FROM rollups WHERE bucket = ?`, b)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := rollTable{}
	for rs.Next() {
		var id int64
		var f string
		var r rollRow
		if err := rs.Scan(&id, &f, &r.count, &r.sum, &r.min, &r.max); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%d/%s", id, f)] = r
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkRollup(t *testing.T, what string, got, want rollTable) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the raw recompute is empty; the test is wrong", what)
	}
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s missing (want %+v)", k, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: %+v, want %+v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s extra: %+v", k, g))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("… %d more", len(diffs)-10))
		}
		t.Errorf("%s differs from the raw recompute:\n%s", what, strings.Join(diffs, "\n"))
	}
}

// linePoints parses line protocol (nanosecond times) into points of the
// device given as the tag "dev" (default 7).
func linePoints(t testing.TB, body string) []store.Point {
	t.Helper()
	var p metric.Parser
	if err := p.Parse([]byte(body), metric.PrecisionNS, 0); err != nil {
		t.Fatal(err)
	}
	out := make([]store.Point, len(p.Rows))
	for i := range p.Rows {
		r := p.Rows[i]
		dev := int64(7)
		for _, tg := range r.Tags {
			if string(tg.Key) == "dev" {
				fmt.Sscan(string(tg.Value), &dev)
			}
		}
		out[i] = store.Point{SiteID: 1, DeviceID: dev, Row: &r}
	}
	return out
}

// writeLines writes line protocol to s and fails the test on an error.
func writeLines(t *testing.T, s *Store, body string) {
	t.Helper()
	if err := s.Write(context.Background(), linePoints(t, body)); err != nil {
		t.Fatal(err)
	}
}

const stepNS = int64(rollupStep)

// mixLine is one point of a realistic mix: float, int, uint, bool and
// string fields, some fields only on some points.
func mixLine(rng *rand.Rand, series int, ts int64) string {
	eighth := func() string { return fmt.Sprintf("%g", float64(rng.Intn(8000)-1000)/8) }
	var b strings.Builder
	switch series % 3 {
	case 0:
		fmt.Fprintf(&b, "cpu,dev=%d,cpu=cpu%d usage_user=%s,usage_system=%s,usage_idle=%s", 1+series%50, series, eighth(), eighth(), eighth())
		if rng.Intn(2) == 0 {
			fmt.Fprintf(&b, ",usage_steal=%s", eighth())
		}
	case 1:
		fmt.Fprintf(&b, "mem,dev=%d,slot=%d total=8589934592i,used=%di,free=%du,ok=%t,state=\"fine\"", 1+series%50, series, rng.Intn(1<<30), rng.Intn(1<<30), rng.Intn(2) == 0)
	default:
		fmt.Fprintf(&b, "net,dev=%d,interface=eth%d bytes_recv=%di,bytes_sent=%di,up=true,name=\"eth\",speed=%s", 1+series%50, series, rng.Intn(1<<40), -rng.Intn(1000), eighth())
	}
	fmt.Fprintf(&b, " %d\n", ts)
	return b.String()
}

// TestRollupInMemoryEqualsRaw: many series of every field kind over
// several buckets, written in shuffled batches (out of time order): each
// bucket's accumulator, and what Rollup writes from it, equal the raw
// recompute.
func TestRollupInMemoryEqualsRaw(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	base := 1000 * stepNS
	var lines []string
	for series := 0; series < 300; series++ {
		for k := 0; k < 12; k++ { // every 100 s over 4 buckets, with jitter
			lines = append(lines, mixLine(rng, series, base+int64(k)*100e9+int64(rng.Intn(1e9))))
		}
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	for len(lines) > 0 {
		n := min(len(lines), 1+rng.Intn(700))
		if err := s.Write(ctx, linePoints(t, strings.Join(lines[:n], ""))); err != nil {
			t.Fatal(err)
		}
		lines = lines[n:]
	}
	for b := base; b < base+4*stepNS; b += stepNS {
		checkRollup(t, fmt.Sprintf("accumulator of bucket %d", b/stepNS), memRollup(t, s, b), rawRollup(t, s, b))
	}
	if err := s.Rollup(ctx, time.Unix(0, base+5*stepNS)); err != nil {
		t.Fatal(err)
	}
	for b := base; b < base+4*stepNS; b += stepNS {
		checkRollup(t, fmt.Sprintf("rollups of bucket %d", b/stepNS), storedRollup(t, s, b), rawRollup(t, s, b))
	}
	if st := s.Stats(); st.RollupMemoryBuckets != 4 || st.RollupRawBuckets != 0 || st.RollupEntries != 0 {
		t.Errorf("stats %+v, want 4 buckets from memory, none from raw points, none left", st)
	}
	if wm := s.wm.Load(); wm != base+5*stepNS {
		t.Errorf("watermark %d, want %d", wm, base+5*stepNS)
	}
}

// TestRollupOverwriteInMemory: overwrites of points whose bucket is still
// in memory are not counted twice. Added fields and the same values again
// keep the bucket in memory; a changed value sends it to the raw
// recompute.
func TestRollupOverwriteInMemory(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	b := 2000 * stepNS
	at := func(sec int) int64 { return b + int64(sec)*1e9 }
	inMemory := func(what string) {
		t.Helper()
		mem := memRollup(t, s, b)
		if mem == nil {
			t.Fatalf("%s: bucket no longer in memory", what)
		}
		checkRollup(t, what, mem, rawRollup(t, s, b))
	}

	// One group commit: the same series and time twice in one statement,
	// and again in a later statement of the transaction.
	var body strings.Builder
	fmt.Fprintf(&body, "cpu,host=a v=1,w=2i %d\n", at(10))
	fmt.Fprintf(&body, "cpu,host=a v=1,x=3u,s=\"x\" %d\n", at(10))
	for i := 0; i < insertChunk+10; i++ {
		fmt.Fprintf(&body, "cpu,host=n%d v=%d %d\n", i, i, at(20))
	}
	fmt.Fprintf(&body, "cpu,host=n5 y=0.5,v=5 %d\n", at(20))
	writeLines(t, s, body.String())
	inMemory("duplicates in one group commit")

	writeLines(t, s, fmt.Sprintf("cpu,host=a z=true,s=\"y\" %d\n", at(10)))
	inMemory("a later commit adding a field")
	writeLines(t, s, fmt.Sprintf("cpu,host=a v=1,w=2i %d\ncpu,host=n5 v=5 %d\n", at(10), at(20)))
	inMemory("a replay of the same values")
	writeLines(t, s, fmt.Sprintf("cpu,host=a v=1i %d\n", at(10))) // int 1 is float 1
	inMemory("the same value as another kind")
	writeLines(t, s, fmt.Sprintf("cpu,host=a u=7.5 %d\ncpu,host=a u=8.5 %d\n", at(30), at(30)))
	if memRollup(t, s, b) != nil {
		t.Fatal("a field overwritten with another value in one commit: bucket still in memory")
	}
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, "rollups after a changed value", storedRollup(t, s, b), rawRollup(t, s, b))
	if st := s.Stats(); st.RollupRawBuckets != 1 || st.RollupMemoryBuckets != 0 {
		t.Errorf("stats %+v, want the bucket recomputed from raw points", st)
	}

	// The next bucket: a value changed in a later commit.
	b += stepNS
	writeLines(t, s, fmt.Sprintf("cpu,host=a v=1,w=2 %d\n", at(10)))
	writeLines(t, s, fmt.Sprintf("cpu,host=a w=3 %d\n", at(10)))
	if memRollup(t, s, b) != nil {
		t.Fatal("a field overwritten with another value: bucket still in memory")
	}
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, "rollups after a changed value in a later commit", storedRollup(t, s, b), rawRollup(t, s, b))
	for k, r := range storedRollup(t, s, b) {
		if strings.HasSuffix(k, "/w") && r != (rollRow{1, 3, 3, 3}) {
			t.Errorf("w after the overwrite: %+v, want the one later value", r)
		}
	}
}

// TestRollupAfterRestart: points written before a restart are in the
// database but not in memory, so their bucket is recomputed from raw
// points; a bucket begun after the restart comes from memory.
func TestRollupAfterRestart(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	b := 3000 * stepNS
	if err := s.Write(ctx, linePoints(t, fmt.Sprintf("cpu,host=a v=1 %d\ncpu,host=b v=2 %d\n", b+1e9, b+2e9))); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(0, b)); err != nil { // the watermark at b
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(ctx, linePoints(t, fmt.Sprintf("cpu,host=a v=3 %d\ncpu,host=c v=4 %d\ncpu,host=a v=5 %d\n", b+3e9, b+4e9, b+stepNS+1e9))); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(0, b+2*stepNS)); err != nil {
		t.Fatal(err)
	}
	raw := rawRollup(t, s, b)
	checkRollup(t, "bucket begun before the restart", storedRollup(t, s, b), raw)
	var n int64
	for _, r := range raw {
		n += r.count
	}
	if n != 4 {
		t.Errorf("raw recompute counts %d values, want 4", n)
	}
	checkRollup(t, "bucket begun after the restart", storedRollup(t, s, b+stepNS), rawRollup(t, s, b+stepNS))
	if st := s.Stats(); st.RollupRawBuckets != 1 || st.RollupMemoryBuckets != 1 {
		t.Errorf("stats %+v, want one bucket from raw points and one from memory", st)
	}
}

// TestRollupFailedCommitAddsNothing: a transaction that fails (here an
// overwrite with a corrupt field, which the merge rejects) leaves the
// accumulators as they were.
func TestRollupFailedCommitAddsNothing(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	b := 4000 * stepNS
	if err := s.Write(ctx, linePoints(t, fmt.Sprintf("cpu,host=a v=1 %d\n", b+1e9))); err != nil {
		t.Fatal(err)
	}
	before := memRollup(t, s, b)
	bad := linePoints(t, fmt.Sprintf("cpu,host=new v=2 %d\ncpu,host=a v=1 %d\ncpu,host=a v=9 %d\n", b+2e9, b+3e9, b+1e9))
	bad[2].Row.Fields = append(bad[2].Row.Fields, metric.RawField{Key: []byte("broken"), Kind: 99})
	if err := s.Write(ctx, bad); err == nil {
		t.Fatal("write with a corrupt overwrite succeeded; the test needs it to fail")
	}
	checkRollup(t, "accumulator after a failed commit", memRollup(t, s, b), before)
	checkRollup(t, "accumulator after a failed commit", memRollup(t, s, b), rawRollup(t, s, b))
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, "rollups after a failed commit", storedRollup(t, s, b), rawRollup(t, s, b))
}

// TestRollupCap: past the cap the newest buckets (here one far ahead, an
// agent with a wrong clock) are dropped from memory and rolled up from
// raw points, with the same result.
func TestRollupCap(t *testing.T) {
	var logged bytes.Buffer
	var logMu sync.Mutex
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "points.db"), Options{
		MaxRollupEntries: 150,
		Logger:           slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b := 5000 * stepNS
	future := b + 100000*stepNS
	var body strings.Builder
	for i := 0; i < 20; i++ { // 20 series × 2 fields in each of two buckets
		fmt.Fprintf(&body, "cpu,host=h%d v=%d,w=%d.5 %d\n", i, i, i, b+int64(i)*1e9)
		fmt.Fprintf(&body, "cpu,host=h%d v=%d,w=%d.5 %d\n", i, 2*i, i, b+stepNS+int64(i)*1e9)
	}
	fmt.Fprintf(&body, "cpu,host=ahead v=1 %d\n", future)
	if err := s.Write(ctx, linePoints(t, body.String())); err != nil {
		t.Fatal(err)
	}
	if memRollup(t, s, future) == nil || memRollup(t, s, b) == nil || memRollup(t, s, b+stepNS) == nil {
		t.Errorf("81 entries and 3 buckets (%d) under a cap of 150: all buckets should be in memory", 81+3*accBucketCost)
	}
	// 40 more entries in the first bucket: over the cap, the bucket ahead
	// goes, then the second.
	body.Reset()
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&body, "cpu,host=h%d x=%d,y=%d %d\n", i, i, i, b+int64(i)*1e9+5e8)
	}
	if err := s.Write(ctx, linePoints(t, body.String())); err != nil {
		t.Fatal(err)
	}
	if memRollup(t, s, b) == nil || memRollup(t, s, b+stepNS) != nil || memRollup(t, s, future) != nil {
		t.Errorf("over the cap: the newer buckets should be dropped, the oldest kept")
	}
	if st := s.Stats(); st.RollupEntries != 80 {
		t.Errorf("%d entries in memory, want the 80 of the oldest bucket", st.RollupEntries)
	}
	if err := s.Rollup(ctx, time.Unix(0, b+2*stepNS)); err != nil {
		t.Fatal(err)
	}
	for _, bk := range []int64{b, b + stepNS} {
		checkRollup(t, fmt.Sprintf("bucket %d", bk/stepNS), storedRollup(t, s, bk), rawRollup(t, s, bk))
	}
	if st := s.Stats(); st.RollupMemoryBuckets != 1 || st.RollupRawBuckets != 1 {
		t.Errorf("stats %+v, want one bucket from memory and one from raw points", st)
	}
	// The bucket ahead stays marked until its time comes.
	if err := s.Rollup(ctx, time.Unix(0, future+stepNS)); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, "bucket ahead", storedRollup(t, s, future), rawRollup(t, s, future))
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logged.String(), "over their cap"); n == 0 || n > 2 {
		t.Errorf("%d log lines about the cap, want one or two:\n%s", n, logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRollupConcurrentWithWrites: writers add current points, late
// points and overwrites (same values, added fields, changed values) while
// Rollup runs with a clock moving on; in the end every bucket's rollups
// equal the raw recompute. Run it with -race.
func TestRollupConcurrentWithWrites(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	base := 6000 * stepNS
	const buckets = 12
	var clock sync.Mutex
	now := base // the simulated time, moved on by the writers
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			type point struct {
				series, fields string
				ts             int64
			}
			var written []point
			for round := 0; round < 60; round++ {
				clock.Lock()
				now += buckets * stepNS / (4 * 60)
				cur := now
				clock.Unlock()
				// Some rounds bring what sends a bucket to the raw
				// recompute, so that both ways are taken.
				disrupt := w == 0 && round%20 == 0
				var body strings.Builder
				for i := 0; i < 30; i++ {
					if len(written) > 0 && rng.Intn(10) == 0 {
						// An overwrite of an earlier point: the same again,
						// a field added or a value changed.
						p := written[rng.Intn(len(written))]
						switch {
						case disrupt && rng.Intn(2) == 0:
							p.fields = fmt.Sprintf("v=%d.125", rng.Intn(99))
						case rng.Intn(2) == 0:
							p.fields += fmt.Sprintf(",extra%d=%di", rng.Intn(3), rng.Intn(9))
						}
						fmt.Fprintf(&body, "%s %s %d\n", p.series, p.fields, p.ts)
						continue
					}
					ts := cur - int64(rng.Intn(20e9))
					if disrupt && rng.Intn(5) == 0 { // late: into a bucket probably rolled up
						ts = cur - int64(rng.Intn(3))*stepNS - int64(rng.Intn(300e9))
					}
					p := point{
						series: fmt.Sprintf("cpu,host=w%dh%d", w, rng.Intn(20)),
						fields: fmt.Sprintf("v=%d.5,n=%di,ok=%t,s=\"x\"", rng.Intn(100), rng.Intn(100), rng.Intn(2) == 0),
						ts:     min(max(ts, base), base+buckets*stepNS-1),
					}
					written = append(written, p)
					fmt.Fprintf(&body, "%s %s %d\n", p.series, p.fields, p.ts)
				}
				if err := s.Write(ctx, linePoints(t, body.String())); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	done := make(chan struct{})
	rolled := make(chan struct{})
	go func() {
		defer close(rolled)
		for {
			select {
			case <-done:
				return
			default:
			}
			clock.Lock()
			cur := now
			clock.Unlock()
			if err := s.Rollup(ctx, time.Unix(0, cur)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(done)
	<-rolled
	if err := s.Rollup(ctx, time.Unix(0, base+(buckets+1)*stepNS)); err != nil {
		t.Fatal(err)
	}
	for b := base; b < base+buckets*stepNS; b += stepNS {
		checkRollup(t, fmt.Sprintf("bucket %d", (b-base)/stepNS), storedRollup(t, s, b), rawRollup(t, s, b))
	}
	st := s.Stats()
	t.Logf("stats %+v", st)
	if st.RollupMemoryBuckets < 3 || st.RollupRawBuckets < 3 || st.RollupLateBuckets < 3 {
		t.Error("too few buckets from memory, from raw points or with late points added: the test does not test all three")
	}
}

// TestMergeFieldsDelta checks what the merge reports of an overwrite's
// change to the point's numeric values.
func TestMergeFieldsDelta(t *testing.T) {
	enc := func(fields string) []byte {
		var p metric.Parser
		if err := p.Parse([]byte("m "+fields), metric.PrecisionNS, 0); err != nil {
			t.Fatal(err)
		}
		return appendFields(nil, p.Rows[0].Fields)
	}
	for _, c := range []struct {
		old, nw string
		exact   bool
		adds    string
	}{
		{"a=1", "b=2i", true, "b=2"},
		{"a=1,b=2i", "b=2,a=1u", true, ""}, // same values, other kinds
		{"a=1", "a=2", false, ""},
		{"a=1", `a="x"`, false, ""}, // no longer a number
		{`a="x",b=t`, "a=3,c=f,b=t", true, "a=3 c=0"},
		{`s="x"`, `s="y"`, true, ""},
		{"a=1,a=1", "a=1,a=2", true, "a=2"}, // the second a is appended, as mergeFieldBlobs does
	} {
		var adds []string
		_, exact, err := mergeFields(enc(c.old), enc(c.nw), func(key []byte, v float64) {
			adds = append(adds, fmt.Sprintf("%s=%g", key, v))
		})
		if err != nil {
			t.Fatal(err)
		}
		if exact != c.exact || (exact && strings.Join(adds, " ") != c.adds) {
			t.Errorf("%s then %s: exact %v adds %q, want %v %q", c.old, c.nw, exact, adds, c.exact, c.adds)
		}
	}
	if _, exact, _ := mergeFields([]byte{3, 1, 'a'}, enc("a=1"), func([]byte, float64) {}); exact {
		t.Error("a corrupt stored blob is replaced: not an exact delta")
	}
}

func TestBucketOf(t *testing.T) {
	for _, c := range []struct{ t, want int64 }{
		{0, 0}, {1, 0}, {stepNS - 1, 0}, {stepNS, stepNS},
		{-1, -stepNS}, {-stepNS, -stepNS}, {-stepNS - 1, -2 * stepNS},
	} {
		if got := bucketOf(c.t); got != c.want {
			t.Errorf("bucketOf(%d) = %d, want %d", c.t, got, c.want)
		}
	}
}

// TestRollupCutShort: a run that stops (deadline) gives its buckets
// back, and a bucket whose write failed is recomputed from raw points
// next time; nothing is lost either way.
func TestRollupCutShort(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	b := 7000 * stepNS
	var body strings.Builder
	for k := int64(0); k < 3; k++ {
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&body, "cpu,host=h%d v=%d.25,n=%di %d\n", i, i, k, b+k*stepNS+int64(i)*1e9)
		}
	}
	if err := s.Write(ctx, linePoints(t, body.String())); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Rollup(cancelled, time.Unix(0, b+3*stepNS)); err == nil {
		t.Fatal("rollup with a cancelled context succeeded")
	}
	for k := int64(0); k < 3; k++ {
		if memRollup(t, s, b+k*stepNS) == nil {
			t.Fatalf("bucket %d not given back after a cancelled run", k)
		}
	}
	// Writing fails: every bucket goes back to memory, the first one
	// too, as its accumulator is still exact.
	if _, err := s.DB().Exec(`ALTER TABLE rollups RENAME TO rollups_away`); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(0, b+3*stepNS)); err == nil {
		t.Fatal("rollup without its table succeeded")
	}
	if _, err := s.DB().Exec(`ALTER TABLE rollups_away RENAME TO rollups`); err != nil {
		t.Fatal(err)
	}
	for k := int64(0); k < 3; k++ {
		if memRollup(t, s, b+k*stepNS) == nil {
			t.Errorf("bucket %d not given back after a failed write", k)
		}
	}
	if err := s.Rollup(ctx, time.Unix(0, b+3*stepNS)); err != nil {
		t.Fatal(err)
	}
	for k := int64(0); k < 3; k++ {
		checkRollup(t, fmt.Sprintf("bucket %d", k), storedRollup(t, s, b+k*stepNS), rawRollup(t, s, b+k*stepNS))
	}
	if st := s.Stats(); st.RollupRawBuckets != 0 || st.RollupMemoryBuckets != 3 {
		t.Errorf("stats %+v, want three buckets from memory", st)
	}
}

// TestRollupTooManyDirtyBuckets: past maxDirtyBuckets marks (clocks far
// ahead) the accumulators go off, and every bucket is still rolled up,
// from raw points.
func TestRollupTooManyDirtyBuckets(t *testing.T) {
	old := maxDirtyBuckets
	maxDirtyBuckets = 2
	defer func() { maxDirtyBuckets = old }()
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	b := 8000 * stepNS
	write := func(v string) {
		t.Helper()
		var body strings.Builder
		for k := int64(0); k < 4; k++ {
			fmt.Fprintf(&body, "cpu,host=a v=%s %d\n", v, b+k*stepNS+1e9)
		}
		if err := s.Write(ctx, linePoints(t, body.String())); err != nil {
			t.Fatal(err)
		}
	}
	write("1")
	write("2") // changed values: four buckets to mark, room for two
	s.rmu.Lock()
	off, n, dirty := s.roll.off, len(s.roll.buckets), len(s.roll.dirty)
	s.rmu.Unlock()
	if !off || n != 0 || dirty != 0 {
		t.Errorf("off %v, %d accumulators, %d marks; want off, none, none", off, n, dirty)
	}
	if err := s.Write(ctx, linePoints(t, fmt.Sprintf("cpu,host=a v=3 %d\n", b+4*stepNS))); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(0, b+5*stepNS)); err != nil {
		t.Fatal(err)
	}
	for k := int64(0); k < 5; k++ {
		checkRollup(t, fmt.Sprintf("bucket %d", k), storedRollup(t, s, b+k*stepNS), rawRollup(t, s, b+k*stepNS))
	}
	if st := s.Stats(); st.RollupRawBuckets != 5 || st.RollupMemoryBuckets != 0 {
		t.Errorf("stats %+v, want five buckets from raw points", st)
	}
}

// TestRollupLatePoints: new points for a bucket already rolled up (an
// agent's outbox replayed) are added to its stored rollups, without a
// recompute of the whole bucket; so are fields an overwrite adds. A
// changed value still sends the bucket to the raw recompute.
func TestRollupLatePoints(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	b := 7000 * stepNS
	at := func(sec int) int64 { return b + int64(sec)*1e9 }
	roll := func() {
		t.Helper()
		if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
			t.Fatal(err)
		}
	}
	writeLines(t, s, fmt.Sprintf("cpu,host=a v=1,w=2i %d\ncpu,host=b v=4 %d\n", at(10), at(20)))
	roll()
	writeLines(t, s, fmt.Sprintf("cpu,host=a v=3 %d\ncpu,host=c v=-1 %d\ncpu,host=b v=4 %d\ncpu,host=a x=7 %d\n", at(30), at(40), at(20), at(10)))
	roll()
	checkRollup(t, "rollups after late points", storedRollup(t, s, b), rawRollup(t, s, b))
	if got := storedRollup(t, s, b)["1/v"]; got != (rollRow{2, 4, 1, 3}) {
		t.Errorf("host a's v after a late point: %+v, want count 2, sum 4, min 1, max 3", got)
	}
	if st := s.Stats(); st.RollupMemoryBuckets != 1 || st.RollupLateBuckets != 1 || st.RollupRawBuckets != 0 {
		t.Errorf("stats %+v, want the bucket from memory once and late points added once, no recompute", st)
	}
	writeLines(t, s, fmt.Sprintf("cpu,host=b v=5 %d\n", at(20)))
	roll()
	checkRollup(t, "rollups after a late changed value", storedRollup(t, s, b), rawRollup(t, s, b))
	if st := s.Stats(); st.RollupRawBuckets != 1 {
		t.Errorf("stats %+v, want the bucket recomputed from raw points after a changed value", st)
	}
}

// TestRollupRecomputeBeginsBetweenCommits: a late point committed just
// before a raw recompute begins its read is counted once, whether the
// read sees it or not. The recompute's read waits for the writer to
// account for its commit; here the writer pauses in between.
func TestRollupRecomputeBeginsBetweenCommits(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	b := 8000 * stepNS
	writeLines(t, s, fmt.Sprintf("cpu,host=a v=1 %d\n", b+1e9))
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	writeLines(t, s, fmt.Sprintf("cpu,host=a v=2 %d\n", b+1e9)) // a changed value: raw recompute due
	recomputed := make(chan error, 1)
	var once sync.Once
	afterCommit = func() {
		once.Do(func() {
			go func() { recomputed <- s.Rollup(ctx, time.Unix(0, b+stepNS)) }()
			time.Sleep(100 * time.Millisecond) // the recompute would begin its read now
		})
	}
	defer func() { afterCommit = nil }()
	writeLines(t, s, fmt.Sprintf("cpu,host=c v=5 %d\n", b+2e9))
	if err := <-recomputed; err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, "rollups after a recompute beside a late point", storedRollup(t, s, b), rawRollup(t, s, b))
	if st := s.Stats(); st.RollupRawBuckets != 1 {
		t.Errorf("stats %+v, want one recompute from raw points", st)
	}
}

// TestRollupRestsBetweenTransactions: Rollup rests between its
// transactions (here far longer than the deadline), and a run cut short
// in its rest keeps the bucket to write again, from memory or, with late
// points half added, from raw points.
func TestRollupRestsBetweenTransactions(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	b := 9000 * stepNS
	var body strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&body, "cpu,host=h%d v=%d %d\n", i, i, b+int64(i)*1e9)
	}
	if err := s.Write(ctx, linePoints(t, body.String())); err != nil {
		t.Fatal(err)
	}
	defer func(rows int, pace float64) { rollupTxRows, rollupPace = rows, pace }(rollupTxRows, rollupPace)
	rollupTxRows, rollupPace = 5, 1e6
	// The values rolled up so far: the first transaction's only.
	short := func(what string, want int64) {
		t.Helper()
		cut, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if err := s.Rollup(cut, time.Unix(0, b+stepNS)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: Rollup resting past its deadline returned %v", what, err)
		}
		var n int64
		for _, r := range storedRollup(t, s, b) {
			n += r.count
		}
		if n != want {
			t.Errorf("%s: %d values rolled up before the rest, want %d", what, n, want)
		}
	}
	short("from memory", 5)
	// A point for the bucket given back joins its accumulator.
	if err := s.Write(ctx, linePoints(t, fmt.Sprintf("cpu,host=h0 v=100 %d\n", b+int64(30)*1e9))); err != nil {
		t.Fatal(err)
	}
	rollupPace = 0
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, "bucket after a run cut short", storedRollup(t, s, b), rawRollup(t, s, b))

	body.Reset()
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&body, "cpu,host=h%d v=%d %d\n", i, i, b+int64(i)*1e9+5e8)
	}
	if err := s.Write(ctx, linePoints(t, body.String())); err != nil {
		t.Fatal(err)
	}
	rollupPace = 1e6
	short("late points", 26)
	rollupPace = 0
	if err := s.Rollup(ctx, time.Unix(0, b+stepNS)); err != nil {
		t.Fatal(err)
	}
	checkRollup(t, "bucket after adding late points was cut short", storedRollup(t, s, b), rawRollup(t, s, b))
	if st := s.Stats(); st.RollupMemoryBuckets != 1 || st.RollupRawBuckets != 1 || st.RollupLateBuckets != 0 {
		t.Errorf("stats %+v, want the bucket from memory, then recomputed from raw points", st)
	}
}
