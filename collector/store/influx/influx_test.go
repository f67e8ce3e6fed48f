package influx

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/store/influx/influxtest"
	"github.com/schulmon/schulmon/metric"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestMain(m *testing.M) {
	code := m.Run()
	influxtest.StopShared()
	os.Exit(code)
}

func openStore(t *testing.T, url, bucket string, mod func(*Options)) *Store {
	t.Helper()
	opt := Options{URL: url, Bucket: bucket, Token: influxtest.Token, QueueDir: t.TempDir(),
		RetryInterval: 50 * time.Millisecond, MaxRetryInterval: 200 * time.Millisecond, WriteTimeout: 30 * time.Second, Gzip: true, Logger: quietLog()}
	if mod != nil {
		mod(&opt)
	}
	s, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// points parses line protocol and stamps the given identity, as ingest does.
func points(t testing.TB, lines string, site, device, class string) []store.Point {
	t.Helper()
	var p metric.Parser
	if err := p.Parse([]byte(lines), metric.PrecisionNS, time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	out := make([]store.Point, len(p.Rows))
	for i := range p.Rows {
		row := p.Rows[i]
		out[i] = store.Point{SiteID: 1, DeviceID: 1, Municipality: "Musterstadt", Site: site, Device: device, Class: class, Row: &row}
	}
	return out
}

// fluxCount returns the number of rows of a Flux query's result.
func fluxRows(t *testing.T, srv *influxtest.Server, q string) []map[string]string {
	t.Helper()
	csv, err := srv.Flux(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return parseCSV(csv)
}

// parseCSV reads Flux's annotated CSV into rows of column → value.
func parseCSV(s string) []map[string]string {
	var rows []map[string]string
	var header []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if line == "" {
			header = nil
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, ",")
		if header == nil {
			header = cols
			continue
		}
		r := map[string]string{}
		for i, c := range cols {
			if i < len(header) {
				r[header[i]] = c
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func TestWriteAndQueryThroughRealInfluxDB(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	s := openStore(t, srv.URL, bucket, nil)
	ctx := context.Background()
	base := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var lp strings.Builder
	for i := 0; i < 10; i++ {
		ts := base.Add(time.Duration(i) * 10 * time.Second).UnixNano()
		fmt.Fprintf(&lp, "cpu,cpu=cpu-total,host=srv1 usage_idle=%d,usage_user=%g %d\n", 90+i, float64(i)/2, ts)
		fmt.Fprintf(&lp, "cpu,cpu=cpu0,host=srv1 usage_idle=%d %d\n", 50+i, ts)
		fmt.Fprintf(&lp, "net,host=srv1,interface=eth0 bytes_recv=%du,err_in=%di %d\n", 1000*i, i, ts)
	}
	if err := s.Write(ctx, points(t, lp.String(), "GS Nord", "srv1", "server")); err != nil {
		t.Fatal(err)
	}
	// Another site's device of the same name must not leak into the query.
	if err := s.Write(ctx, points(t, fmt.Sprintf("cpu,cpu=cpu-total,host=srv1 usage_idle=1 %d\n", base.UnixNano()), "GS Süd", "srv1", "server")); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.WrittenPoints != 31 || st.QueuedPoints != 0 {
		t.Fatalf("stats after healthy writes: %+v, want 31 written, none queued (%s)", st, s.LastError())
	}

	series, err := s.Query(ctx, store.Query{Site: "GS Nord", Device: "srv1", Measurement: "cpu", Field: "usage_idle", From: base, To: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 2 {
		t.Fatalf("got %d series, want 2 (cpu-total, cpu0): %+v", len(series), series)
	}
	// Sorted by tags: cpu=cpu-total before cpu=cpu0.
	if series[0].Tags["cpu"] != "cpu-total" || series[0].Tags["site"] != "GS Nord" || series[0].Tags["device"] != "srv1" || series[0].Tags["host"] != "srv1" {
		t.Fatalf("tags of first series: %v", series[0].Tags)
	}
	if _, ok := series[0].Tags["municipality"]; ok {
		t.Fatalf("municipality should not be in the series tags (as in the embedded store): %v", series[0].Tags)
	}
	if len(series[0].Samples) != 10 || series[0].Samples[3].Value != 93 || !series[0].Samples[3].Time.Equal(base.Add(30*time.Second)) {
		t.Fatalf("samples of cpu-total: %+v", series[0].Samples)
	}
	if series[1].Samples[9].Value != 59 {
		t.Fatalf("cpu0 last sample: %+v", series[1].Samples[9])
	}

	// Step: mean per minute, stamped with the minute's start.
	series, err = s.Query(ctx, store.Query{Site: "GS Nord", Device: "srv1", Measurement: "cpu", Field: "usage_idle", From: base, To: base.Add(time.Hour), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := series[0].Samples; len(got) != 2 || got[0].Value != 92.5 || !got[0].Time.Equal(base) || got[1].Value != 97.5 || !got[1].Time.Equal(base.Add(time.Minute)) {
		t.Fatalf("per-minute means of cpu-total: %+v", got)
	}
	// Unsigned and integer fields come back as numbers.
	series, err = s.Query(ctx, store.Query{Device: "srv1", Site: "GS Nord", Measurement: "net", Field: "bytes_recv", From: base, To: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || series[0].Samples[9].Value != 9000 || series[0].Tags["interface"] != "eth0" {
		t.Fatalf("net bytes_recv: %+v", series)
	}

	// The trusted tags are tags in InfluxDB.
	rows := fluxRows(t, srv, `from(bucket: "`+bucket+`") |> range(start: 2026-11-02T00:00:00Z, stop: 2026-11-03T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "cpu" and r._field == "usage_idle" and r.municipality == "Musterstadt" and r.class == "server" and r.site == "GS Süd")`)
	if len(rows) != 1 || rows[0]["_value"] != "1" || rows[0]["device"] != "srv1" {
		t.Fatalf("rows of GS Süd: %v", rows)
	}

	if _, err := s.Query(ctx, store.Query{Device: "srv1", Measurement: "cpu", Field: "usage_idle", From: base, To: base}); err == nil || !strings.Contains(err.Error(), "range is empty") {
		t.Fatalf("empty range: %v", err)
	}
}

func TestQueueFullRefusesAndSurvivesRestart(t *testing.T) {
	// Nothing listens on this URL: every write goes to the queue.
	down := "http://127.0.0.1:1"
	dir := t.TempDir()
	s := openStore(t, down, "db", func(o *Options) {
		o.QueueDir = dir
		o.QueueMaxBytes = 1 << 20
		o.RetryInterval = time.Hour
		o.MaxRetryInterval = time.Hour
	})
	ctx := context.Background()
	pad := strings.Repeat("x", 900)
	base := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	accepted := 0
	var err error
	for i := 0; i < 5000; i++ {
		lp := fmt.Sprintf("check,check=pad status=0i,seq=%di,message=\"%s\" %d\n", i, pad, base.Add(time.Duration(i)*time.Second).UnixNano())
		if err = s.Write(ctx, points(t, lp, "GS Nord", "srv1", "server")); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("after %d writes: %v, want ErrQueueFull", accepted, err)
	}
	if accepted < 500 || accepted > 1200 {
		t.Fatalf("1 MiB queue accepted %d points of ~1 KiB", accepted)
	}
	if st := s.Stats(); st.PendingPoints != int64(accepted) || st.FullRefusals != 1 || st.QueueBytes > 1<<20 {
		t.Fatalf("stats: %+v, want %d pending, one refusal, ≤ 1 MiB", st, accepted)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The queue survives the collector's restart and drains into a
	// running InfluxDB.
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	s2 := openStore(t, srv.URL, bucket, func(o *Options) { o.QueueDir = dir })
	deadline := time.Now().Add(30 * time.Second)
	for s2.Stats().PendingPoints > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %+v (%s)", s2.Stats(), s2.LastError())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows := fluxRows(t, srv, `from(bucket: "`+bucket+`") |> range(start: 2026-11-02T00:00:00Z, stop: 2026-11-03T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "check" and r._field == "seq") |> count()`)
	if len(rows) != 1 || rows[0]["_value"] != fmt.Sprint(accepted) {
		t.Fatalf("count after replay: %v, want %d", rows, accepted)
	}
}

// A write InfluxDB refuses as invalid is not acknowledged: Write returns
// an error matching store.ErrRejected (the write API answers 400), nothing
// is queued, and InfluxDB's message is kept.
func TestRejectedWriteIsReturnedNotQueued(t *testing.T) {
	srv := influxtest.Shared(t)
	s := openStore(t, srv.URL, srv.NewDatabase(t), nil)
	ctx := context.Background()
	ts := time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC).UnixNano()
	if err := s.Write(ctx, points(t, fmt.Sprintf("mem,host=srv1 used=1i %d\n", ts), "GS Nord", "srv1", "server")); err != nil {
		t.Fatal(err)
	}
	// A field type conflict: InfluxDB answers 400 and will never take it.
	err := s.Write(ctx, points(t, fmt.Sprintf("mem,host=srv1 used=\"lots\" %d\n", ts+1), "GS Nord", "srv1", "server"))
	if !errors.Is(err, store.ErrRejected) || !strings.Contains(err.Error(), "field type conflict") || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a refused write: %v, want store.ErrRejected with InfluxDB's status and message", err)
	}
	st := s.Stats()
	if st.RejectedPoints != 1 || st.PendingPoints != 0 || st.QueuedPoints != 0 || st.DroppedPoints != 0 || !st.Healthy {
		t.Fatalf("stats after a refusal: %+v", st)
	}
	if !strings.Contains(s.LastError(), "conflict") {
		t.Fatalf("last error should carry InfluxDB's message: %q", s.LastError())
	}
}

// reqs encodes writes as the writer receives them.
func reqs(t *testing.T, lps ...string) []*writeReq {
	t.Helper()
	var out []*writeReq
	for i, lp := range lps {
		pts := points(t, lp, "GS Nord", fmt.Sprintf("dev%d", i), "server")
		out = append(out, &writeReq{lines: encode(nil, pts, false), n: len(pts), done: make(chan error, 1)})
	}
	return out
}

// Concurrent writes share one InfluxDB request. When InfluxDB refuses
// that request because of one writer's point, the request is split: the
// other writers' points are stored and acknowledged, only the bad writer
// gets the refusal.
func TestMergedRequestRefusedFailsOnlyTheBadWriter(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	s := openStore(t, srv.URL, bucket, func(o *Options) { o.WriteConcurrency = 1 })
	base := time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC).UnixNano()
	// m.v is an integer in this shard from now on.
	if err := srv.WriteLines(context.Background(), bucket, fmt.Sprintf("m v=1i %d\n", base)); err != nil {
		t.Fatal(err)
	}
	var good1, bad, good2, good3 strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&good1, "m,w=a v=%di %d\n", i, base+int64(i+1))
		fmt.Fprintf(&good2, "m,w=c v=%di %d\n", i, base+int64(i+1))
		fmt.Fprintf(&good3, "m,w=d v=%di %d\n", i, base+int64(i+1))
	}
	fmt.Fprintf(&bad, "m,w=b v=7i %d\nm,w=b v=\"x\" %d\n", base+1, base+2)
	batch := reqs(t, good1.String(), bad.String(), good2.String(), good3.String())
	s.deliver(batch, nil)
	for i, r := range batch {
		err := <-r.done
		if i == 1 {
			if !errors.Is(err, store.ErrRejected) || !strings.Contains(err.Error(), "field type conflict") {
				t.Fatalf("bad writer: %v, want the refusal with InfluxDB's message", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("writer %d with valid points: %v", i, err)
		}
	}
	n, err := srv.Count(strings.TrimSuffix(bucket, "/autogen"), `SELECT count(v) FROM m WHERE w =~ /^[acd]$/`)
	if err != nil {
		t.Fatal(err)
	}
	if n != 15 {
		t.Fatalf("%d points of the three good writers stored, want 15", n)
	}
	if st := s.Stats(); st.RejectedPoints != 2 || st.WrittenPoints != 15 || st.QueuedPoints != 0 || !st.Healthy {
		t.Fatalf("stats: %+v, want the bad writer's 2 points refused, 15 written", st)
	}
}

// Queued points were acknowledged already: when InfluxDB refuses a
// batch from the queue, the batch is bisected, every valid point is
// written and only the refused line is dropped, counted, logged and
// reported as a schulmon_influx_rejected event; the queue moves on.
func TestQueuedPointsRefusedAreDroppedVisibly(t *testing.T) {
	dir := t.TempDir()
	down := openStore(t, "http://127.0.0.1:1", "db", func(o *Options) {
		o.QueueDir = dir
		o.RetryInterval, o.MaxRetryInterval = time.Hour, time.Hour
	})
	base := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC).UnixNano()
	ctx := context.Background()
	writes := []string{}
	for w := 0; w < 10; w++ {
		var b strings.Builder
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&b, "m,w=w%d v=%di %d\n", w, i, base+int64(i))
		}
		if w == 6 {
			fmt.Fprintf(&b, "m,w=w%d v=\"x\" %d\n", w, base+100)
		}
		writes = append(writes, b.String())
	}
	for _, lp := range writes {
		if err := down.Write(ctx, points(t, lp, "GS Nord", "srv1", "server")); err != nil {
			t.Fatal(err)
		}
	}
	if st := down.Stats(); st.PendingPoints != 201 {
		t.Fatalf("queued: %+v", st)
	}
	down.Close()

	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	if err := srv.WriteLines(ctx, bucket, fmt.Sprintf("m v=1i %d\n", base)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, srv.URL, bucket, func(o *Options) { o.QueueDir = dir })
	for deadline := time.Now().Add(30 * time.Second); s.Stats().PendingPoints > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue blocked by a refused point: %+v (%s)", s.Stats(), s.LastError())
		}
	}
	st := s.Stats()
	if st.DroppedPoints != 1 || st.RejectedPoints != 1 || st.ReplayedPoints != 200 {
		t.Fatalf("stats: %+v, want 1 dropped, 200 replayed", st)
	}
	db := strings.TrimSuffix(bucket, "/autogen")
	if n, err := srv.Count(db, `SELECT count(v) FROM m WHERE w =~ /^w/`); err != nil || n != 200 {
		t.Fatalf("valid queued points stored: %d, %v; want 200", n, err)
	}
	if n, err := srv.Count(db, `SELECT sum(dropped_points) FROM schulmon_influx_rejected WHERE status = '400'`); err != nil || n != 1 {
		t.Fatalf("rejection event: %d dropped points reported, %v; want 1", n, err)
	}
}

// InfluxDB's max-body-size (413): merged writes are split until they
// fit, a single write is split by lines; only a line larger than the
// limit fails, and only its writer.
func TestTooLargeRequestsAreSplit(t *testing.T) {
	srv := influxtest.StartWith(t, influxtest.Config{MaxBodySize: 4096, NoFlux: true})
	s := openStore(t, srv.URL, influxtest.Bucket, func(o *Options) { o.Gzip = false })
	base := time.Date(2026, 11, 2, 16, 0, 0, 0, time.UTC).UnixNano()
	pad := strings.Repeat("p", 60)
	lines := func(w string, n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "big,w=%s seq=%di,pad=\"%s\" %d\n", w, i, pad, base+int64(i))
		}
		return b.String()
	}
	// Two writes of ~3 KB each: together over the limit.
	batch := reqs(t, lines("a", 20), lines("b", 20))
	if l := len(batch[0].lines) + len(batch[1].lines); l <= 4096 || len(batch[0].lines) > 4096 {
		t.Fatalf("test writes of %d bytes do not exercise the split", l)
	}
	s.deliver(batch, nil)
	for i, r := range batch {
		if err := <-r.done; err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	// One write of ~15 KB.
	if err := s.Write(context.Background(), points(t, lines("c", 100), "GS Nord", "srv1", "server")); err != nil {
		t.Fatalf("large write: %v", err)
	}
	// One line larger than InfluxDB takes at all.
	err := s.Write(context.Background(), points(t, fmt.Sprintf("big,w=d seq=1i,pad=\"%s\" %d\n", strings.Repeat("x", 5000), base), "GS Nord", "srv1", "server"))
	if !errors.Is(err, store.ErrRejected) || !strings.Contains(err.Error(), "413") {
		t.Fatalf("line over max-body-size: %v, want the refusal", err)
	}
	if n, err := srv.Count(influxtest.Database, `SELECT count(seq) FROM big`); err != nil || n != 140 {
		t.Fatalf("points stored: %d, %v; want 140", n, err)
	}
	if st := s.Stats(); st.RejectedPoints != 1 || st.WrittenPoints != 140 || st.QueuedPoints != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// InfluxDB 1.8 with authentication: the "user:password" token writes;
// wrong credentials stop Open with a message that says what to fix; a
// password changed while the collector runs queues the points (durable,
// logged) until it is fixed, and then they are written.
func TestAuthenticatedInfluxDB(t *testing.T) {
	srv := influxtest.StartWith(t, influxtest.Config{Auth: true, NoFlux: true})
	for _, q := range []string{`CREATE USER collector WITH PASSWORD 'pw1'`, `GRANT WRITE ON ` + influxtest.Database + ` TO collector`} {
		if err := srv.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, tok := range []string{"collector:wrong", "nobody:pw1", ""} {
		_, err := Open(ctx, Options{URL: srv.URL, Bucket: influxtest.Bucket, Token: tok, QueueDir: t.TempDir(), Logger: quietLog()})
		if err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), "storage.influxdb.token") {
			t.Fatalf("token %q: Open: %v, want an error about the credentials", tok, err)
		}
	}
	if _, err := Open(ctx, Options{URL: srv.URL, Bucket: "nosuchdb/autogen", Token: "collector:pw1", QueueDir: t.TempDir(), Logger: quietLog()}); err == nil || !strings.Contains(err.Error(), "CREATE DATABASE") {
		t.Fatalf("missing database: Open: %v", err)
	}

	s := openStore(t, srv.URL, influxtest.Bucket, func(o *Options) { o.Token = "collector:pw1" })
	base := time.Date(2026, 11, 2, 17, 0, 0, 0, time.UTC).UnixNano()
	write := func(i int) {
		t.Helper()
		if err := s.Write(ctx, points(t, fmt.Sprintf("mem,host=srv1 used=%di %d\n", i, base+int64(i)), "GS Nord", "srv1", "server")); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	if st := s.Stats(); st.WrittenPoints != 1 || st.QueuedPoints != 0 {
		t.Fatalf("with the right password: %+v (%s)", st, s.LastError())
	}
	if err := srv.Exec(`SET PASSWORD FOR collector = 'pw2'`); err != nil {
		t.Fatal(err)
	}
	write(1)
	if st := s.Stats(); st.QueuedPoints != 1 || st.PendingPoints != 1 || !strings.Contains(s.LastError(), "refused the credentials (401)") {
		t.Fatalf("after the password changed: %+v, last error %q", st, s.LastError())
	}
	if err := srv.Exec(`SET PASSWORD FOR collector = 'pw1'`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); s.Stats().PendingPoints > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained after the password was fixed: %+v (%s)", s.Stats(), s.LastError())
		}
	}
	if n, err := srv.Count(influxtest.Database, `SELECT count(used) FROM mem`); err != nil || n != 2 {
		t.Fatalf("points stored: %d, %v; want 2", n, err)
	}
}

func TestFluxString(t *testing.T) {
	for in, want := range map[string]string{`a`: `"a"`, `a"b`: `"a\"b"`, `c:\x`: `"c:\\x"`, `${x}`: `"\${x}"`} {
		if got := FluxString(in); got != want {
			t.Errorf("FluxString(%q) = %s, want %s", in, got, want)
		}
	}
	if FluxDuration(5*time.Minute) != "300s" || FluxDuration(1500*time.Millisecond) != "1500000000ns" {
		t.Error("FluxDuration")
	}
}

// A hanging InfluxDB (accepts, never answers) counts as down after
// write_timeout: the writes are acknowledged from the queue.
func TestHangingInfluxDBTimesOutIntoQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	s := openStore(t, "http://"+ln.Addr().String(), "db", func(o *Options) {
		o.WriteTimeout = 500 * time.Millisecond
		o.RetryInterval = time.Hour
		o.MaxRetryInterval = time.Hour
	})
	ctx := context.Background()
	ts := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC).UnixNano()
	// The failed ping at Open marks InfluxDB down; with an empty queue the
	// next write probes it directly again.
	for deadline := time.Now().Add(10 * time.Second); !s.Stats().Healthy; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("store does not probe InfluxDB again with an empty queue")
		}
	}
	for i := 0; i < 2; i++ {
		if err := s.Write(ctx, points(t, fmt.Sprintf("mem,host=srv1 used=%di %d\n", i, ts+int64(i)), "GS Nord", "srv1", "server")); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.QueuedPoints != 2 || st.PendingPoints != 2 || st.Healthy || st.WrittenPoints != 0 || st.WriteErrors == 0 {
		t.Fatalf("stats: %+v", st)
	}
	if !strings.Contains(s.LastError(), "deadline") && !strings.Contains(s.LastError(), "timeout") {
		t.Fatalf("last error should say it timed out: %s", s.LastError())
	}
}

