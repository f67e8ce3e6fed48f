package outbox

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/metric"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// batch returns n points of a host-metrics-like shape, one second apart
// starting at start, tagged with batch id b.
func batch(b, n int, start time.Time) []metric.Point {
	pts := make([]metric.Point, n)
	for i := range pts {
		pts[i] = metric.NewPoint("cpu",
			map[string]string{"host": "srv-gs-musterstadt", "cpu": "cpu" + strconv.Itoa(i), "batch": strconv.Itoa(b)},
			map[string]metric.Value{"usage_user": metric.Float(float64(i) + 0.5), "usage_idle": metric.Float(90)},
			start.Add(time.Duration(i)*time.Second))
	}
	return pts
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuf captures slog output for assertions about log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type recorder struct {
	mu     sync.Mutex
	events []DropEvent
}

func (r *recorder) on(e DropEvent) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) points(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Reason == reason {
			n += e.Points
		}
	}
	return n
}

func open(t testing.TB, dir string, opt Options) *Outbox {
	t.Helper()
	if opt.Sync == 0 {
		opt.Sync = SyncNever // tests do not need the platters; durability tests set it
	}
	o, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("open outbox: %v", err)
	}
	return o
}

// rows parses the records' payloads back into points.
func rows(t testing.TB, recs []Record) []metric.Point {
	t.Helper()
	var out []metric.Point
	var p metric.Parser
	for _, r := range recs {
		if err := p.Parse(r.Data, metric.PrecisionNS, 0); err != nil {
			t.Fatalf("record %d does not parse: %v", r.Seq, err)
		}
		if len(p.Rows) != r.Points {
			t.Fatalf("record %d: header says %d points, payload has %d", r.Seq, r.Points, len(p.Rows))
		}
		for i := range p.Rows {
			out = append(out, p.Rows[i].Point())
		}
	}
	return out
}

func peekAll(t testing.TB, o *Outbox) []Record {
	t.Helper()
	recs, err := o.Peek(1 << 30)
	if err != nil {
		t.Fatalf("peek: %v", err)
	}
	return recs
}

func tag(p metric.Point, k string) string { v, _ := p.Tag(k); return v }

