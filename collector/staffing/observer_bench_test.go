package staffing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/loadgen"
	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// fakeDir resolves every device name to a new id, without a database.
type fakeDir struct{ ids map[string]int64 }

func (d *fakeDir) Authenticate(context.Context, string) (*tenancy.Principal, error) {
	return nil, tenancy.ErrUnauthenticated
}
func (d *fakeDir) Seen(int64, time.Time) {}
func (d *fakeDir) ResolveDevice(_ context.Context, _ int64, name, class string) (int64, string, error) {
	if d.ids[name] == 0 {
		d.ids[name] = int64(len(d.ids) + 1)
	}
	return d.ids[name], class, nil
}

type nopStore struct{}

func (nopStore) Write(context.Context, []store.Point) error { return nil }

type batchRecorder struct{ batches []*ingest.Batch }

func (r *batchRecorder) Observe(_ context.Context, b *ingest.Batch) { r.batches = append(r.batches, b) }

// agentBatches returns the batches the ingest handler makes of the load
// test's agent rounds (heartbeat, host metrics, ~30 snmp_poll rows).
func agentBatches(tb testing.TB, agents int) []*ingest.Batch {
	h := ingest.New(&fakeDir{ids: map[string]int64{}}, nopStore{}, ingest.Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	rec := &batchRecorder{}
	h.AddObserver(rec)
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range agents {
		site := &tenancy.Site{ID: int64(i + 1), Name: fmt.Sprintf("school-%05d", i), MunicipalityID: int64(i/20 + 1), Municipality: fmt.Sprintf("Kommune-%03d", i/20)}
		body := loadgen.AppendRound(nil, loadgen.AgentTemplate(fmt.Sprintf("srv-%05d", i), 50, i), start, start, rng)
		if _, err := h.WriteLocal(context.Background(), site, body); err != nil {
			tb.Fatal(err)
		}
	}
	return rec.batches
}

// BenchmarkFromPoints is the inventory observer's work per agent write
// in the steady state: every row was written recently, so the throttle
// lets none through and nothing goes to the database.
func BenchmarkFromPoints(b *testing.B) {
	const agents = 64
	batches := agentBatches(b, agents)
	s := &Store{now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	s.obs.init()
	due := 0
	for _, bt := range batches {
		eps, ids := s.fromPoints(bt.SiteID, bt.Signals)
		due += len(eps) + len(ids)
	}
	if due == 0 {
		b.Fatal("the first round found no identities")
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		bt := batches[i%agents]
		if eps, ids := s.fromPoints(bt.SiteID, bt.Signals); len(eps)+len(ids) != 0 {
			b.Fatalf("%d rows due again within touchEvery", len(eps)+len(ids))
		}
		i++
	}
}
