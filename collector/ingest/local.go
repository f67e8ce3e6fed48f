package ingest

import (
	"context"
	"fmt"

	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

// WriteLocal stores line protocol that the collector produced itself (its
// own SNMP poller for the data centre's devices) for site. It takes the
// same path as a client's write — trusted tags stamped, devices resolved,
// stored, then the observers (availability, events, inventory) — so that
// nothing downstream can tell the two apart. It returns the number of
// points stored.
func (h *Handler) WriteLocal(ctx context.Context, site *tenancy.Site, body []byte) (int, error) {
	parser := h.parsers.Get().(*metric.Parser)
	defer h.parsers.Put(parser)
	if err := parser.Parse(body, metric.PrecisionNS, h.now().UnixNano()); err != nil {
		return 0, fmt.Errorf("local write for site %s: %w", site.Name, err)
	}
	if len(parser.Rows) == 0 {
		return 0, nil
	}
	sc := getStampScratch()
	defer sc.release()
	points, batch, err := h.stamp(ctx, site, parser.Rows, sc)
	if err != nil {
		return 0, fmt.Errorf("local write for site %s: resolve devices: %w", site.Name, err)
	}
	points = mergeSameSeries(points) // as ServeHTTP
	if err := h.store.Write(ctx, points); err != nil {
		return 0, fmt.Errorf("local write for site %s: store %d points: %w", site.Name, len(points), err)
	}
	// As ServeHTTP after a stored write: signs of life, then observers.
	for _, d := range batch.Devices {
		h.dir.Seen(d.DeviceID, d.Last)
	}
	for i, o := range h.observers {
		if m := h.mergers[i]; m != nil {
			m.observe(ctx, batch)
		} else {
			o.Observe(ctx, batch)
		}
	}
	h.points.Add(float64(len(points)))
	return len(points), nil
}
