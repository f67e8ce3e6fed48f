package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Device is a monitored device of a site.
type Device struct {
	ID       int64     `json:"id"`
	SiteID   int64     `json:"site_id"`
	Site     string    `json:"site"`
	Name     string    `json:"name"`
	Class    string    `json:"class"`
	Parent   string    `json:"parent,omitempty"`
	First    time.Time `json:"first_seen"`
	LastSeen time.Time `json:"last_seen"`
}

// ResolveDevice returns the id and class of device name at site, registering
// it on first sight with class (or "other" when class is not valid). It is
// on the write path: known devices are answered from memory.
func (d *Directory) ResolveDevice(ctx context.Context, siteID int64, name, class string) (int64, string, error) {
	k := deviceKey{siteID, name}
	d.mu.Lock()
	e, ok := d.devices[k]
	d.mu.Unlock()
	if ok {
		return e.id, e.class, nil
	}
	if loaded, err := d.loadSite(ctx, siteID); err != nil {
		return 0, "", err
	} else if loaded {
		d.mu.Lock()
		e, ok = d.devices[k]
		d.mu.Unlock()
		if ok {
			return e.id, e.class, nil
		}
	}
	if !ValidClass(class) {
		class = "other"
	}
	// New devices of concurrent writes share one transaction.
	return d.register(ctx, k, class)
}

