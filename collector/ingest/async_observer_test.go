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

// TestSyncWaitsForAsynchronousObservers: Sync returns only after every
// batch handed over before it was observed, and gives up with the
// context's error while the observer is stuck.
func TestSyncWaitsForAsynchronousObservers(t *testing.T) {
	o := &slowBatchObserver{seen: map[int64]bool{}, release: make(chan struct{})}
	h := &Handler{}
	h.AddAsyncObserver(o)
	defer h.Close()
	for i := int64(1); i <= 5; i++ {
		h.mergers[0].observe(context.Background(), &Batch{SiteID: i})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Sync(ctx); err == nil {
		t.Fatal("Sync returned while the observer was stuck")
	}
	close(o.release)
	if err := h.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) != 5 {
		t.Fatalf("Sync returned after %d of 5 batches were observed", len(o.seen))
	}
	for _, call := range o.calls {
		if len(call) == 0 {
			t.Fatal("a barrier reached the observer as an empty call")
		}
	}
}

// TestPendingSinceTracksTheOldestUnobservedWrite: while an asynchronous
// observer is stuck, PendingSince reports when the oldest waiting write
// was handed over (the engine judges silence only up to then), and
// nothing once everything was observed.
func TestPendingSinceTracksTheOldestUnobservedWrite(t *testing.T) {
	o := &slowBatchObserver{seen: map[int64]bool{}, release: make(chan struct{})}
	h := &Handler{}
	h.AddAsyncObserver(o)
	defer h.Close()
	if _, ok := h.PendingSince(); ok {
		t.Fatal("pending before any write")
	}
	before := time.Now()
	h.mergers[0].observe(context.Background(), &Batch{SiteID: 1})
	time.Sleep(20 * time.Millisecond)
	for i := int64(2); i <= 5; i++ {
		h.mergers[0].observe(context.Background(), &Batch{SiteID: i})
	}
	deadline := time.Now().Add(5 * time.Second)
	var since time.Time
	var ok bool
	for time.Now().Before(deadline) {
		if since, ok = h.PendingSince(); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !ok {
		t.Fatal("nothing pending while the observer is stuck")
	}
	if since.Before(before) || since.After(before.Add(15*time.Millisecond)) {
		t.Fatalf("pending since %v, want the first write's hand-over at %v", since, before)
	}
	close(o.release)
	if err := h.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, ok := h.PendingSince(); ok {
		t.Fatalf("still pending since %v after everything was observed", s)
	}
}
