package runtime

import (
	"bytes"
	"sync"
)

// Queue holds encoded points between gathering and acknowledgement. The
// on-disk outbox implements it so that nothing is lost while the
// collector is unreachable; MemoryQueue is the volatile fallback.
type Queue interface {
	// Append adds points encoded as line protocol (one point per line).
	// It must not keep lines: the caller reuses the buffer.
	Append(lines []byte, points int) error
	// Next returns up to maxPoints of the oldest unacknowledged lines, the
	// same again until Ack is called.
	Next(maxPoints int) (lines []byte, points int, err error)
	// Ack removes what the last Next returned.
	Ack() error
	// Pending is the number of points not yet acknowledged.
	Pending() int
}

// MemoryQueue is a bounded in-memory Queue: when full, the oldest points
// are dropped and counted.
type MemoryQueue struct {
	mu      sync.Mutex
	lines   [][]byte
	next    int // lines handed out by the last Next
	max     int
	dropped uint64
}

// NewMemoryQueue returns a queue holding at most maxPoints.
func NewMemoryQueue(maxPoints int) *MemoryQueue { return &MemoryQueue{max: maxPoints} }

// Append implements Queue.
func (q *MemoryQueue) Append(lines []byte, _ int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range bytes.SplitAfter(lines, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		q.lines = append(q.lines, append([]byte(nil), l...))
	}
	if over := len(q.lines) - q.max; over > 0 {
		q.lines = q.lines[over:]
		q.dropped += uint64(over)
		q.next = max(0, q.next-over)
	}
	return nil
}

// Next implements Queue.
func (q *MemoryQueue) Next(maxPoints int) ([]byte, int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(maxPoints, len(q.lines))
	var out []byte
	for _, l := range q.lines[:n] {
		out = append(out, l...)
	}
	q.next = n
	return out, n, nil
}

// Ack implements Queue.
func (q *MemoryQueue) Ack() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lines = q.lines[q.next:]
	q.next = 0
	return nil
}

// Pending implements Queue.
func (q *MemoryQueue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines)
}

// Dropped counts points dropped because the queue was full.
func (q *MemoryQueue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