// loadSite puts the known devices of a site into the cache on the first
// miss there, in one query, and reports whether it read any. After a
// collector restart every device is a miss once: without this, 10,000
// schools' 300,000 devices went through the registration's group commit
// one insert and one select each, and writes waited for it for minutes.
func (d *Directory) loadSite(ctx context.Context, siteID int64) (bool, error) {
	d.mu.Lock()
	done := d.loaded[siteID]
	d.mu.Unlock()
	if done {
		return false, nil
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, name, class, last_seen FROM devices WHERE site_id=?`, siteID)
	if err != nil {
		return false, fmt.Errorf("read devices of site %d: %w", siteID, err)
	}
	defer rows.Close()
	type row struct {
		name string
		e    deviceEntry
		seen int64
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.e.id, &r.name, &r.e.class, &r.seen); err != nil {
			return false, fmt.Errorf("read devices of site %d: %w", siteID, err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read devices of site %d: %w", siteID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range got {
		k := deviceKey{siteID, r.name}
		if _, ok := d.devices[k]; !ok {
			e := r.e
			d.devices[k] = &e
		}
		// What is saved already: after a restart, FlushSeen saves a
		// device's time again only once it moved its seenInterval past
		// it, not every device of the district in its first flush.
		if _, ok := d.saved[r.e.id]; !ok && r.seen > 0 {
			d.saved[r.e.id] = r.seen
		}
	}
	d.loaded[siteID] = true
	return len(got) > 0, nil
}

// Seen records that a device wrote data up to t (data time). The times are
// kept in memory and saved by FlushSeen, so that writes stay cheap.
func (d *Directory) Seen(deviceID int64, t time.Time) {
	ns := t.UnixNano()
	d.mu.Lock()
	if ns > d.dirty[deviceID] {
		d.dirty[deviceID] = ns
	}
	d.mu.Unlock()
}

// SeenResolution is how far a device's saved last-seen time may lag:
// FlushSeen saves a time only once it moved this far past the saved one.
// At 10,000 schools, 300,000 devices are seen every ten seconds: saving
// each every time was a tenth of the collector's CPU and the metadata
// database's busiest writer, once a minute still 5 %. What reads the
// saved times (the staffing count of devices seen in a period) counts in
// days. Readers of the directory see the
// exact time (queryDevices adds the unsaved ones); FlushAllSeen, at
// shutdown, saves everything.
const SeenResolution = 5 * time.Minute

// seenInterval is how far device id's last-seen time must move before
// FlushSeen saves it again: between half of SeenResolution and all of it,
// fixed per block of 64 consecutive ids. Devices first seen together
// (every device after a restart) would otherwise come due together every
// SeenResolution, at 10,000 schools 340,000 updates in one burst, which
// the load test showed as write-latency spikes every five minutes. With
// intervals that differ, the burst spreads over the next minutes and
// stays spread. By block, not by device: a school's devices have
// consecutive ids and share the table's pages, so that a flush writes a
// few pages per school rather than one page per device (measured at
// 10,000 schools: per device, flushing took 7 % of the collector's CPU,
// most of it writing pages to the WAL).
func seenInterval(id int64) int64 {
	half := uint64(SeenResolution / 2)
	// Fibonacci hashing: neighbouring blocks spread.
	return int64(SeenResolution) - int64((uint64(id>>6)*0x9E3779B97F4A7C15)%half)
}

// FlushSeen saves the last-seen times collected by Seen that moved at
// least their seenInterval (at most SeenResolution) past the saved ones,
// in transactions of at most seenTxRows rows, so that no transaction
// keeps the database's other writers waiting for long.
func (d *Directory) FlushSeen(ctx context.Context) error { return d.flushSeenTimes(ctx, false) }

// FlushAllSeen saves every last-seen time not saved yet.
func (d *Directory) FlushAllSeen(ctx context.Context) error { return d.flushSeenTimes(ctx, true) }

func (d *Directory) flushSeenTimes(ctx context.Context, all bool) error {
	d.mu.Lock()
	due := make(map[int64]int64)
	for id, ns := range d.dirty {
		if saved, ok := d.saved[id]; all || !ok || ns-saved >= seenInterval(id) {
			due[id] = ns
			delete(d.dirty, id)
		}
	}
	d.mu.Unlock()
	ids := make([]int64, 0, len(due))
	for id := range due {
		ids = append(ids, id)
	}
	slices.Sort(ids) // neighbours share pages
	for len(ids) > 0 {
		n := min(len(ids), seenTxRows)
		if err := d.flushSeen(ctx, ids[:n], due); err != nil {
			// Keep what was not saved for the next flush.
			d.mu.Lock()
			for _, id := range ids {
				if due[id] > d.dirty[id] {
					d.dirty[id] = due[id]
				}
			}
			d.mu.Unlock()
			return err
		}
		d.mu.Lock()
		for _, id := range ids[:n] {
			d.saved[id] = due[id]
		}
		d.mu.Unlock()
		ids = ids[n:]
	}
	return nil
}

const seenTxRows = 5000

func (d *Directory) flushSeen(ctx context.Context, ids []int64, seen map[int64]int64) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save last-seen times: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `UPDATE devices SET last_seen=max(last_seen, ?) WHERE id=?`)
	if err != nil {
		return fmt.Errorf("save last-seen times: %w", err)
	}
	for _, id := range ids {
		if _, err := st.ExecContext(ctx, seen[id], id); err != nil {
			return fmt.Errorf("save last-seen times: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save last-seen times: %w", err)
	}
	return nil
}

// SetDeviceClass overrides a device's class (from config or an operator);
// an overridden class is no longer changed by what agents report.
func (d *Directory) SetDeviceClass(ctx context.Context, siteID int64, name, class string) error {
	if !ValidClass(class) {
		return fmt.Errorf("unknown device class %q", class)
	}
	res, err := d.db.ExecContext(ctx, `UPDATE devices SET class=?, class_fixed=1 WHERE site_id=? AND name=?`, class, siteID, name)
	if err != nil {
		return fmt.Errorf("set class of %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("device %q: %w", name, ErrNotFound)
	}
	d.mu.Lock()
	if e := d.devices[deviceKey{siteID, name}]; e != nil {
		e.class = class
	}
	d.mu.Unlock()
	return nil
}

// Devices lists the devices of a site, including last-seen times not yet
// flushed.
func (d *Directory) Devices(ctx context.Context, siteID int64) ([]Device, error) {
	return d.queryDevices(ctx, `WHERE d.site_id=? ORDER BY d.class, d.name`, siteID)
}

// AllDevices lists every device of every site (for reports and the UI).
func (d *Directory) AllDevices(ctx context.Context) ([]Device, error) {
	return d.queryDevices(ctx, `ORDER BY s.name, d.class, d.name`)
}

// DeviceByName returns one device of a site.
func (d *Directory) DeviceByName(ctx context.Context, siteID int64, name string) (Device, error) {
	devs, err := d.queryDevices(ctx, `WHERE d.site_id=? AND d.name=?`, siteID, name)
	if err != nil {
		return Device{}, err
	}
	if len(devs) == 0 {
		return Device{}, fmt.Errorf("device %q: %w", name, ErrNotFound)
	}
	return devs[0], nil
}

func (d *Directory) queryDevices(ctx context.Context, where string, args ...any) ([]Device, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT d.id, d.site_id, s.name, d.name, d.class, d.parent, d.first_seen, d.last_seen
		FROM devices d JOIN sites s ON s.id = d.site_id `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	var lasts []int64
	for rows.Next() {
		var dev Device
		var first, last int64
		if err := rows.Scan(&dev.ID, &dev.SiteID, &dev.Site, &dev.Name, &dev.Class, &dev.Parent, &first, &last); err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		dev.First = time.Unix(0, first).UTC()
		out = append(out, dev)
		lasts = append(lasts, last)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	// The unsaved last-seen times, under the lock only after the scan:
	// the write path takes it for every device it sees.
	d.mu.Lock()
	for i := range out {
		if ns := d.dirty[out[i].ID]; ns > lasts[i] {
			lasts[i] = ns
		}
	}
	d.mu.Unlock()
	for i := range out {
		out[i].LastSeen = time.Unix(0, lasts[i]).UTC()
	}
	return out, nil
}

// DevicesRevision changes whenever a device is added or removed or its
// name, class or parent changes, in this process or another.
func (d *Directory) DevicesRevision(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, `SELECT n FROM device_revision WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read device revision: %w", err)
	}
	return n, nil
}

// ErrInvalidParent is returned for a parent that would make a device
// depend on itself.
var ErrInvalidParent = errors.New("invalid parent")

// SetParent records the parent an operator set for a device (the uplink
// router or access switch it depends on); "" clears it. It wins over a
// parent derived from LLDP. The parent must be a device of the same site,
// and following parents must not lead back to the device.
func (d *Directory) SetParent(ctx context.Context, siteID int64, name, parent string) error {
	if parent == name {
		return fmt.Errorf("%q cannot be its own parent: %w", name, ErrInvalidParent)
	}
	if parent != "" {
		for p, hops := parent, 0; p != ""; hops++ {
			if p == name || hops > 64 {
				return fmt.Errorf("%q cannot depend on %q: %q already depends on %q (directly or through other devices); change that parent first: %w", name, parent, parent, name, ErrInvalidParent)
			}
			err := d.db.QueryRowContext(ctx, `SELECT parent FROM devices WHERE site_id=? AND name=?`, siteID, p).Scan(&p)
			if errors.Is(err, sql.ErrNoRows) && hops == 0 {
				return fmt.Errorf("parent %q is no device of this site (devices are registered when they first report): %w", parent, ErrNotFound)
			}
			if errors.Is(err, sql.ErrNoRows) {
				break
			}
			if err != nil {
				return fmt.Errorf("set parent of %q: %w", name, err)
			}
		}
	}
	res, err := d.db.ExecContext(ctx, `UPDATE devices SET parent=? WHERE site_id=? AND name=?`, parent, siteID, name)
	if err != nil {
		return fmt.Errorf("set parent of %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("device %q is no device of this site (devices are registered when they first report): %w", name, ErrNotFound)
	}
	return nil
}