// HTTPS to InfluxDB with a private CA (tls.ca_file): a TLS proxy with a
// test certificate in front of the real influxd.
func TestTLSWithCAFile(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	target, _ := url.Parse(srv.URL)
	proxy := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer proxy.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without the CA the certificate is not trusted: points are queued.
	s0 := openStore(t, proxy.URL, bucket, func(o *Options) { o.RetryInterval = time.Hour; o.MaxRetryInterval = time.Hour })
	ts := time.Date(2026, 11, 2, 13, 0, 0, 0, time.UTC).UnixNano()
	if err := s0.Write(context.Background(), points(t, fmt.Sprintf("mem,host=srv1 used=1i %d\n", ts), "GS Nord", "srv1", "server")); err != nil {
		t.Fatal(err)
	}
	if st := s0.Stats(); st.QueuedPoints != 1 || st.WrittenPoints != 0 || !strings.Contains(s0.LastError(), "certificate") {
		t.Fatalf("untrusted certificate: %+v, %s", st, s0.LastError())
	}
	s := openStore(t, proxy.URL, bucket, func(o *Options) { o.CAFile = caFile })
	if err := s.Write(context.Background(), points(t, fmt.Sprintf("mem,host=srv1 used=2i %d\n", ts+1), "GS Nord", "srv1", "server")); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.WrittenPoints != 1 || st.QueuedPoints != 0 {
		t.Fatalf("with ca_file: %+v (%s)", st, s.LastError())
	}
	series, err := s.Query(context.Background(), store.Query{Site: "GS Nord", Device: "srv1", Measurement: "mem", Field: "used", From: time.Unix(0, ts), To: time.Unix(0, ts+10)})
	if err != nil || len(series) != 1 || len(series[0].Samples) != 1 || series[0].Samples[0].Value != 2 {
		t.Fatalf("query over TLS: %+v, %v", series, err)
	}
	if _, err := Open(context.Background(), Options{URL: proxy.URL, Bucket: bucket, QueueDir: t.TempDir(), CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("missing CA file: %v", err)
	}
}
