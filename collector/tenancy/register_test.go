package tenancy

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentFirstSightRegistersEachDeviceOnce resolves the same new
// devices from many goroutines at once, as a district's agents do after a
// collector start: every caller gets the same id, each device is stored
// once, and the group commit needs far fewer transactions than devices.
func TestConcurrentFirstSightRegistersEachDeviceOnce(t *testing.T) {
	ctx := context.Background()
	d, db, site, _ := newTestDirectory(t)
	const devices, workers = 300, 16
	ids := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ids[w] = make([]int64, devices)
			for i := 0; i < devices; i++ {
				j := (i + w*37) % devices // different order per worker
				id, class, err := d.ResolveDevice(ctx, site.ID, fmt.Sprintf("sw-%d", j), "switch")
				if err != nil {
					t.Error(err)
					return
				}
				if class != "switch" {
					t.Errorf("class %q", class)
				}
				ids[w][j] = id
			}
		}(w)
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		for i := range ids[w] {
			if ids[w][i] != ids[0][i] || ids[0][i] == 0 {
				t.Fatalf("device sw-%d: worker %d got id %d, worker 0 got %d", i, w, ids[w][i], ids[0][i])
			}
		}
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM devices WHERE site_id=?`, site.ID).Scan(&n)
	if n != devices {
		t.Fatalf("%d devices stored, want %d", n, devices)
	}
	// An invalid class falls back to other; a known device keeps its class.
	if _, c, _ := d.ResolveDevice(ctx, site.ID, "new-thing", "toaster"); c != "other" {
		t.Fatalf("invalid class stored as %q", c)
	}
	if _, c, _ := d.ResolveDevice(ctx, site.ID, "sw-1", "printer"); c != "switch" {
		t.Fatalf("known device's class changed to %q", c)
	}
}

// TestRegisterDevicesInOneCommit: the thirty-odd new devices of an agent's
// first write are registered in one transaction; known ones cost none.
func TestRegisterDevicesInOneCommit(t *testing.T) {
	ctx := context.Background()
	d, db, site, _ := newTestDirectory(t)
	refs := []DeviceRef{{Name: "srv-1", Class: "server"}}
	for i := 0; i < 30; i++ {
		refs = append(refs, DeviceRef{Name: fmt.Sprintf("sw-%d", i), Class: "switch"})
	}
	refs = append(refs, DeviceRef{Name: "sw-3", Class: "switch"}, DeviceRef{Name: "odd", Class: "toaster"})
	if err := d.RegisterDevices(ctx, site.ID, refs); err != nil {
		t.Fatal(err)
	}
	if n := d.reg.commits.Load(); n != 1 {
		t.Fatalf("%d transactions for one write's new devices, want 1", n)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM devices WHERE site_id=?`, site.ID).Scan(&n)
	if n != 32 {
		t.Fatalf("%d devices stored, want 32", n)
	}
	if _, c, _ := d.ResolveDevice(ctx, site.ID, "odd", "switch"); c != "other" {
		t.Fatalf("invalid class stored as %q, want other", c)
	}
	if _, c, _ := d.ResolveDevice(ctx, site.ID, "sw-7", "printer"); c != "switch" {
		t.Fatalf("sw-7 class %q", c)
	}
	// All known now: no transaction.
	if err := d.RegisterDevices(ctx, site.ID, refs); err != nil {
		t.Fatal(err)
	}
	if n := d.reg.commits.Load(); n != 1 {
		t.Fatalf("%d transactions after registering known devices, want still 1", n)
	}
}

// TestRestartRegistersNothingKnown: after a restart (a new directory on
// the same database) an agent's known devices are read in one query per
// site, not registered again, and keep their ids and classes; a new one
// among them is still registered.
func TestRestartRegistersNothingKnown(t *testing.T) {
	ctx := context.Background()
	d, db, site, _ := newTestDirectory(t)
	var refs []DeviceRef
	for i := 0; i < 30; i++ {
		refs = append(refs, DeviceRef{Name: fmt.Sprintf("sw-%d", i), Class: "switch"})
	}
	if err := d.RegisterDevices(ctx, site.ID, refs); err != nil {
		t.Fatal(err)
	}
	id7, _, err := d.ResolveDevice(ctx, site.ID, "sw-7", "switch")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetDeviceClass(ctx, site.ID, "sw-8", "access_point"); err != nil {
		t.Fatal(err)
	}

	d2, err := New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.RegisterDevices(ctx, site.ID, refs); err != nil {
		t.Fatal(err)
	}
	if n := d2.reg.commits.Load(); n != 0 {
		t.Fatalf("%d registration transactions for known devices after a restart, want 0", n)
	}
	if id, _, err := d2.ResolveDevice(ctx, site.ID, "sw-7", "printer"); err != nil || id != id7 {
		t.Fatalf("sw-7 after restart: id %d, %v; want %d", id, err, id7)
	}
	if _, c, _ := d2.ResolveDevice(ctx, site.ID, "sw-8", "switch"); c != "access_point" {
		t.Fatalf("sw-8 class after restart %q, want access_point", c)
	}
	if err := d2.RegisterDevices(ctx, site.ID, append(refs, DeviceRef{Name: "new-1", Class: "printer"})); err != nil {
		t.Fatal(err)
	}
	if n := d2.reg.commits.Load(); n != 1 {
		t.Fatalf("%d registration transactions for one new device, want 1", n)
	}
	if _, c, _ := d2.ResolveDevice(ctx, site.ID, "new-1", "switch"); c != "printer" {
		t.Fatalf("new-1 class %q, want printer", c)
	}
}

