package staffing

import (
	"context"
	"testing"
	"time"
)

// TestThrottleKeysDoNotBlur: a row is written once per touchEvery; rows
// whose fields split the same letters differently are different rows;
// a forgotten row (its write failed) is due again.
func TestThrottleKeysDoNotBlur(t *testing.T) {
	s := &Store{}
	s.obs.init()
	const now = 1_800_000_000
	k := obsKey{1, "mac", "sw-1", "aa:bb"}
	if !s.obs.due(k, now) {
		t.Fatal("a new row is not due")
	}
	if s.obs.due(k, now+60) {
		t.Fatal("a row written a minute ago is due again")
	}
	if !s.obs.due(k, now+int64(touchEvery.Seconds())) {
		t.Fatal("a row is not due after touchEvery")
	}
	for _, other := range []obsKey{
		{2, "mac", "sw-1", "aa:bb"},
		{1, "ma", "csw-1", "aa:bb"},
		{1, "mac", "sw-1a", "a:bb"},
		{1, "ip", "sw-1", "aa:bb"},
	} {
		if !s.obs.due(other, now+60) {
			t.Fatalf("%+v is taken for %+v", other, k)
		}
	}
	s.forget(nil, []Identity{{SiteID: 1, Kind: "mac", Device: "sw-1", Value: "aa:bb"}})
	if !s.obs.due(k, now+61) {
		t.Fatal("a forgotten row is not due")
	}
}

// TestWarmThrottleAfterRestart: a collector started again does not write
// the rows written in the last touchEvery again; older ones, and rows
// never written, are due.
func TestWarmThrottleAfterRestart(t *testing.T) {
	_, st := openDB(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	recent, old := now.Add(-5*time.Minute), now.Add(-20*time.Minute)
	if err := st.RecordIdentities(ctx, []Identity{
		{SiteID: 1, Device: "srv", Kind: "mac", Value: "00:11:22:33:44:55", Seen: recent},
		{SiteID: 1, Device: "srv", Kind: "ip", Value: "10.0.0.5", Seen: old},
		{SiteID: 2, Device: "sw", Kind: "source", Value: "snmp", Seen: now.Add(time.Hour)}, // a clock ahead
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordEndpoints(ctx, []Endpoint{
		{SiteID: 1, MAC: "aa:bb:cc:dd:ee:01", Switch: "sw", Seen: recent},
		{SiteID: 1, MAC: "aa:bb:cc:dd:ee:02", Switch: "sw", Seen: old},
	}); err != nil {
		t.Fatal(err)
	}

	restarted, err := NewStore(ctx, st.db)
	if err != nil {
		t.Fatal(err)
	}
	restarted.now = func() time.Time { return now }
	if err := restarted.WarmThrottle(ctx); err != nil {
		t.Fatal(err)
	}
	sec := now.Unix()
	for k, want := range map[obsKey]bool{
		{1, "mac", "srv", "00:11:22:33:44:55"}: false,
		{1, "ip", "srv", "10.0.0.5"}:           true,
		{2, "source", "sw", "snmp"}:            false,
		{1, "ep", "aa:bb:cc:dd:ee:01", ""}:     false,
		{1, "ep", "aa:bb:cc:dd:ee:02", ""}:     true,
		{1, "mac", "srv", "00:11:22:33:44:66"}: true,
	} {
		if got := restarted.obs.due(k, sec); got != want {
			t.Errorf("%+v due %v after a restart, want %v", k, got, want)
		}
	}
	// The clock ahead counts as written at the restart.
	if !restarted.obs.due(obsKey{2, "source", "sw", "snmp"}, sec+int64(touchEvery.Seconds())) {
		t.Error("a row seen ahead of the clock is not due touchEvery after the restart")
	}
}
