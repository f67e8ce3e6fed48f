// Package durability tests, with the real binaries, that nothing is lost
// and nothing counted twice between the agent's outbox and the collector's
// store: outages, kill -9 of either side, full outboxes, overload and
// graceful shutdown.
package durability

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/internal/testenv"
)

// write posts line protocol (gzip-compressed, as agents do) and returns
// the status and the Retry-After header.
func write(t testing.TB, url, token, body string) (int, string) {
	t.Helper()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(body))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v2/write?org=schulmon&bucket=schulmon&precision=ns", &z)
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// pointsDB opens the collector's embedded store (after the collector
// stopped or was killed: opening it recovers the WAL as a restart would).
func pointsDB(t testing.TB, dataDir string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(dataDir, "points.db"))
	if err != nil {
		t.Fatalf("open the collector's store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storedTimes returns how many rows each timestamp of measurement has, per
// series tag value of key (empty key: all series together).
func storedTimes(t testing.TB, db *sql.DB, measurement string) map[int64]int {
	t.Helper()
	rows, err := db.Query(`SELECT p.time FROM points p JOIN series s ON s.id = p.series_id WHERE s.measurement = ?`, measurement)
	if err != nil {
		t.Fatalf("query stored points: %v", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var ts int64
		rows.Scan(&ts)
		out[ts]++
	}
	return out
}

func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCollectorKill9KeepsEveryAcknowledgedPoint writes from several
// clients, kills the collector with SIGKILL in the middle, and checks that
// every write that got 204 is in the store.
func TestCollectorKill9KeepsEveryAcknowledgedPoint(t *testing.T) {
	t.Parallel()
	// No per-token limit: four writers on one token are meant to push.
	cfg := writeConfig(t, "limits:\n  token_requests_per_second: -1\n  token_points_per_second: -1\n")
	c := testenv.StartCollector(t, "", "--config", cfg)
	token := c.Token("gs-kill", "Kommune")
	base := time.Now().Add(-time.Hour).UnixNano()

	var acked sync.Map // batch number -> true
	var nAcked, nFailed atomic.Int64
	var next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const per = 100
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := next.Add(1)
				b.Reset()
				for i := 0; i < per; i++ {
					fmt.Fprintf(&b, "durability,host=srv-kill,writer=w value=%di %d\n", n*per+int64(i), base+n*per+int64(i))
				}
				if st, _ := write(t, c.URL, token, b.String()); st == http.StatusNoContent {
					acked.Store(n, true)
					nAcked.Add(1)
				} else {
					nFailed.Add(1)
				}
			}
		}()
	}
	// Let writes flow, then pull the plug.
	deadline := time.Now().Add(20 * time.Second)
	for nAcked.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	c.Kill()
	close(stop)
	wg.Wait()
	if nAcked.Load() < 50 {
		t.Fatalf("only %d writes acknowledged before the kill; log:\n%s", nAcked.Load(), c.Logs())
	}

	have := storedTimes(t, pointsDB(t, c.DataDir), "durability")
	missing := 0
	acked.Range(func(k, _ any) bool {
		n := k.(int64)
		for i := 0; i < per; i++ {
			if have[base+n*per+int64(i)] != 1 {
				missing++
			}
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d points of %d acknowledged writes are missing after kill -9", missing, nAcked.Load())
	}
	t.Logf("%d writes acknowledged before kill -9 (%d failed or cut off), all %d points stored", nAcked.Load(), nFailed.Load(), nAcked.Load()*per)

	// The collector starts again on the same data and serves writes.
	c.Start()
	if st, _ := write(t, c.URL, token, fmt.Sprintf("durability,host=srv-kill,writer=w value=1i %d\n", base-1)); st != http.StatusNoContent {
		t.Fatalf("write after restart: %d; log:\n%s", st, c.Logs())
	}
}

// TestSameSeriesAndTimeOverwrites: a replayed point replaces the stored
// one (as InfluxDB does), so replays never double-count.
func TestSameSeriesAndTimeOverwrites(t *testing.T) {
	t.Parallel()
	c := testenv.StartCollector(t, "")
	token := c.Token("gs-dup", "Kommune")
	ts := time.Now().Add(-time.Minute).Truncate(time.Second).UnixNano()
	for _, v := range []string{"1", "2", "2"} {
		if st, _ := write(t, c.URL, token, fmt.Sprintf("overwrite,host=srv-dup,cpu=cpu0 usage=%s %d\n", v, ts)); st != http.StatusNoContent {
			t.Fatalf("write: %d", st)
		}
	}
	// A different series at the same time is a different point.
	write(t, c.URL, token, fmt.Sprintf("overwrite,host=srv-dup,cpu=cpu1 usage=9 %d\n", ts))
	c.Stop()
	db := pointsDB(t, c.DataDir)
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM points p JOIN series s ON s.id = p.series_id WHERE s.measurement = 'overwrite'`).Scan(&n)
	if n != 2 {
		t.Fatalf("%d rows for 2 series written 4 times, want 2", n)
	}
	// The stored value is the last one written (2), not the first.
	if got := storedValue(t, c, "overwrite", "cpu0"); got != 2 {
		t.Fatalf("stored value %v, want the last written (2)", got)
	}
}

// storedValue reads a float field back through the collector's read API.
func storedValue(t *testing.T, c *testenv.Collector, measurement, cpu string) float64 {
	t.Helper()
	c.Start()
	defer c.Stop()
	op := c.Token("", "", "--role", "operator")
	url := c.URL + "/api/v1/series?site=gs-dup&device=srv-dup&measurement=" + measurement + "&field=usage"
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Token "+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []struct {
		Tags    map[string]string `json:"tags"`
		Samples []struct {
			V float64 `json:"v"`
		} `json:"samples"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("read API %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	for _, s := range got {
		if s.Tags["cpu"] == cpu {
			if len(s.Samples) != 1 {
				t.Fatalf("series cpu=%s has %d samples, want 1", cpu, len(s.Samples))
			}
			return s.Samples[0].V
		}
	}
	t.Fatalf("no series with cpu=%s in %+v", cpu, got)
	return 0
}

// TestOverloadAnswers429WithRetryAfter: a token over its rate gets 429
// with Retry-After instead of queueing in memory; other tokens are served.
func TestOverloadAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "limits:\n  token_requests_per_second: 1\n  token_points_per_second: 50\n  max_points: 40\n")
	c := testenv.StartCollector(t, "", "--config", cfg)
	greedy := c.Token("gs-greedy", "Kommune")
	polite := c.Token("gs-polite", "Kommune")
	ts := time.Now().UnixNano()
	var limited, ok int
	var retry string
	for i := 0; i < 6; i++ {
		st, ra := write(t, c.URL, greedy, fmt.Sprintf("rl,host=g v=%di %d\n", i, ts+int64(i)))
		switch st {
		case http.StatusTooManyRequests:
			limited++
			retry = ra
		case http.StatusNoContent:
			ok++
		default:
			t.Fatalf("unexpected status %d", st)
		}
	}
	if ok == 0 || limited == 0 {
		t.Fatalf("6 quick requests at 1/s: %d accepted, %d limited; want both", ok, limited)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want whole seconds ≥ 1", retry)
	}
	if st, _ := write(t, c.URL, polite, fmt.Sprintf("rl,host=p v=1i %d\n", ts)); st != http.StatusNoContent {
		t.Fatalf("another token was limited too: %d", st)
	}
	// Points budget: 40 points fit (burst = max_points), 40 more at
	// 50 points/s must wait.
	time.Sleep(2 * time.Second) // request budget refills (not timing-sensitive: only more budget)
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "rl,host=p2 v=%di %d\n", i, ts+int64(i))
	}
	if st, _ := write(t, c.URL, polite, b.String()); st != http.StatusNoContent {
		t.Fatalf("40 points within the burst: %d", st)
	}
	time.Sleep(1100 * time.Millisecond)
	if st, ra := write(t, c.URL, polite, b.String()); st != http.StatusTooManyRequests && st != http.StatusNoContent {
		t.Fatalf("second 40 points: %d (Retry-After %q)", st, ra)
	}
	// More points than allowed per request: 400 that says so.
	b.Reset()
	for i := 0; i < 41; i++ {
		fmt.Fprintf(&b, "rl,host=p3 v=%di %d\n", i, ts+int64(i))
	}
	time.Sleep(2 * time.Second)
	if st, _ := write(t, c.URL, polite, b.String()); st != http.StatusBadRequest {
		t.Fatalf("41 points with max_points 40: %d, want 400", st)
	}
}

