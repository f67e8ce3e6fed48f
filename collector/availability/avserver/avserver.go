// Package avserver attaches the availability engine and alerting to a
// collector server: it registers the engine as a write-path observer, adds
// the detection, checkpoint, alert-delivery and dependency jobs, and mounts
// the HTTP API behind the server's authentication.
package avserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/server"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// Attached are the parts Attach created.
type Attached struct {
	Engine *availability.Engine
	Alerts *alerting.Manager
}

type handlerRef struct{ m *alerting.Manager }

func (h *handlerRef) HandleEvents(ctx context.Context, ev []availability.Event) {
	if h.m != nil {
		h.m.HandleEvents(ctx, ev)
	}
}

// Attach wires availability and alerting into s with the settings of the
// config file's "availability" section. Call it after server.New and
// before Run.
func Attach(ctx context.Context, s *server.Server, set alerting.Settings) (*Attached, error) {
	if set.Disabled {
		return &Attached{}, nil
	}
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if set.TZ == "" {
		set.TZ = "Europe/Berlin"
	}
	loc, err := time.LoadLocation(set.TZ)
	if err != nil {
		return nil, fmt.Errorf("availability.tz: %w", err)
	}
	if set.Tick <= 0 {
		set.Tick = 5 * time.Second
	}
	ref := &handlerRef{}
	eng, err := availability.Open(ctx, s.MetaDB, availability.Config{Heartbeat: set.Heartbeat, Poll: set.Poll, Check: set.Check, Logger: s.Log, Events: ref})
	if err != nil {
		return nil, err
	}
	var hooks []alerting.Notifier
	for _, w := range set.Webhooks {
		h, err := alerting.NewWebhook(w)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, h)
	}
	mgr, err := alerting.New(ctx, s.MetaDB, alerting.Config{BurnRules: set.BurnRules, Logger: s.Log}, eng, hooks...)
	if err != nil {
		return nil, err
	}
	ref.m = mgr

	// Asynchronous: write requests are acknowledged once their points are
	// stored, without waiting for the engine, whose transactions share the
	// metadata database's single writer. Reads wait for it
	// (server.readsAfterWrites); a crash loses at most what a crash loses
	// anyway, the evidence since the last checkpoint.
	s.Ingest.AddAsyncObserver(eng)
	// Record the stop, so that the time until the next start is a known
	// monitoring gap from that moment rather than from the last checkpoint.
	s.AddCloser(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return eng.Close(ctx)
	})
	s.AddJob("availability-tick", set.Tick, func(ctx context.Context, now time.Time) error {
		// Silence is judged only up to the oldest write the engine has not
		// observed yet: a heartbeat still queued is not a missed one.
		if p, ok := s.Ingest.PendingSince(); ok && p.Before(now) {
			now = p
		}
		if err := eng.Tick(ctx, now); err != nil {
			return err
		}
		return mgr.Evaluate(ctx, now)
	})
	s.AddJob("availability-checkpoint", time.Minute, func(ctx context.Context, _ time.Time) error { return eng.Checkpoint(ctx) })
	s.AddJob("alert-delivery", 2*time.Second, func(ctx context.Context, _ time.Time) error {
		_, err := mgr.Deliver(ctx)
		return err
	})
	// Parents: an operator's (devices.parent: CLI, API) or else from LLDP.
	ps := &parentSync{dir: s.Dir, eng: eng}
	syncParents := func(ctx context.Context, now time.Time) error { return ps.run(ctx, now, true) }
	if err := syncParents(ctx, time.Now()); err != nil {
		return nil, err
	}
	s.AddJob("availability-parents", time.Minute, func(ctx context.Context, now time.Time) error { return ps.run(ctx, now, false) })
	s.API.ParentsChanged = func(ctx context.Context) error { return syncParents(ctx, time.Now()) }
	(&availability.HTTP{DB: s.MetaDB, Sites: s.Dir, Engine: eng, TZ: loc}).Routes(s.Mux, s.Authenticate)
	return &Attached{Engine: eng, Alerts: mgr}, nil
}

// parentFullSync is how often the parents are derived again even though
// neither the devices nor the LLDP links changed: old LLDP links expire.
const parentFullSync = 10 * time.Minute

// parentSync derives device parents from every device and the LLDP
// links; at 10,000 schools that reads 300,000 devices, so the minutely
// run skips while neither changed (a CLI change bumps the devices'
// revision too, so it still applies within a minute).
type parentSync struct {
	dir interface {
		DevicesRevision(ctx context.Context) (int64, error)
		AllDevices(ctx context.Context) ([]tenancy.Device, error)
	}
	eng *availability.Engine

	mu       sync.Mutex
	synced   bool
	devRev   int64
	lldpRev  int64
	lastFull time.Time
	runs     int // full syncs, for tests
}

func (p *parentSync) run(ctx context.Context, now time.Time, force bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	devRev, err := p.dir.DevicesRevision(ctx)
	if err != nil {
		return err
	}
	lldpRev := p.eng.LLDPRevision()
	if !force && p.synced && devRev == p.devRev && lldpRev == p.lldpRev && now.Sub(p.lastFull) < parentFullSync {
		return nil
	}
	devs, err := p.dir.AllDevices(ctx)
	if err != nil {
		return err
	}
	if err := p.eng.SyncDevices(ctx, devs); err != nil {
		return err
	}
	// The revisions as read before: a change since then (SyncDevices
	// itself stores the links seen meanwhile) makes the next run sync.
	p.synced, p.devRev, p.lldpRev, p.lastFull = true, devRev, lldpRev, now
	p.runs++
	return nil
}
