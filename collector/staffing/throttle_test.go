package staffing

import "testing"

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
