package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// registrar merges concurrent first-sight device registrations into one
// transaction (group commit). When a whole district's agents connect after
// a collector start, tens of thousands of devices are new at once; one
// fsync'd autocommit INSERT each would serialise them on the disk and make
// writers time out on the database lock. The first caller becomes the
// leader and commits everything queued meanwhile, batch after batch; the
// others wait for their result. No goroutine outlives a call.
type registrar struct {
	mu      sync.Mutex
	queue   []*regReq
	busy    bool
	commits atomic.Int64 // transactions so far, for tests
}

type regReq struct {
	key   deviceKey
	class string
	done  chan struct{}
	id    int64
	cls   string
	err   error
}

// register returns the id and class of a device not in the cache,
// inserting it if it is new.
func (d *Directory) register(ctx context.Context, key deviceKey, class string) (int64, string, error) {
	r := &regReq{key: key, class: class, done: make(chan struct{})}
	if err := d.registerAll(ctx, []*regReq{r}); err != nil {
		return 0, "", err
	}
	return r.id, r.cls, nil
}

// registerAll queues reqs for the next group commit (leading it if no
// one else is) and waits until all of them are done.
func (d *Directory) registerAll(ctx context.Context, reqs []*regReq) error {
	g := &d.reg
	g.mu.Lock()
	g.queue = append(g.queue, reqs...)
	if !g.busy {
		g.busy = true
		for len(g.queue) > 0 {
			batch := g.queue
			g.queue = nil
			g.mu.Unlock()
			d.registerBatch(batch)
			g.mu.Lock()
		}
		g.busy = false
	}
	g.mu.Unlock()
	for _, r := range reqs {
		select {
		case <-r.done:
			if r.err != nil {
				return r.err
			}
		case <-ctx.Done():
			// The registration still completes for the next write.
			return ctx.Err()
		}
	}
	return nil
}

// DeviceRef names a device a write is about, with the class to give it
// if it is new.
type DeviceRef struct {
	Name, Class string
}

// RegisterDevices makes sure the devices of refs are known, registering
// the new ones in one group commit: an agent's first write names its
// host and some thirty SNMP devices, and registering them one after the
// other cost thirty commits in a row.
func (d *Directory) RegisterDevices(ctx context.Context, siteID int64, refs []DeviceRef) error {
	if _, err := d.loadSite(ctx, siteID); err != nil {
		return err
	}
	var reqs []*regReq
	var queued map[string]bool // made for the first new device only
	d.mu.Lock()
	for _, r := range refs {
		k := deviceKey{siteID, r.Name}
		if _, ok := d.devices[k]; ok || queued[r.Name] {
			continue
		}
		if queued == nil {
			queued = map[string]bool{}
		}
		queued[r.Name] = true
		class := r.Class
		if !ValidClass(class) {
			class = "other"
		}
		reqs = append(reqs, &regReq{key: k, class: class, done: make(chan struct{})})
	}
	d.mu.Unlock()
	if len(reqs) == 0 {
		return nil
	}
	return d.registerAll(ctx, reqs)
}

func (d *Directory) registerBatch(batch []*regReq) {
	d.reg.commits.Add(1)
	err := d.registerTx(batch)
	for _, r := range batch {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

func (d *Directory) registerTx(batch []*regReq) error {
	// Not the leader's context: the batch carries other callers' devices.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("register devices: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO devices(site_id, name, class, first_seen, last_seen) VALUES(?, ?, ?, ?, ?) ON CONFLICT(site_id, name) DO NOTHING RETURNING id, class`)
	if err != nil {
		return fmt.Errorf("register devices: %w", err)
	}
	defer ins.Close()
	sel, err := tx.PrepareContext(ctx, `SELECT id, class FROM devices WHERE site_id=? AND name=?`)
	if err != nil {
		return fmt.Errorf("register devices: %w", err)
	}
	defer sel.Close()
	now := time.Now().UnixNano()
	for _, r := range batch {
		d.mu.Lock()
		e, ok := d.devices[r.key]
		d.mu.Unlock()
		if ok { // registered by an earlier batch
			r.id, r.cls = e.id, e.class
			continue
		}
		// last_seen comes from the data (Seen, after the points are
		// stored): an agent replaying hours of buffered points must not
		// look seen "now" because it was registered now.
		err := ins.QueryRowContext(ctx, r.key.site, r.key.name, r.class, now, 0).Scan(&r.id, &r.cls)
		if errors.Is(err, sql.ErrNoRows) {
			// Stored meanwhile by another process (the CLI): read it.
			err = sel.QueryRowContext(ctx, r.key.site, r.key.name).Scan(&r.id, &r.cls)
		}
		if err != nil {
			return fmt.Errorf("register device %q: %w", r.key.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("register devices: %w", err)
	}
	d.mu.Lock()
	for _, r := range batch {
		if _, ok := d.devices[r.key]; !ok {
			d.devices[r.key] = &deviceEntry{id: r.id, class: r.cls}
		}
	}
	d.mu.Unlock()
	return nil
}
