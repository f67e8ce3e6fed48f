package ingest

import (
	"context"
	"testing"
	"time"
)

// TestAsyncObserverDoesNotDelayWrites: a write hands its batch to an
// asynchronous observer and returns at once, even while the observer is
// stuck; the batches are observed once it moves again, and Close waits
// for them.
func TestAsyncObserverDoesNotDelayWrites(t *testing.T) {
	o := &slowBatchObserver{seen: map[int64]bool{}, release: make(chan struct{})}
	h := &Handler{}
	h.AddAsyncObserver(o)
	m := h.mergers[0]
	for i := int64(1); i <= 10; i++ {
		done := make(chan struct{})
		go func() {
			m.observe(context.Background(), &Batch{SiteID: i})
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d waited for a stuck asynchronous observer", i)
		}
	}
	o.mu.Lock()
	n := len(o.seen)
	o.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d batches observed while the observer was stuck", n)
	}
	close(o.release)
	h.Close()
	if len(o.seen) != 10 {
		t.Fatalf("observed %d of 10 batches after Close", len(o.seen))
	}
}
