package ingest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// BatchObserver is an Observer that can take the batches of many
// concurrent writes in one call (typically one database transaction).
// Writes to it are merged: each request still waits until its batch was
// observed before it is acknowledged, but concurrent requests share the
// observer's call, so its per-call cost (an fsync) does not cap the
// collector's request rate.
type BatchObserver interface {
	Observer
	ObserveBatches(ctx context.Context, batches []*Batch)
}

// maxMerge bounds how many batches one ObserveBatches call gets.
const maxMerge = 512

// maxAsyncMerge is the smaller bound for asynchronous observers: nobody
// waits for their calls, and a call is one transaction on the metadata
// database, whose other writers (device registration, which write
// requests do wait for) queue behind it. 512 first writes of new schools
// were some 30,000 inserts, half a second of holding the lock.
const maxAsyncMerge = 64

// asyncQueue bounds the batches waiting for an asynchronous observer:
// about 15 s of 10,000 agents' writes (some 10 KB each), so that the
// transient after a collector start, when every object's state changes
// once, does not hold up writes; a full queue makes writers wait.
const asyncQueue = 16384

// AddAsyncObserver registers a BatchObserver whose batches are handed
// over without waiting until they were observed (a full queue still makes
// writers wait), so that it adds nothing to write latency. Readers that
// need its state call Sync; judges of silence use PendingSince.
func (h *Handler) AddAsyncObserver(o BatchObserver) {
	m := &merger{obs: o, ch: make(chan *observeReq, asyncQueue), done: make(chan struct{}), async: true, merge: maxAsyncMerge}
	go m.run()
	h.observers = append(h.observers, o)
	h.mergers = append(h.mergers, m)
}

// merger feeds one BatchObserver from one goroutine.
type merger struct {
	obs   BatchObserver
	ch    chan *observeReq
	done  chan struct{}
	async bool
	merge int // batches per call at most

	mu     sync.RWMutex
	closed bool

	// pending is when the oldest batch not yet observed was handed over
	// (Unix ns; 0: none), or a little earlier.
	pending atomic.Int64
}

type observeReq struct {
	b    *Batch
	done chan struct{}
	at   int64 // when handed over (Unix ns)
}

func newMerger(o BatchObserver) *merger {
	m := &merger{obs: o, ch: make(chan *observeReq, maxMerge), done: make(chan struct{}), merge: maxMerge}
	go m.run()
	return m
}

// observe hands b to the observer and waits until it was observed or ctx
// ends (the observation then still happens).
func (m *merger) observe(ctx context.Context, b *Batch) {
	r := &observeReq{b: b, done: make(chan struct{}), at: time.Now().UnixNano()}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		m.obs.Observe(ctx, b)
		return
	}
	select {
	case m.ch <- r:
	case <-ctx.Done():
		m.mu.RUnlock()
		return
	}
	m.mu.RUnlock()
	if m.async {
		return
	}
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

// PendingSince returns when the oldest write that an asynchronous
// observer has not observed yet was handed over (or a little earlier),
// and false if none waits. The availability engine judges silence only up
// to then: a heartbeat still in the queue is not a missed one.
func (h *Handler) PendingSince() (time.Time, bool) {
	var oldest int64
	for _, m := range h.mergers {
		if m == nil || !m.async {
			continue
		}
		if p := m.pending.Load(); p != 0 && (oldest == 0 || p < oldest) {
			oldest = p
		}
	}
	if oldest == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, oldest), true
}

// Sync waits until every batch handed to an observer before the call
// has been observed, or ctx ends. Asynchronous observers lag behind the
// acknowledgement; a reader that must see every acknowledged write (the
// availability API and pages, tests) calls Sync first.
func (h *Handler) Sync(ctx context.Context) error {
	for _, m := range h.mergers {
		if m == nil {
			continue
		}
		if err := m.barrier(ctx); err != nil {
			return err
		}
	}
	return nil
}

// barrier waits until everything queued before it was observed: the
// queue is first in, first out, and a request's done closes only after
// the call that observed it and all before it.
func (m *merger) barrier(ctx context.Context) error {
	r := &observeReq{done: make(chan struct{}), at: time.Now().UnixNano()}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil
	}
	select {
	case m.ch <- r:
	case <-ctx.Done():
		m.mu.RUnlock()
		return ctx.Err()
	}
	m.mu.RUnlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *merger) run() {
	defer close(m.done)
	reqs := make([]*observeReq, 0, m.merge)
	batches := make([]*Batch, 0, m.merge)
	for r := range m.ch {
		reqs = append(reqs[:0], r)
	fill:
		for len(reqs) < m.merge {
			select {
			case r, ok := <-m.ch:
				if !ok {
					break fill
				}
				reqs = append(reqs, r)
			default:
				break fill
			}
		}
		m.pending.Store(reqs[0].at)
		batches = batches[:0]
		for _, r := range reqs {
			if r.b != nil { // nil: a barrier of Sync
				batches = append(batches, r.b)
			}
		}
		// Not a request's context: the call carries many requests.
		if len(batches) > 0 {
			m.obs.ObserveBatches(context.Background(), batches)
		}
		// The queue's head was handed over after this call's last batch:
		// its time is an early enough bound.
		if len(m.ch) == 0 {
			m.pending.Store(0)
		} else {
			m.pending.Store(reqs[len(reqs)-1].at)
		}
		for i, r := range reqs {
			close(r.done)
			reqs[i] = nil
		}
		clear(batches)
	}
}

func (m *merger) close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.ch)
	}
	m.mu.Unlock()
	<-m.done
}
