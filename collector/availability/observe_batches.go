package availability

import (
	"context"
	"slices"

	"github.com/schulmon/schulmon/collector/ingest"
)

// ObserveBatches implements ingest.BatchObserver: the batches of many
// concurrent writes become one ObserveSignals call, i.e. one transaction,
// so that the engine's per-call cost does not cap the write rate. Signals
// keep their order (batch by batch, in arrival order).
func (e *Engine) ObserveBatches(ctx context.Context, bs []*ingest.Batch) {
	// The signals of one call (some 2,000 of 200 bytes at 64 writes) go
	// into a buffer kept between calls: built anew, they were a third of
	// the collector's garbage at 10,000 schools.
	e.sigMu.Lock()
	defer e.sigMu.Unlock()
	n := 0
	for _, b := range bs {
		n += batchSignalsCap(b)
	}
	sigs := slices.Grow(e.sigBuf[:0], n)
	for _, b := range bs {
		e.noteLLDP(b)
		sigs = appendBatchSignals(sigs, b)
	}
	defer func() {
		// Drop the batches' strings; keep the buffer unless a replay
		// made it unusually large.
		clear(sigs)
		if cap(sigs) <= maxKeptSignals {
			e.sigBuf = sigs[:0]
		} else {
			e.sigBuf = nil
		}
	}()
	if len(sigs) == 0 {
		return
	}
	if err := e.ObserveSignals(ctx, sigs); err != nil {
		e.cfg.Logger.Error("availability: observe merged batches", "batches", len(bs), "signals", len(sigs), "err", err)
	}
}

// maxKeptSignals bounds the signal buffer kept between ObserveBatches
// calls (about 1.6 MB; a call of 64 ordinary writes needs a quarter).
const maxKeptSignals = 8192

var _ ingest.BatchObserver = (*Engine)(nil)
