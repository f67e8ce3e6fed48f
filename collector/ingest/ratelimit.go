package ingest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// tokenLimits rate-limits writes per token (one token = one agent or one
// site's Telegraf), in requests and in points per second, so that one
// school replaying a week of outbox, or a client stuck in a loop, cannot
// crowd out the others. Limiters are created on first use and forgotten
// after idleForget without use, so memory follows the active tokens.
type tokenLimits struct {
	reqRate, ptsRate   rate.Limit
	reqBurst, ptsBurst int

	mu        sync.Mutex
	m         map[int64]*tokenLimiter
	lastSweep time.Time
}

type tokenLimiter struct {
	req, pts *rate.Limiter
	used     time.Time
}

const idleForget = 10 * time.Minute

func newTokenLimits(l Limits) *tokenLimits {
	t := &tokenLimits{m: map[int64]*tokenLimiter{}, reqRate: rate.Inf, ptsRate: rate.Inf}
	if l.TokenRequestsPerSecond > 0 {
		t.reqRate = rate.Limit(l.TokenRequestsPerSecond)
		t.reqBurst = max(1, int(math.Ceil(2*l.TokenRequestsPerSecond)))
	}
	if l.TokenPointsPerSecond > 0 {
		t.ptsRate = rate.Limit(l.TokenPointsPerSecond)
		// One full request must always fit, or it could never pass.
		t.ptsBurst = max(l.MaxPoints, int(l.TokenPointsPerSecond))
	}
	return t
}

func (t *tokenLimits) get(id int64, now time.Time) *tokenLimiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) > idleForget {
		for k, v := range t.m {
			if now.Sub(v.used) > idleForget {
				delete(t.m, k)
			}
		}
		t.lastSweep = now
	}
	l := t.m[id]
	if l == nil {
		l = &tokenLimiter{req: rate.NewLimiter(t.reqRate, t.reqBurst), pts: rate.NewLimiter(t.ptsRate, t.ptsBurst)}
		t.m[id] = l
	}
	l.used = now
	return l
}

// allowRequest takes one request from the token's budget; it returns 0 if
// the request may proceed, else how long the client should wait.
func (t *tokenLimits) allowRequest(id int64, now time.Time) time.Duration {
	if t.reqRate == rate.Inf {
		return 0
	}
	return take(t.get(id, now).req, 1, now)
}

// allowPoints takes n points from the token's budget, like allowRequest.
func (t *tokenLimits) allowPoints(id int64, n int, now time.Time) time.Duration {
	if t.ptsRate == rate.Inf {
		return 0
	}
	return take(t.get(id, now).pts, n, now)
}

func take(l *rate.Limiter, n int, now time.Time) time.Duration {
	r := l.ReserveN(now, n)
	if !r.OK() {
		return time.Minute // more than the burst: cannot happen with the bursts above
	}
	d := r.DelayFrom(now)
	if d > 0 {
		// Not admitted: give the tokens back, the client retries later.
		r.CancelAt(now)
	}
	return d
}

// setRetryAfter sets the Retry-After header in whole seconds, at least 1.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
}
