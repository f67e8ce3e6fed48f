package influx_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/store/influx"
	"github.com/schulmon/schulmon/collector/store/influx/influxtest"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// collector runs a real collector (the server package, as the binary
// runs it) with the InfluxDB backend and returns its URL and an agent
// token of site "gs-nord".
func collector(t testing.TB, influxURL, bucket string, mod func(*config.Config)) (*server.Server, string, string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Storage.Backend = "influxdb"
	cfg.Storage.InfluxDB.URL = influxURL
	cfg.Storage.InfluxDB.Bucket = bucket
	cfg.Storage.InfluxDB.Token = influxtest.Token
	cfg.Storage.InfluxDB.RetryInterval = 100 * time.Millisecond
	cfg.Storage.InfluxDB.MaxRetryInterval = 500 * time.Millisecond
	cfg.Storage.InfluxDB.WriteTimeout = 30 * time.Second // a loaded machine must not look like an outage
	cfg.Limits.TokenRequestsPerSecond, cfg.Limits.TokenPointsPerSecond = -1, -1
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	site, err := srv.Dir.EnsureSite(ctx, "Musterstadt", "gs-nord", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &site, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector shutdown: %v", err)
		}
	})
	return srv, "http://" + ln.Addr().String(), tok
}

// post writes line protocol as an agent does and returns the status and
// the Retry-After header.
func post(t testing.TB, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v2/write?bucket=x&precision=ns", strings.NewReader(body))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("write: %d %s", resp.StatusCode, msg)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestInfluxOutageThroughCollector stops and restarts a real influxd while
// an agent keeps writing through the collector: every acknowledged point
// is in InfluxDB exactly once afterwards, and when the queue is full the
// agent gets 503 with Retry-After (and that batch is not acknowledged).
func TestInfluxOutageThroughCollector(t *testing.T) {
	// The package's shared influxd (one Flux start less); it is running
	// again when the test ends, also when it fails half-way.
	idb := influxtest.Shared(t)
	t.Cleanup(idb.Restart)
	bucket := idb.NewDatabase(t)
	srv, url, tok := collector(t, idb.URL, bucket, func(c *config.Config) {
		c.Storage.InfluxDB.QueueMaxBytes = 1 << 20
		// Only the agent's points may reach InfluxDB: the counters below
		// must add up to exactly the acknowledged ones.
		c.Storage.InfluxDB.ExportInterval = time.Hour
	})
	st := srv.Store.(*influx.Store)
	// influxd counts every point its write endpoint stores, also one it
	// overwrote with itself: the count shows duplicates that a query of
	// the data cannot, as InfluxDB keeps one point per series and time.
	okBefore, err := idb.PointsWrittenOK()
	if err != nil {
		t.Fatal(err)
	}

	base := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	pad := strings.Repeat("p", 400)
	seq := 0
	acked := map[int]bool{}
	batch := func() string {
		var b strings.Builder
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&b, "schulmon_agent,host=srv1 seq=%di,version=\"1.0\",note=\"%s\" %d\n", seq, pad, base.Add(time.Duration(seq)*time.Millisecond).UnixNano())
			seq++
		}
		return b.String()
	}
	send := func() int {
		first := seq
		code, retry := post(t, url, tok, batch())
		if code == http.StatusNoContent {
			for i := first; i < seq; i++ {
				acked[i] = true
			}
		} else if n, err := strconv.Atoi(retry); err != nil || n <= 0 {
			t.Fatalf("503 without a usable Retry-After: %q", retry)
		}
		return code
	}
	for i := 0; i < 5; i++ {
		if send() != http.StatusNoContent {
			t.Fatal("healthy InfluxDB: write not acknowledged")
		}
	}
	if s := st.Stats(); s.WrittenPoints < 1000 || s.QueuedPoints != 0 {
		t.Fatalf("healthy: %+v", s)
	}

	okBeforeStop, err := idb.PointsWrittenOK()
	if err != nil {
		t.Fatal(err)
	}
	idb.Stop()
	queuedOK, full := 0, false
	for i := 0; i < 40 && !full; i++ {
		switch send() {
		case http.StatusNoContent:
			queuedOK++
		case http.StatusServiceUnavailable:
			full = true
		}
	}
	if queuedOK < 3 || !full {
		t.Fatalf("influxd down: %d writes acknowledged from the queue, queue full reached: %v (%+v)", queuedOK, full, st.Stats())
	}
	// Still full: refused again, nothing acknowledged.
	if send() != http.StatusServiceUnavailable {
		t.Fatal("queue full: write acknowledged")
	}

	idb.Restart()
	for i := 0; i < 5; i++ {
		if send() != http.StatusNoContent {
			// The first writes after the restart may still meet a full
			// queue; the agent retries after Retry-After.
			time.Sleep(200 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for st.Stats().PendingPoints > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %+v (%s)", st.Stats(), st.LastError())
		}
		time.Sleep(100 * time.Millisecond)
	}
	csv, err := idb.Flux(context.Background(), `from(bucket: "`+bucket+`") |> range(start: 2026-11-03T00:00:00Z, stop: 2026-11-04T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "schulmon_agent" and r._field == "seq" and r.site == "gs-nord" and r.municipality == "Musterstadt" and r.device == "srv1")
  |> keep(columns: ["_time", "_value"])`)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	rows := 0
	for _, line := range strings.Split(csv, "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 5 || f[3] == "_value" {
			continue
		}
		v, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			continue
		}
		count[v]++
		rows++
	}
	for s := range acked {
		if count[s] != 1 {
			t.Fatalf("acknowledged point seq=%d is in InfluxDB %d times", s, count[s])
		}
	}
	t.Logf("%d points acknowledged (%d through the queue), %d rows in InfluxDB, stats %+v", len(acked), queuedOK*200, rows, st.Stats())
	if rows != len(acked) {
		t.Fatalf("%d rows for %d acknowledged points", rows, len(acked))
	}
	// Nothing was sent twice: the collector wrote every acknowledged point
	// once (directly or from the queue) and influxd stored as many points,
	// before its stop and after its restart (its counters restart at 0).
	s := st.Stats()
	if s.WrittenPoints != uint64(len(acked)) || s.ReplayedPoints != s.QueuedPoints || s.QueuedPoints == 0 || s.RejectedPoints != 0 {
		t.Fatalf("collector counters %+v, want written = %d acknowledged, replayed = queued", s, len(acked))
	}
	okAfter, err := idb.PointsWrittenOK()
	if err != nil {
		t.Fatal(err)
	}
	if got := okBeforeStop - okBefore + okAfter; got != int64(len(acked)) {
		t.Fatalf("influxd stored %d points (%d before the stop, %d after the restart) for %d acknowledged", got, okBeforeStop-okBefore, okAfter, len(acked))
	}
}