// TestGracefulShutdownDrainsInFlightWrite sends SIGTERM while a write's
// body is still arriving: the write completes, is acknowledged and stored,
// and the collector then exits.
func TestGracefulShutdownDrainsInFlightWrite(t *testing.T) {
	t.Parallel()
	c := testenv.StartCollector(t, "")
	token := c.Token("gs-drain", "Kommune")
	ts := time.Now().Add(-time.Minute).UnixNano()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/api/v2/write?precision=ns", pr)
	req.Header.Set("Authorization", "Token "+token)
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{0, err}
			return
		}
		resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	fmt.Fprintf(pw, "drain,host=srv-drain v=1i %d\n", ts)
	time.Sleep(300 * time.Millisecond) // the request is being read
	stopped := make(chan struct{})
	go func() { c.Stop(); close(stopped) }()
	time.Sleep(300 * time.Millisecond) // SIGTERM delivered, shutdown waiting for us
	fmt.Fprintf(pw, "drain,host=srv-drain v=2i %d\n", ts+1)
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusNoContent {
		t.Fatalf("in-flight write during shutdown: status %d, err %v; log:\n%s", r.status, r.err, c.Logs())
	}
	<-stopped
	if !strings.Contains(c.Logs(), "draining") {
		t.Fatalf("collector did not log a graceful shutdown; log:\n%s", c.Logs())
	}
	if have := storedTimes(t, pointsDB(t, c.DataDir), "drain"); len(have) != 2 {
		t.Fatalf("stored %d of the 2 points written during shutdown", len(have))
	}
}