// TestLastSeenIsDataTime: a device first heard of through old data (an
// agent replaying its outbox) is last seen at the data's time, not at its
// registration.
func TestLastSeenIsDataTime(t *testing.T) {
	ctx := context.Background()
	d, _, site, _ := newTestDirectory(t)
	id, _, err := d.ResolveDevice(ctx, site.ID, "nas", "nas")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-40 * time.Minute).Truncate(time.Second)
	d.Seen(id, old)
	if err := d.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	devs, err := d.AllDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || !devs[0].LastSeen.Equal(old) {
		t.Fatalf("last seen %v, want the data's time %v", devs[0].LastSeen, old)
	}
}

// TestLastSeenSavedAtResolution: a last-seen time is saved once it moved
// its interval (at most SeenResolution) past the saved one; until then the database lags but
// the directory's device list shows the exact time, and FlushAllSeen
// saves it.
func TestLastSeenSavedAtResolution(t *testing.T) {
	ctx := context.Background()
	d, db, site, _ := newTestDirectory(t)
	id, _, err := d.ResolveDevice(ctx, site.ID, "sw-1", "switch")
	if err != nil {
		t.Fatal(err)
	}
	stored := func() int64 {
		var ns int64
		if err := db.QueryRow(`SELECT last_seen FROM devices WHERE id=?`, id).Scan(&ns); err != nil {
			t.Fatal(err)
		}
		return ns
	}
	listed := func() time.Time {
		devs, err := d.AllDevices(ctx)
		if err != nil || len(devs) != 1 {
			t.Fatalf("devices: %v, %v", devs, err)
		}
		return devs[0].LastSeen
	}
	t0 := time.Unix(1_800_000_000, 0)
	d.Seen(id, t0)
	if err := d.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != t0.UnixNano() {
		t.Fatalf("first sight not saved: %d", got)
	}
	every := time.Duration(seenInterval(id))
	if every < SeenResolution/2 || every > SeenResolution {
		t.Fatalf("device %d saved every %v, want between %v and %v", id, every, SeenResolution/2, SeenResolution)
	}
	t1 := t0.Add(every - time.Second)
	d.Seen(id, t1)
	if err := d.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != t0.UnixNano() {
		t.Fatalf("saved %v after %v, want still the first time", time.Unix(0, got), t1.Sub(t0))
	}
	if got := listed(); !got.Equal(t1) {
		t.Fatalf("device list shows %v, want the unsaved %v", got, t1)
	}
	t2 := t0.Add(every)
	d.Seen(id, t2)
	if err := d.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != t2.UnixNano() {
		t.Fatalf("saved %v, want %v (moved its interval)", time.Unix(0, got), t2)
	}
	t3 := t2.Add(time.Second)
	d.Seen(id, t3)
	if err := d.FlushAllSeen(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != t3.UnixNano() {
		t.Fatalf("FlushAllSeen saved %v, want %v", time.Unix(0, got), t3)
	}

	// A restarted collector knows what is saved: the first flush does not
	// save every device again.
	d2, err := New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d2.ResolveDevice(ctx, site.ID, "sw-1", "switch"); err != nil {
		t.Fatal(err)
	}
	d2.Seen(id, t3.Add(time.Minute))
	if err := d2.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != t3.UnixNano() {
		t.Fatalf("after a restart saved %v a minute after the saved time, want still %v", time.Unix(0, got), t3)
	}
	t4 := t3.Add(SeenResolution)
	d2.Seen(id, t4)
	if err := d2.FlushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != t4.UnixNano() {
		t.Fatalf("after a restart saved %v, want %v (moved a whole resolution)", time.Unix(0, got), t4)
	}
}

// TestLastSeenSavesSpread: devices first seen together (every device
// after a restart) do not come due together again: after the first save
// of all of them, the saves spread over the flushes that follow.
func TestLastSeenSavesSpread(t *testing.T) {
	ctx := context.Background()
	d, db, site, _ := newTestDirectory(t)
	const n = 3000
	ids := make([]int64, n)
	for i := range ids {
		id, _, err := d.ResolveDevice(ctx, site.ID, fmt.Sprintf("ap-%04d", i), "access_point")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	saves := func(now time.Time) int {
		var c int
		if err := db.QueryRow(`SELECT count(*) FROM devices WHERE last_seen=?`, now.UnixNano()).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	t0 := time.Unix(1_800_000_000, 0)
	most := 0
	// Every device writes every 10 s, the collector flushes every 10 s,
	// for three resolutions.
	for step := 0; step <= 3*int(SeenResolution/(10*time.Second)); step++ {
		now := t0.Add(time.Duration(step) * 10 * time.Second)
		for _, id := range ids {
			d.Seen(id, now)
		}
		if err := d.FlushSeen(ctx); err != nil {
			t.Fatal(err)
		}
		c := saves(now)
		if step == 0 && c != n {
			t.Fatalf("first flush saved %d devices, want all %d", c, n)
		}
		if step > 0 {
			most = max(most, c)
		}
	}
	// Spread evenly over half a resolution (15 flushes) it would be 200;
	// blocks of 64 devices come due together.
	if most > n/4 {
		t.Fatalf("up to %d of %d devices saved in one flush after the first, want them spread", most, n)
	}
}