// TestSelfMetricsJob runs the collector's self-metrics job and reads the
// schulmon_collector point back.
func TestSelfMetricsJob(t *testing.T) {
	idb := influxtest.Shared(t)
	bucket := idb.NewDatabase(t)
	srv, url, tok := collector(t, idb.URL, bucket, nil)
	ts := time.Now().UnixNano()
	if code, _ := post(t, url, tok, fmt.Sprintf("schulmon_agent,host=srv1 uptime_s=1 %d\nschulmon_agent,host=srv1 uptime_s=2 %d\n", ts-1e9, ts)); code != http.StatusNoContent {
		t.Fatalf("write: %d", code)
	}
	st := srv.Store.(*influx.Store)
	if err := st.SelfMetricsJob(srv.Registry, time.Now().Add(-time.Minute))(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	csv, err := idb.Flux(context.Background(), `from(bucket: "`+bucket+`") |> range(start: -1h, stop: 1h)
  |> filter(fn: (r) => r._measurement == "schulmon_collector")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> keep(columns: ["host", "points_written", "write_requests_2xx", "influx_written_points", "influx_healthy", "queue_points", "uptime_s"])`)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	var header, row []string
	for _, l := range lines {
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		if header == nil {
			header = strings.Split(strings.TrimSpace(l), ",")
		} else {
			row = strings.Split(strings.TrimSpace(l), ",")
		}
	}
	got := map[string]string{}
	for i := range header {
		if i < len(row) {
			got[header[i]] = row[i]
		}
	}
	if got["points_written"] != "2" || got["write_requests_2xx"] != "1" || got["influx_written_points"] != "2" || got["influx_healthy"] != "true" || got["queue_points"] != "0" {
		t.Fatalf("schulmon_collector point: %v\n%s", got, csv)
	}
}

func TestConfigSection(t *testing.T) {
	dir := t.TempDir()
	tokFile := dir + "/tok"
	if err := os.WriteFile(tokFile, []byte("admin:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(strings.NewReader(`
storage:
  backend: influxdb
  influxdb:
    url: http://127.0.0.1:8086
    bucket: schulmon/autogen
    token_file: ` + tokFile + `
    gzip: false
    queue_max_bytes: 2097152
`))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := influx.OptionsFromConfig(cfg.Storage.InfluxDB, "/var/lib/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Token != "admin:secret" || opt.Gzip || opt.QueueMaxBytes != 2<<20 || opt.QueueDir != "/var/lib/x/influx-queue" || opt.BatchSize != 5000 || opt.WriteTimeout != 10*time.Second {
		t.Fatalf("options: %+v", opt)
	}
	for yaml, want := range map[string]string{
		"storage: {backend: influxdb}":                                                                       "url",
		"storage: {backend: influxdb, influxdb: {url: 'ftp://x'}}":                                           "url",
		"storage: {backend: influxdb, influxdb: {url: 'http://x:8086'}}":                                     "bucket",
		"storage: {backend: influxdb, influxdb: {url: 'http://x:8086', bucket: b, token: a, token_file: f}}": "not both",
		"storage: {backend: influxdb, influxdb: {url: 'http://x:8086', bucket: b, queue_max_bytes: 10}}":     "queue_max_bytes",
	} {
		if _, err := config.Parse(strings.NewReader(yaml)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "storage.influxdb") {
			t.Errorf("%s: error %v, want one about %s", yaml, err, want)
		}
	}
}

// Two agents write at the same time, one of them a point InfluxDB
// refuses (a field type conflict): that agent gets 400 with InfluxDB's
// message, the other one 204, and all of its points are stored, whether
// or not the collector merged both writes into one InfluxDB request.
func TestRefusedPointsFailOnlyTheirAgent(t *testing.T) {
	idb := influxtest.Shared(t)
	bucket := idb.NewDatabase(t)
	srv, url, goodTok := collector(t, idb.URL, bucket, func(c *config.Config) {
		c.Storage.InfluxDB.WriteConcurrency = 1 // more writes share a request
		c.Storage.InfluxDB.ExportInterval = time.Hour
	})
	ctx := context.Background()
	site, err := srv.Dir.EnsureSite(ctx, "Musterstadt", "gs-sued", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	badTok, _, err := srv.Dir.CreateToken(ctx, tenancy.RoleAgent, &site, "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC).UnixNano()
	if err := idb.WriteLines(ctx, bucket, fmt.Sprintf("m v=1i %d\n", base)); err != nil {
		t.Fatal(err)
	}
	do := func(tok, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v2/write?bucket=x&precision=ns", strings.NewReader(body))
		req.Header.Set("Authorization", "Token "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	const rounds, perRound = 20, 50
	type result struct {
		code int
		msg  string
		bad  bool
	}
	results := make(chan result, 2*rounds)
	for r := 0; r < rounds; r++ {
		var good strings.Builder
		for i := 0; i < perRound; i++ {
			fmt.Fprintf(&good, "m,host=srv1 v=%di %d\n", i, base+int64(r*perRound+i+1))
		}
		bad := fmt.Sprintf("m,host=srv9 v=2i %d\nm,host=srv9 v=\"x\" %d\n", base+int64(r+1), base+int64(r+1))
		go func() { c, m := do(goodTok, good.String()); results <- result{c, m, false} }()
		go func() { c, m := do(badTok, bad); results <- result{c, m, true} }()
	}
	for i := 0; i < 2*rounds; i++ {
		r := <-results
		switch {
		case r.bad && (r.code != http.StatusBadRequest || !strings.Contains(r.msg, "field type conflict")):
			t.Errorf("agent with a refused point: %d %s, want 400 with InfluxDB's message", r.code, r.msg)
		case !r.bad && r.code != http.StatusNoContent:
			t.Errorf("agent with valid points: %d %s, want 204", r.code, r.msg)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	n, err := idb.Count(strings.TrimSuffix(bucket, "/autogen"), `SELECT count(v) FROM m WHERE site = 'gs-nord'`)
	if err != nil || n != rounds*perRound {
		t.Fatalf("stored points of the valid agent: %d, %v; want %d", n, err, rounds*perRound)
	}
	st := srv.Store.(*influx.Store).Stats()
	if st.WrittenPoints < rounds*perRound || st.QueuedPoints != 0 || st.RejectedPoints == 0 {
		t.Fatalf("stats: %+v", st)
	}
	t.Logf("stats: %+v", st)
}
