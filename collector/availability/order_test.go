package availability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestSiteOrderFindsTheMapsObject runs random writes of several sites
// (mostly in the same order, sometimes shuffled, shortened, longer, with
// new objects, repeated beats, several writes of a site in a row) through
// two engines: one finds objects through the sites' orders, the other
// forgets the orders after every call and uses the map only. Objects are
// retired on the way. After every call each order names only current
// objects under their own names, and both engines agree on every
// object's evidence and spans.
func TestSiteOrderFindsTheMapsObject(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		fast, slow := newHarness(t, t0, Config{}), newHarness(t, t0, Config{})
		type obj struct {
			info ObjectInfo
			kind SignalKind
		}
		const sites = 3
		var pool [sites][]obj
		for s := range sites {
			site := int64(s + 1)
			o := func(dev, class, check string, kind SignalKind) obj {
				return obj{ObjectInfo{MunicipalityID: 1, SiteID: site, Municipality: "m", Site: fmt.Sprint("s", site), Device: dev, Class: class, Check: check}, kind}
			}
			pool[s] = append(pool[s], o("srv", "server", "", SignalHeartbeat), o("srv", "server", "disk", SignalCheck), o("srv", "server", "http", SignalCheck))
			for d := range 6 {
				pool[s] = append(pool[s], o(fmt.Sprint("sw", d), "switch", "", SignalPoll))
			}
		}
		now := t0
		for step := 0; step < 150; step++ {
			now = now.Add(time.Duration(1+rng.IntN(10)) * time.Second)
			fast.clk.Set(now)
			slow.clk.Set(now)
			var sigs []Signal
			for w := 0; w < 1+rng.IntN(4); w++ {
				s := rng.IntN(sites)
				objs := append([]obj(nil), pool[s][:4+rng.IntN(len(pool[s])-3)]...)
				switch r := rng.IntN(10); {
				case r == 0:
					rng.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
				case r == 1 && len(objs) > 2:
					objs = objs[1:]
				case r == 2: // a new device at the site
					n := obj{objs[3].info, SignalPoll}
					n.info.Device = fmt.Sprint("new", step)
					pool[s] = append(pool[s], n)
					objs = append(objs, n)
				case r == 3: // an outbox replay: several beats
					objs = append(objs, pool[s][0], pool[s][0])
				}
				for _, o := range objs {
					sigs = append(sigs, Signal{Object: o.info, Time: now.Add(-time.Duration(rng.IntN(3)) * time.Second), Kind: o.kind, OK: rng.IntN(20) != 0})
				}
			}
			fast.observe(sigs...)
			slow.observe(sigs...)
			slow.e.orders = nil
			if rng.IntN(15) == 0 { // an operator retires an object
				k := slow.e.list[rng.IntN(len(slow.e.list))].Key()
				for _, h := range []*harness{fast, slow} {
					if err := Retire(ctx, h.db, k, now); err != nil {
						t.Fatal(err)
					}
					h.e.mu.Lock()
					err := h.e.reload(ctx, now)
					h.e.mu.Unlock()
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			if rng.IntN(3) == 0 {
				fast.tick()
				slow.tick()
			}
			for site, o := range fast.e.orders {
				for i, x := range o.objs {
					if !o.is(i, x.st.Device, x.st.Check) || x.st.SiteID != site || fast.e.objs[x.st.Key()] != x.st {
						t.Fatalf("seed %d step %d: order of site %d names %s, which is not the engine's", seed, step, site, x.st.Key())
					}
				}
			}
			if len(fast.e.objs) != len(slow.e.objs) {
				t.Fatalf("seed %d step %d: %d objects, without orders %d", seed, step, len(fast.e.objs), len(slow.e.objs))
			}
			for k, b := range slow.e.objs {
				a := fast.e.objs[k]
				if a == nil {
					t.Fatalf("seed %d step %d: %s missing", seed, step, k)
				}
				if !reflect.DeepEqual(a.segs, b.segs) || a.Heartbeat != b.Heartbeat || a.FirstSeen != b.FirstSeen || !sameSpans(a.spans, b.spans) {
					t.Fatalf("seed %d step %d %s:\nwith orders:    %+v %+v\nwithout orders: %+v %+v", seed, step, k, a.segs, a.spans, b.segs, b.spans)
				}
			}
		}
		if len(fast.e.orders) == 0 {
			t.Fatal("no site order was kept")
		}
	}
}