func TestAppendPeekAckReopenKeepsOrderAndTimestamps(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	for b := 0; b < 3; b++ {
		if err := o.Append(batch(b, 5, t0.Add(time.Duration(b)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	recs := peekAll(t, o)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	pts := rows(t, recs)
	if len(pts) != 15 {
		t.Fatalf("got %d points, want 15", len(pts))
	}
	for i, p := range pts {
		want := t0.Add(time.Duration(i/5)*time.Minute + time.Duration(i%5)*time.Second)
		if !p.Time.Equal(want) || tag(p, "batch") != strconv.Itoa(i/5) {
			t.Fatalf("point %d: time %v batch %s, want %v batch %d", i, p.Time, tag(p, "batch"), want, i/5)
		}
	}
	// Peek does not consume: a failed send sees the same records again.
	if again := peekAll(t, o); len(again) != 3 || again[0].Seq != recs[0].Seq {
		t.Fatalf("second peek returned %d records starting at %d", len(again), again[0].Seq)
	}
	if err := o.Ack(recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.PendingPoints != 10 || st.PendingRecords != 2 || st.AckedPoints != 5 {
		t.Fatalf("stats after ack: %+v", st)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = open(t, dir, Options{})
	defer o.Close()
	recs2 := peekAll(t, o)
	if len(recs2) != 2 || recs2[0].Seq != recs[1].Seq || !bytes.Equal(recs2[1].Data, recs[2].Data) {
		t.Fatalf("after reopen: %d records starting at seq %d, want the last two of %v", len(recs2), recs2[0].Seq, recs)
	}
	if st := o.Stats(); st.PendingPoints != 10 {
		t.Fatalf("pending after reopen = %d, want 10", st.PendingPoints)
	}
	// Numbering continues after the reopen.
	if err := o.Append(batch(3, 1, t0)); err != nil {
		t.Fatal(err)
	}
	recs3 := peekAll(t, o)
	if got := recs3[len(recs3)-1].Seq; got != recs[2].Seq+1 {
		t.Fatalf("seq after reopen = %d, want %d", got, recs[2].Seq+1)
	}
}

func TestPeekRespectsMaxPointsAndAckIsPartial(t *testing.T) {
	o := open(t, t.TempDir(), Options{MaxRecordPoints: 10})
	defer o.Close()
	if err := o.Append(batch(0, 35, t0)); err != nil { // 4 records: 10,10,10,5
		t.Fatal(err)
	}
	recs, err := o.Peek(25)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Points+recs[1].Points != 20 {
		t.Fatalf("peek(25) gave %d records", len(recs))
	}
	// At least one record even if it exceeds the limit.
	if one, _ := o.Peek(1); len(one) != 1 || one[0].Points != 10 {
		t.Fatalf("peek(1) = %v", one)
	}
	if err := o.Ack(recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	rest := peekAll(t, o)
	if len(rest) != 3 || rest[0].Seq != recs[1].Seq {
		t.Fatalf("after partial ack: %d records from %d", len(rest), rest[0].Seq)
	}
	// Acking an old sequence again changes nothing; acking past the end
	// only acknowledges what exists.
	if err := o.Ack(recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if got := o.Stats().PendingPoints; got != 25 {
		t.Fatalf("pending after repeated ack = %d, want 25", got)
	}
	if err := o.Ack(1 << 40); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.PendingPoints != 0 || st.PendingRecords != 0 || st.AckedPoints != 35 {
		t.Fatalf("after ack past end: %+v", st)
	}
	if err := o.Append(batch(1, 1, t0)); err != nil {
		t.Fatal(err)
	}
	if r := peekAll(t, o); len(r) != 1 || r[0].Seq != rest[2].Seq+1 {
		t.Fatalf("append after ack past end: %v", r)
	}
}

func TestZeroTimestampGetsAppendTime(t *testing.T) {
	clk := &clock{t: t0}
	o := open(t, t.TempDir(), Options{Now: clk.Now})
	defer o.Close()
	p := metric.NewPoint("schulmon_agent", map[string]string{"host": "a"}, map[string]metric.Value{"uptime_s": metric.Float(1)}, time.Time{})
	if err := o.Append([]metric.Point{p}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour) // a replay an hour later must keep the original time
	pts := rows(t, peekAll(t, o))
	if len(pts) != 1 || !pts[0].Time.Equal(t0) {
		t.Fatalf("got %v, want one point at %v", pts, t0)
	}
}

func TestInvalidPointsAreDroppedAndCounted(t *testing.T) {
	rec := &recorder{}
	o := open(t, t.TempDir(), Options{OnDrop: rec.on})
	defer o.Close()
	good := batch(0, 2, t0)
	noField := metric.NewPoint("cpu", nil, nil, t0)
	nan := metric.NewPoint("cpu", nil, map[string]metric.Value{"x": metric.Float(nanf())}, t0)
	noName := metric.NewPoint("", nil, map[string]metric.Value{"x": metric.Int(1)}, t0)
	if err := o.Append([]metric.Point{good[0], noField, nan, noName, good[1]}); err != nil {
		t.Fatal(err)
	}
	if got := len(rows(t, peekAll(t, o))); got != 2 {
		t.Fatalf("kept %d points, want 2", got)
	}
	if o.DroppedPoints(ReasonInvalid) != 3 || rec.points(ReasonInvalid) != 3 {
		t.Fatalf("invalid drops: counter %d, events %d, want 3", o.DroppedPoints(ReasonInvalid), rec.points(ReasonInvalid))
	}
}

func nanf() float64 { z := 0.0; return z / z }

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func TestTornTailIsTruncatedWithLogLineAndRestKept(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{Sync: SyncEveryAppend})
	for b := 0; b < 3; b++ {
		if err := o.Append(batch(b, 4, t0.Add(time.Duration(b)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	files := segFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("want one segment, have %v", files)
	}
	fi, _ := os.Stat(files[0])
	// Cut the last record in the middle, as a power cut during write would.
	if err := os.Truncate(files[0], fi.Size()-37); err != nil {
		t.Fatal(err)
	}
	var logs logBuf
	rec := &recorder{}
	o = open(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnDrop: rec.on})
	if !strings.Contains(logs.String(), "torn tail truncated") {
		t.Fatalf("no log line about the torn tail; log:\n%s", logs.String())
	}
	recs := peekAll(t, o)
	pts := rows(t, recs)
	if len(recs) != 2 || len(pts) != 8 || tag(pts[7], "batch") != "1" {
		t.Fatalf("after torn tail: %d records, %d points", len(recs), len(pts))
	}
	// The 3 complete lines of the torn record are estimated as lost.
	if rec.points(ReasonCorrupt) == 0 || o.DroppedPoints(ReasonCorrupt) == 0 {
		t.Fatalf("torn tail not counted: events %v", rec.events)
	}
	// Appends continue after the good records and survive another reopen.
	if err := o.Append(batch(9, 2, t0)); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = open(t, dir, Options{})
	defer o.Close()
	recs = peekAll(t, o)
	if len(recs) != 3 || recs[2].Seq != recs[1].Seq+1 || tag(rows(t, recs[2:])[0], "batch") != "9" {
		t.Fatalf("after append on repaired segment: %v", recs)
	}
}

func TestZeroFilledTailIsTruncated(t *testing.T) {
	// Some file systems leave zeroes where unsynced data should have been.
	dir := t.TempDir()
	o := open(t, dir, Options{})
	o.Append(batch(0, 3, t0))
	o.Close()
	f, err := os.OpenFile(segFiles(t, dir)[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 4096))
	f.Close()
	o = open(t, dir, Options{})
	defer o.Close()
	if n := len(rows(t, peekAll(t, o))); n != 3 {
		t.Fatalf("kept %d points, want 3", n)
	}
	if err := o.Append(batch(1, 1, t0)); err != nil {
		t.Fatal(err)
	}
	if n := len(rows(t, peekAll(t, o))); n != 4 {
		t.Fatalf("after append: %d points, want 4", n)
	}
}

func TestCorruptChecksumTruncatesFromThere(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	var offs []int64
	for b := 0; b < 3; b++ {
		offs = append(offs, o.segs[0].size)
		o.Append(batch(b, 4, t0))
	}
	o.Close()
	file := segFiles(t, dir)[0]
	data, _ := os.ReadFile(file)
	data[offs[1]+recordOverhead+5] ^= 0x20 // flip a bit in record 2's payload
	os.WriteFile(file, data, 0o600)

	var logs logBuf
	rec := &recorder{}
	o = open(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnDrop: rec.on})
	defer o.Close()
	if !strings.Contains(logs.String(), "checksum") {
		t.Fatalf("no log line naming the checksum failure; log:\n%s", logs.String())
	}
	pts := rows(t, peekAll(t, o))
	if len(pts) != 4 || tag(pts[0], "batch") != "0" {
		t.Fatalf("kept %d points, want batch 0 only", len(pts))
	}
	if got := rec.points(ReasonCorrupt); got != 8 {
		t.Fatalf("corrupt drop estimated %d points, want 8 (two records of 4 lines)", got)
	}
}

func TestCorruptionFoundWhileReadingDropsRestOfSegment(t *testing.T) {
	// Damage after Open (a failing disk) is found by Peek's checksum check.
	dir := t.TempDir()
	rec := &recorder{}
	o := open(t, dir, Options{OnDrop: rec.on})
	defer o.Close()
	o.Append(batch(0, 4, t0))
	off := o.segs[0].size
	o.Append(batch(1, 4, t0))
	data := []byte{0xff}
	o.segs[0].f.WriteAt(data, off+recordOverhead+1)
	pts := rows(t, peekAll(t, o))
	if len(pts) != 4 {
		t.Fatalf("first peek gave %d points, want the 4 good ones", len(pts))
	}
	o.Ack(peekAll(t, o)[0].Seq)
	if recs := peekAll(t, o); len(recs) != 0 {
		t.Fatalf("damaged record delivered: %v", recs)
	}
	if rec.points(ReasonCorrupt) != 4 {
		t.Fatalf("corrupt drop counted %d points, want 4", rec.points(ReasonCorrupt))
	}
	// Appends go on in a fresh segment and are readable.
	if err := o.Append(batch(2, 2, t0)); err != nil {
		t.Fatal(err)
	}
	if pts := rows(t, peekAll(t, o)); len(pts) != 2 || tag(pts[0], "batch") != "2" {
		t.Fatalf("after damage: %v", pts)
	}
}

func TestSizeLimitDropsOldestFirstAndCounts(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	o := open(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10, OnDrop: rec.on})
	defer o.Close()
	const batches, per = 200, 20
	for b := 0; b < batches; b++ {
		if err := o.Append(batch(b, per, t0.Add(time.Duration(b)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	st := o.Stats()
	if st.Bytes > 64<<10 {
		t.Fatalf("outbox holds %d bytes, limit 64 KiB", st.Bytes)
	}
	dropped := o.DroppedPoints(ReasonSize)
	if dropped == 0 || int(dropped) != rec.points(ReasonSize) {
		t.Fatalf("size drops: counter %d, events %d", dropped, rec.points(ReasonSize))
	}
	if uint64(st.PendingPoints)+dropped != batches*per {
		t.Fatalf("pending %d + dropped %d != appended %d: points vanished", st.PendingPoints, dropped, batches*per)
	}
	pts := rows(t, peekAll(t, o))
	if len(pts) != int(st.PendingPoints) {
		t.Fatalf("peek gives %d points, stats say %d", len(pts), st.PendingPoints)
	}
	// What is left is the newest, contiguous, in order.
	first, _ := strconv.Atoi(tag(pts[0], "batch"))
	if first == 0 || int(dropped) != first*per {
		t.Fatalf("oldest kept batch %d, dropped %d points: not oldest-first", first, dropped)
	}
	for i, p := range pts {
		if want := strconv.Itoa(first + i/per); tag(p, "batch") != want {
			t.Fatalf("point %d from batch %s, want %s", i, tag(p, "batch"), want)
		}
	}
	if len(segFiles(t, dir)) != st.Segments {
		t.Fatalf("%d segment files, stats say %d", len(segFiles(t, dir)), st.Segments)
	}
	// The drop point is what the agent sends to the collector.
	dp := rec.events[0].Point(map[string]string{"host": "a"}, t0)
	if v, _ := dp.Field("dropped_points"); dp.Measurement != DropMeasurement || v.IntValue() != int64(rec.events[0].Points) {
		t.Fatalf("drop point %+v", dp)
	}
}

func TestSizeLimitKeepsAcknowledgedStateAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{MaxBytes: 32 << 10, SegmentBytes: 4 << 10})
	for b := 0; b < 100; b++ {
		o.Append(batch(b, 10, t0))
	}
	before := rows(t, peekAll(t, o))
	o.Close()
	o = open(t, dir, Options{MaxBytes: 32 << 10, SegmentBytes: 4 << 10})
	defer o.Close()
	after := rows(t, peekAll(t, o))
	if len(after) != len(before) || tag(after[0], "batch") != tag(before[0], "batch") {
		t.Fatalf("reopen changed content: %d -> %d points", len(before), len(after))
	}
}

func TestAgeLimitDropsOldRecords(t *testing.T) {
	clk := &clock{t: t0}
	rec := &recorder{}
	o := open(t, t.TempDir(), Options{MaxAge: time.Hour, Now: clk.Now, OnDrop: rec.on})
	defer o.Close()
	o.Append(batch(0, 5, t0))
	clk.Add(30 * time.Minute)
	o.Append(batch(1, 5, clk.Now()))
	clk.Add(31 * time.Minute) // batch 0 is now 61 minutes old, batch 1 31
	pts := rows(t, peekAll(t, o))
	if len(pts) != 5 || tag(pts[0], "batch") != "1" {
		t.Fatalf("after expiry: %d points starting with batch %s", len(pts), tag(pts[0], "batch"))
	}
	if o.DroppedPoints(ReasonAge) != 5 || rec.points(ReasonAge) != 5 {
		t.Fatalf("age drops: counter %d events %d, want 5", o.DroppedPoints(ReasonAge), rec.points(ReasonAge))
	}
	if e := rec.events[0]; !e.Oldest.Equal(t0) || e.Records != 1 {
		t.Fatalf("drop event %+v", e)
	}
	if st := o.Stats(); st.PendingPoints != 5 {
		t.Fatalf("pending %d, want 5", st.PendingPoints)
	}
}

func TestAckedSegmentsAreDeleted(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10})
	defer o.Close()
	for b := 0; b < 40; b++ {
		o.Append(batch(b, 10, t0))
	}
	if n := len(segFiles(t, dir)); n < 5 {
		t.Fatalf("expected several segments, have %d", n)
	}
	for {
		recs, _ := o.Peek(35)
		if len(recs) == 0 {
			break
		}
		if err := o.Ack(recs[len(recs)-1].Seq); err != nil {
			t.Fatal(err)
		}
	}
	files := segFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("after acking everything %d segment files remain: %v", len(files), files)
	}
	if st := o.Stats(); st.Bytes > 4<<10 || st.PendingPoints != 0 {
		t.Fatalf("after acking everything: %+v", st)
	}
}

func TestTornAckFileFallsBackToPreviousSlot(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	for b := 0; b < 4; b++ {
		o.Append(batch(b, 2, t0))
	}
	recs := peekAll(t, o)
	o.Ack(recs[0].Seq) // gen 1 -> slot 1
	o.Ack(recs[1].Seq) // gen 2 -> slot 0
	o.Close()
	// Damage the newest slot (slot 0) as a torn write would.
	f, _ := os.OpenFile(filepath.Join(dir, ackFileName), os.O_RDWR, 0)
	f.WriteAt([]byte{1, 2, 3}, 10)
	f.Close()
	o = open(t, dir, Options{})
	defer o.Close()
	got := peekAll(t, o)
	// The previous position replays one already-acknowledged batch (the
	// collector overwrites it), and loses nothing.
	if len(got) != 3 || got[0].Seq != recs[1].Seq {
		t.Fatalf("after torn ack slot: %d records from %d, want 3 from %d", len(got), got[0].Seq, recs[1].Seq)
	}
}

func TestConcurrentAppendAndSend(t *testing.T) {
	o := open(t, t.TempDir(), Options{SegmentBytes: 8 << 10})
	defer o.Close()
	const producers, batches = 4, 50
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				if err := o.Append(batch(p*1000+b, 5, t0)); err != nil {
					t.Error(err)
				}
			}
		}(p)
	}
	seen := map[string]int{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		recs, err := o.Peek(17)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rows(t, recs) {
			seen[tag(p, "batch")]++
		}
		if len(recs) > 0 {
			o.Ack(recs[len(recs)-1].Seq)
		} else if finished {
			break
		}
	}
	if len(seen) != producers*batches {
		t.Fatalf("saw %d batches, want %d", len(seen), producers*batches)
	}
	for b, n := range seen {
		if n != 5 {
			t.Fatalf("batch %s seen %d points, want 5", b, n)
		}
	}
}

func TestParseSyncPolicy(t *testing.T) {
	for in, want := range map[string]SyncPolicy{"": SyncEveryAppend, "append": SyncEveryAppend, "interval": SyncInterval, "never": SyncNever} {
		if got, err := ParseSyncPolicy(in); err != nil || got != want {
			t.Errorf("ParseSyncPolicy(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseSyncPolicy("sometimes"); err == nil || !strings.Contains(err.Error(), "interval") {
		t.Errorf("bad policy error does not say what to use: %v", err)
	}
}

// TestKill9DuringAppend kills a real process appending with the default
// sync policy and checks that every batch it reported as appended survives.
func TestKill9DuringAppend(t *testing.T) {
	if os.Getenv("OUTBOX_CHILD_DIR") != "" {
		return
	}
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxChild$")
		cmd.Env = append(os.Environ(), "OUTBOX_CHILD_DIR="+dir, "OUTBOX_CHILD_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read acknowledgements until enough appends happened, then kill
		// without warning in the middle of the next ones.
		var acked []string
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 512)
		for strings.Count(string(buf), "\n") < 30 {
			n, err := out.Read(tmp)
			if err != nil {
				t.Fatalf("child ended early: %v", err)
			}
			buf = append(buf, tmp[:n]...)
		}
		cmd.Process.Kill()
		rest := make([]byte, 1<<16)
		for {
			n, err := out.Read(rest)
			buf = append(buf, rest[:n]...)
			if err != nil {
				break
			}
		}
		cmd.Wait()
		for _, l := range strings.Split(string(buf), "\n") {
			if strings.HasPrefix(l, "ok ") {
				acked = append(acked, strings.TrimPrefix(l, "ok "))
			}
		}
		o := open(t, dir, Options{})
		have := map[string]int{}
		for _, p := range rows(t, peekAll(t, o)) {
			have[tag(p, "batch")]++
		}
		o.Close()
		for _, b := range acked {
			if have[b] != 10 {
				t.Fatalf("round %d: batch %s was acknowledged by Append but has %d of 10 points after kill -9", round, b, have[b])
			}
		}
		for b, n := range have {
			if n != 10 {
				t.Fatalf("round %d: batch %s has %d points: a partial record was kept", round, b, n)
			}
		}
	}
}

// TestOutboxChild is the process TestKill9DuringAppend kills.
func TestOutboxChild(t *testing.T) {
	dir := os.Getenv("OUTBOX_CHILD_DIR")
	if dir == "" {
		t.Skip("helper process for TestKill9DuringAppend")
	}
	o, err := Open(dir, Options{Sync: SyncEveryAppend, SegmentBytes: 16 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	round := os.Getenv("OUTBOX_CHILD_ROUND")
	for b := 0; ; b++ {
		id := round + "-" + strconv.Itoa(b)
		pts := batch(0, 10, t0)
		for i := range pts {
			pts[i].SetTag("batch", id)
		}
		if err := o.Append(pts); err != nil {
			fmt.Println("append:", err)
			os.Exit(3)
		}
		fmt.Println("ok " + id)
	}
}
