package availability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// loadedSegs reads the evidence back as a restarted engine would, without
// Open's re-derivation, keyed by object.
func loadedSegs(t *testing.T, h *harness) map[ObjectKey][]seg {
	t.Helper()
	e := &Engine{db: h.db, cfg: h.cfg.withDefaults(), objs: map[ObjectKey]*objState{}, byID: map[int64]*objState{}, children: map[int64][]int64{}}
	if err := e.loadObjects(context.Background(), h.clk.Now()); err != nil {
		t.Fatal(err)
	}
	out := map[ObjectKey][]seg{}
	for k, st := range e.objs {
		out[k] = st.segs
	}
	return out
}

func liveSegs(h *harness) map[ObjectKey][]seg {
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	out := map[ObjectKey][]seg{}
	for k, st := range h.e.objs {
		out[k] = append([]seg(nil), st.segs...)
	}
	return out
}

// TestCheckpointRestoresEvidence: whatever the signals (in order, late,
// failed, reboots), the evidence read back after a checkpoint, from the
// objects' segments and their sites' tail rows, is the engine's.
func TestCheckpointRestoresEvidence(t *testing.T) {
	old := checkpointTxRows
	checkpointTxRows = 3 // several transactions per checkpoint
	defer func() { checkpointTxRows = old }()
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			h := newHarness(t, t0, Config{})
			var objs []ObjectInfo
			for site := int64(1); site <= 3; site++ {
				for d := 0; d < 3; d++ {
					o := info(fmt.Sprintf("dev%d", d), "switch")
					o.SiteID, o.Site = site, fmt.Sprintf("site %d", site)
					objs = append(objs, o)
				}
			}
			now := t0
			for step := 0; step < 300; step++ {
				now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
				h.clk.Set(now)
				o := objs[rng.IntN(len(objs))]
				s := Signal{Object: o, Time: now, Kind: SignalPoll, OK: rng.IntN(8) != 0}
				switch r := rng.IntN(20); {
				case r < 4:
					s.Time = now.Add(-time.Duration(rng.IntN(600)) * time.Second) // late
				case r == 4:
					s.Rebooted = true
				case r < 9:
					s.Kind = SignalHeartbeat
				}
				h.observe(s)
				switch rng.IntN(10) {
				case 0:
					if err := h.e.Checkpoint(context.Background()); err != nil {
						t.Fatal(err)
					}
				case 1:
					h.tick()
				}
			}
			if err := h.e.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			want, got := liveSegs(h), loadedSegs(t, h)
			if !reflect.DeepEqual(got, want) {
				for k := range want {
					if !reflect.DeepEqual(got[k], want[k]) {
						t.Errorf("%v: read back %+v, engine has %+v", k, got[k], want[k])
					}
				}
				t.Fatal("evidence read back differs")
			}
		})
	}
}

// TestCheckpointSkipsGrownObjects: an object whose evidence only went on
// since the last checkpoint keeps its stored segments; its site's tail
// row carries the new end, and a crash after that checkpoint is a gap
// from the latest evidence on.
func TestCheckpointSkipsGrownObjects(t *testing.T) {
	h := newHarness(t, t0, Config{})
	srv := info("srv1", "server")
	h.live(srv, SignalHeartbeat, true, t0, t0.Add(time.Minute), 10*time.Second)
	if err := h.e.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	blob := func() []byte {
		var b []byte
		if err := h.db.QueryRow(`SELECT segs FROM av_objects WHERE device='srv1'`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := blob()
	h.live(srv, SignalHeartbeat, true, t0.Add(70*time.Second), t0.Add(5*time.Minute), 10*time.Second)
	if err := h.e.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := blob(); !reflect.DeepEqual(got, first) {
		t.Fatalf("segments rewritten for an object whose evidence only went on: %x, was %x", got, first)
	}
	// Crash (no Close); restart 10 minutes later.
	h.clk.Set(t0.Add(15 * time.Minute))
	h.open()
	h.live(srv, SignalHeartbeat, true, h.clk.Now(), h.clk.Now().Add(time.Minute), 10*time.Second)
	s := h.spans("srv1")
	if len(s) != 1 || s[0].State != StateUnknown || s[0].Start != ms(t0.Add(5*time.Minute+10*time.Second)) || s[0].End != ms(t0.Add(15*time.Minute)) {
		t.Fatalf("spans %+v, want unknown from the first missed heartbeat after the second checkpoint to the restart", s)
	}
}

// TestOnlyGrownSinceSync: the tick derives an object again unless only
// its good run's end moved on since the last sync, and recently.
func TestOnlyGrownSinceSync(t *testing.T) {
	e := &Engine{gapGen: 3}
	p := params{I: 10_000, D: 30_000}
	base := func() *objState {
		st := &objState{p: p, segs: []seg{{S: 0, E: 50_000, Fail: true}, {S: 60_000, E: 100_000}}}
		st.spans = []Span{{State: StateDown, Start: 10_000, End: 60_000}}
		st.synced.n, st.synced.s, st.synced.e, st.synced.gapGen = 2, 60_000, 90_000, 3
		return st
	}
	const now = 110_000
	if !e.onlyGrownSinceSync(base(), now) {
		t.Fatal("a good run that only went on must not be derived again")
	}
	for name, change := range map[string]func(st *objState){
		"changed otherwise":     func(st *objState) { st.resync = true },
		"gaps changed":          func(st *objState) { st.synced.gapGen = 2 },
		"segment added":         func(st *objState) { st.segs = append(st.segs, seg{S: 105_000, E: 105_000, Fail: true}) },
		"last segment replaced": func(st *objState) { st.segs[1].S = 65_000 },
		"failing run":           func(st *objState) { st.segs[1].Fail = true },
		"proven outage":         func(st *objState) { st.segs[1].Certain = true },
		"silent too long":       func(st *objState) { st.segs[1].E = now - p.D },
		"open span":             func(st *objState) { st.spans[0].End = 0 },
		"span after the run":    func(st *objState) { st.spans = append(st.spans, Span{State: StateUnknown, Start: 80_000, End: 95_000}) },
	} {
		st := base()
		change(st)
		if e.onlyGrownSinceSync(st, now) {
			t.Errorf("%s: not derived again", name)
		}
	}
}

// TestRetiredObjectsReadByIndex: the engine's look for retired objects
// (every 30 s) does not read the whole table.
func TestRetiredObjectsReadByIndex(t *testing.T) {
	db := openDB(t)
	rows, err := db.Query(`EXPLAIN QUERY PLAN ` + retiredQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) != 1 || !strings.Contains(plan[0], "av_objects_retired") {
		t.Fatalf("plan %q, want a search of av_objects_retired", plan)
	}
}
