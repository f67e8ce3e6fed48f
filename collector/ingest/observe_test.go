package ingest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
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

type nameDir struct{ ids map[string]int64 }

func (d *nameDir) Authenticate(context.Context, string) (*tenancy.Principal, error) { return nil, nil }
func (d *nameDir) Seen(int64, time.Time)                                            {}
func (d *nameDir) ResolveDevice(_ context.Context, _ int64, name, class string) (int64, string, error) {
	if d.ids[name] == 0 {
		d.ids[name] = int64(len(d.ids) + 1)
	}
	return d.ids[name], class, nil
}

// A device's own rows (host tag, or no name at all: the site) are its
// beats, one per second, sorted; rows naming it by the device tag are
// written about it by someone else.
func TestStampSelfAndBeats(t *testing.T) {
	var p metric.Parser
	body := `cpu,host=srv1 usage_idle=90 1700000020000000000
snmp_if,device=sw1,ifIndex=1 ifOperStatus=1i 1700000020000000000
cpu,host=srv1 usage_idle=91 1700000000000000000
mem,host=srv1 used_percent=40 1700000000500000000
snmp_poll,device=srv1 reachable=true 1700000010000000000
disk,device=sda1,host=srv1 used_percent=60 1700000020000000000
temp value=21 1700000030000000000
`
	if err := p.Parse([]byte(body), metric.PrecisionNS, 0); err != nil {
		t.Fatal(err)
	}
	h := &Handler{dir: &nameDir{ids: map[string]int64{}}}
	site := &tenancy.Site{ID: 1, Name: "gs-a", Municipality: "Stadt-A"}
	_, b, err := h.stamp(context.Background(), site, p.Rows, getStampScratch())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]DeviceSeen{}
	for _, d := range b.Devices {
		got[d.Device] = d
	}
	sec := func(s ...int64) []time.Time {
		var out []time.Time
		for _, v := range s {
			out = append(out, time.Unix(1700000000+v, 0))
		}
		return out
	}
	for name, want := range map[string]struct {
		self   bool
		beats  []time.Time
		points int
	}{
		// The snmp_poll about srv1 at :10 is no beat; the two rows in the
		// first second are one.
		"srv1": {true, sec(0, 20), 5},
		"sw1":  {false, nil, 1},
		"gs-a": {true, sec(30), 1},
	} {
		d := got[name]
		if d.Self != want.self || d.Points != want.points || !slices.EqualFunc(d.Beats, want.beats, time.Time.Equal) {
			t.Errorf("%s: self %v beats %v points %d, want %v %v %d", name, d.Self, d.Beats, d.Points, want.self, want.beats, want.points)
		}
	}
}
