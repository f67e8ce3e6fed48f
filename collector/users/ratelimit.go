package users

import (
	"sync"
	"time"
)

// Limiter slows down password guessing: after MaxFailures failed logins
// within Window for one key (a user name, a client address), further
// attempts for that key are refused until the window has passed since the
// last failure. It is in memory: a restart forgets it, which costs an
// attacker a restart they cannot trigger.
type Limiter struct {
	MaxFailures int
	Window      time.Duration
	Now         func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

// NewLimiter returns a limiter allowing max failures per window and key.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{MaxFailures: max, Window: window, keys: map[string]*failures{}}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Allow reports whether an attempt for all keys may proceed, and if not,
// how long to wait.
func (l *Limiter) Allow(keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		f := l.keys[k]
		if f == nil {
			continue
		}
		if now.Sub(f.last) >= l.Window {
			delete(l.keys, k)
			continue
		}
		if f.n >= l.MaxFailures {
			wait = max(wait, l.Window-now.Sub(f.last))
		}
	}
	return wait == 0, wait
}

// Fail records a failed attempt for every key.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.keys) > 100_000 { // bound memory under a distributed attack
		for k, f := range l.keys {
			if now.Sub(f.last) >= l.Window {
				delete(l.keys, k)
			}
		}
	}
	for _, k := range keys {
		f := l.keys[k]
		if f == nil || now.Sub(f.last) >= l.Window {
			f = &failures{}
			l.keys[k] = f
		}
		f.n++
		f.last = now
	}
}

// Succeed forgets the failures of the keys (after a good login).
func (l *Limiter) Succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.keys, k)
	}
}
