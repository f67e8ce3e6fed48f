package tenancy

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"
)

// maxCachedTokens bounds the cache; beyond it, it starts over.
const maxCachedTokens = 1 << 18

// authRevisionTTL is how long the auth revision read from the database is
// trusted: the longest a token revoked (or a site changed) by another
// process, the CLI, keeps working here. Changes made through this
// Directory take effect at once. Reading the revision on every write was
// 3 % of the collector's CPU at 10,000 schools.
const authRevisionTTL = time.Second

// authCache keeps the principals of tokens seen since the last change of
// the auth revision, so that a write costs a map lookup instead of a
// token and a site lookup (which capped the collector at a few hundred
// writes a second).
type authCache struct {
	stmtOnce sync.Once
	stmt     *sql.Stmt
	stmtErr  error

	mu     sync.Mutex
	rev    int64
	byHash map[[32]byte]*Principal
	// readRev and readAt are the revision last read and when; readAt zero
	// makes the next call read it.
	readRev int64
	readAt  time.Time
	gen     uint64 // counts expire calls
}

func (c *authCache) revision(ctx context.Context, db *sql.DB) (int64, error) {
	now := time.Now()
	c.mu.Lock()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < authRevisionTTL {
		rev := c.readRev
		c.mu.Unlock()
		return rev, nil
	}
	gen := c.gen
	c.mu.Unlock()
	c.stmtOnce.Do(func() {
		c.stmt, c.stmtErr = db.PrepareContext(context.Background(), `SELECT n FROM auth_revision WHERE id = 1`)
	})
	if c.stmtErr != nil {
		return 0, fmt.Errorf("prepare auth revision: %w", c.stmtErr)
	}
	var n int64
	if err := c.stmt.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("read auth revision: %w", err)
	}
	c.mu.Lock()
	// Not after an expire during the read: the row may predate its change.
	if c.gen == gen {
		c.readRev, c.readAt = n, now
	}
	c.mu.Unlock()
	return n, nil
}

// expire makes the next authentication read the revision again: this
// process changed tokens or sites.
func (c *authCache) expire() {
	c.mu.Lock()
	c.readAt = time.Time{}
	c.gen++
	c.mu.Unlock()
}

// get returns a copy of the cached principal, or nil. A new revision
// empties the cache first.
func (c *authCache) get(rev int64, hash [32]byte) *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev != c.rev {
		c.rev, c.byHash = rev, nil
		return nil
	}
	if p := c.byHash[hash]; p != nil {
		return p.clone()
	}
	return nil
}

// put caches p if it was read under the current revision: a principal read
// before a revocation committed must not outlive it.
func (c *authCache) put(rev int64, hash [32]byte, p *Principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev != c.rev {
		return
	}
	if c.byHash == nil || len(c.byHash) >= maxCachedTokens {
		c.byHash = map[[32]byte]*Principal{}
	}
	c.byHash[hash] = p.clone()
}

// clone copies p so that a caller changing its principal cannot change
// the cached one.
func (p *Principal) clone() *Principal {
	q := *p
	q.SiteIDs = slices.Clone(p.SiteIDs)
	if p.WriteSite != nil {
		s := *p.WriteSite
		q.WriteSite = &s
	}
	return &q
}
