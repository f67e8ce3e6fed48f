package availability

import (
	"context"

	"github.com/schulmon/schulmon/collector/ingest"
)

// ObserveBatches implements ingest.BatchObserver: the batches of many
// concurrent writes become one ObserveSignals call, i.e. one transaction,
// so that the engine's per-call cost does not cap the write rate. Signals
// keep their order (batch by batch, in arrival order).
func (e *Engine) ObserveBatches(ctx context.Context, bs []*ingest.Batch) {
	var sigs []Signal
	for _, b := range bs {
		e.noteLLDP(b)
		sigs = append(sigs, BatchSignals(b)...)
	}
	if len(sigs) == 0 {
		return
	}
	if err := e.ObserveSignals(ctx, sigs); err != nil {
		e.cfg.Logger.Error("availability: observe merged batches", "batches", len(bs), "signals", len(sigs), "err", err)
	}
}

var _ ingest.BatchObserver = (*Engine)(nil)
