package ingest

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestTokenLimitsPerTokenAndRecovery(t *testing.T) {
	tl := newTokenLimits(Limits{TokenRequestsPerSecond: 1, TokenPointsPerSecond: 100, MaxPoints: 150})
	now := time.Unix(1_800_000_000, 0)
	// Burst of two requests, then a wait of about a second.
	for i := 0; i < 2; i++ {
		if d := tl.allowRequest(1, now); d != 0 {
			t.Fatalf("request %d refused (%v) within the burst", i, d)
		}
	}
	d := tl.allowRequest(1, now)
	if d < 900*time.Millisecond || d > 1100*time.Millisecond {
		t.Fatalf("third request: retry after %v, want about 1s", d)
	}
	// Another token is not affected.
	if d := tl.allowRequest(2, now); d != 0 {
		t.Fatalf("token 2 limited by token 1's traffic: %v", d)
	}
	// A refused request did not consume budget: one second later it passes.
	if d := tl.allowRequest(1, now.Add(time.Second)); d != 0 {
		t.Fatalf("after waiting: %v", d)
	}
	// Points: the burst holds one full request (150), then 100/s.
	if d := tl.allowPoints(1, 150, now); d != 0 {
		t.Fatalf("a full request refused: %v", d)
	}
	if d := tl.allowPoints(1, 50, now); d < 400*time.Millisecond || d > 600*time.Millisecond {
		t.Fatalf("50 points over budget: retry after %v, want about 0.5s", d)
	}
	// Idle limiters are forgotten.
	tl.allowRequest(3, now.Add(time.Hour))
	tl.mu.Lock()
	n := len(tl.m)
	tl.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d limiters kept after an hour idle, want 1", n)
	}
}

func TestTokenLimitsDisabled(t *testing.T) {
	tl := newTokenLimits(Limits{TokenRequestsPerSecond: -1, TokenPointsPerSecond: -1})
	for i := 0; i < 1000; i++ {
		if tl.allowRequest(1, time.Now()) != 0 || tl.allowPoints(1, 1e6, time.Now()) != 0 {
			t.Fatal("disabled limit refused")
		}
	}
}

func TestRetryAfterWholeSecondsAtLeastOne(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Millisecond: "1", 1500 * time.Millisecond: "2", 5 * time.Second: "5"} {
		w := httptest.NewRecorder()
		setRetryAfter(w, d)
		if got := w.Header().Get("Retry-After"); got != want {
			t.Errorf("Retry-After for %v = %q, want %q", d, got, want)
		}
	}
}
