package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/agent/config"
	"github.com/schulmon/schulmon/agent/sender"
	"github.com/schulmon/schulmon/metric"
)

// scriptedSender answers each Send with the next error of its script.
type scriptedSender struct {
	script []error
	got    []string
}

func (s *scriptedSender) Send(_ context.Context, lines []byte) error {
	s.got = append(s.got, string(lines))
	if len(s.script) == 0 {
		return nil
	}
	err := s.script[0]
	s.script = s.script[1:]
	return err
}

func newTestAgent(t *testing.T, s Sender) (*Agent, *MemoryQueue) {
	t.Helper()
	cfg := config.Default()
	cfg.Collector.BatchSize = 2
	cfg.Inputs = nil
	q := NewMemoryQueue(100)
	a, err := New(cfg, "srv", q, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a, q
}

func pt(v int64) metric.Point {
	return metric.Point{Measurement: "m", Fields: []metric.Field{{Key: "v", Value: metric.Int(v)}}, Time: time.Unix(v, 0)}
}

func TestFlushKeepsWhatWasNotAcknowledged(t *testing.T) {
	s := &scriptedSender{script: []error{nil, &sender.Error{Status: 503, Retry: true, Err: errors.New("busy")}}}
	a, q := newTestAgent(t, s)
	a.Add(pt(1), pt(2), pt(3), pt(4), pt(5))
	err := a.flush(context.Background())
	var se *sender.Error
	if !errors.As(err, &se) || se.Status != 503 {
		t.Fatalf("flush: %v, want the 503", err)
	}
	if q.Pending() != 3 {
		t.Errorf("pending after one acknowledged batch and a 503: %d, want 3", q.Pending())
	}
	// The next flush sends the same batch again, in order.
	if err := a.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.Pending() != 0 || a.sent.Load() != 5 {
		t.Errorf("pending %d, sent %d", q.Pending(), a.sent.Load())
	}
	if s.got[1] != s.got[2] || !strings.Contains(s.got[1], "v=3i") {
		t.Errorf("retried batch differs: %q vs %q", s.got[1], s.got[2])
	}
	if !strings.Contains(s.got[0], "host=srv") {
		t.Errorf("host tag missing: %q", s.got[0])
	}
}

func TestFlushDropsRejectedBatchesAndCountsThem(t *testing.T) {
	s := &scriptedSender{script: []error{&sender.Error{Status: 400, Retry: false, Err: errors.New("bad line")}}}
	a, q := newTestAgent(t, s)
	a.Add(pt(1), pt(2), pt(3))
	if err := a.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.Pending() != 0 || a.dropped.Load() != 2 || a.sent.Load() != 1 {
		t.Errorf("pending %d dropped %d sent %d, want 0/2/1", q.Pending(), a.dropped.Load(), a.sent.Load())
	}
	hb := a.heartbeat(time.Now())
	if v, _ := hb.Field("points_dropped"); v.IntValue() < 2 {
		t.Errorf("heartbeat does not report the drop: %v", hb.Fields)
	}
}

func TestDevicePointsKeepTheirIdentity(t *testing.T) {
	s := &scriptedSender{}
	a, _ := newTestAgent(t, s)
	sw := pt(1)
	sw.SetTag("device", "sw-1")
	sw.SetTag("class", "switch")
	a.Add(sw)
	if err := a.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.got[0], "host=") || !strings.Contains(s.got[0], "device=sw-1") {
		t.Errorf("SNMP point got the agent's host tag: %q", s.got[0])
	}
}

func TestMemoryQueueDropsOldestWhenFull(t *testing.T) {
	q := NewMemoryQueue(3)
	q.Append([]byte("a v=1 1\na v=2 2\n"), 2)
	q.Append([]byte("a v=3 3\na v=4 4\n"), 2)
	if q.Pending() != 3 || q.Dropped() != 1 {
		t.Fatalf("pending %d dropped %d", q.Pending(), q.Dropped())
	}
	lines, n, _ := q.Next(10)
	if n != 3 || !strings.HasPrefix(string(lines), "a v=2 2") {
		t.Errorf("oldest not dropped first: %q", lines)
	}
}

func TestBackoffGrowsWithJitterAndIsCapped(t *testing.T) {
	b := time.Duration(0)
	prev := time.Duration(0)
	for i := 0; i < 5; i++ {
		b = nextBackoff(b, 10*time.Second)
		if b <= prev*11/10 && i > 0 {
			t.Errorf("backoff did not grow: %s after %s", b, prev)
		}
		prev = b
	}
	for i := 0; i < 20; i++ {
		b = nextBackoff(b, 10*time.Second)
	}
	if b > 6*time.Minute || b < 4*time.Minute {
		t.Errorf("capped backoff %s, want about 5 min ±20 %%", b)
	}
}
