package ingest

import (
	"context"
	"sync"
	"testing"
	"time"
)

type slowBatchObserver struct {
	mu      sync.Mutex
	calls   [][]int64 // site ids per call
	seen    map[int64]bool
	release chan struct{}
}

func (o *slowBatchObserver) Observe(ctx context.Context, b *Batch) {
	o.ObserveBatches(ctx, []*Batch{b})
}

func (o *slowBatchObserver) ObserveBatches(_ context.Context, bs []*Batch) {
	<-o.release // the first call blocks until the test lets it go
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []int64
	for _, b := range bs {
		ids = append(ids, b.SiteID)
		o.seen[b.SiteID] = true
	}
	o.calls = append(o.calls, ids)
}

func TestMergerMergesConcurrentBatchesAndWaits(t *testing.T) {
	o := &slowBatchObserver{seen: map[int64]bool{}, release: make(chan struct{})}
	m := newMerger(o)
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	notSeenOnReturn := 0
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			m.observe(context.Background(), &Batch{SiteID: id})
			// Acknowledged only after observed.
			o.mu.Lock()
			ok := o.seen[id]
			o.mu.Unlock()
			if !ok {
				mu.Lock()
				notSeenOnReturn++
				mu.Unlock()
			}
		}(int64(i))
	}
	// Let the first call wait until the others have queued up.
	// (The worker may already hold a few of them.)
	for deadline := time.Now().Add(2 * time.Second); len(m.ch) < n-1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(o.release)
	wg.Wait()
	m.close()
	if notSeenOnReturn > 0 {
		t.Fatalf("%d writes returned before their batch was observed", notSeenOnReturn)
	}
	if len(o.seen) != n {
		t.Fatalf("observed %d batches, want %d", len(o.seen), n)
	}
	if len(o.calls) > n/2 {
		t.Fatalf("%d observer calls for %d concurrent writes: not merged", len(o.calls), n)
	}
	// After close, observations still happen (directly).
	m.observe(context.Background(), &Batch{SiteID: 999})
	if !o.seen[999] {
		t.Fatal("observe after close was dropped")
	}
}
