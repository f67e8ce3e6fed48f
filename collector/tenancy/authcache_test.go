package tenancy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// TestAuthCacheFollowsOtherProcesses authenticates from the cache, then
// changes tokens and sites through a second connection pool on the same
// file, as the CLI (another process) does: each change must show within
// authRevisionTTL, and a revocation through the same Directory at once.
func TestAuthCacheFollowsOtherProcesses(t *testing.T) {
	ctx := context.Background()
	d, _, site, path := newTestDirectory(t)
	secret, tok, err := d.CreateToken(ctx, RoleAgent, &site, "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cli, err := New(ctx, other)
	if err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 3; i++ { // the first from the database, then cached
		p, err := d.Authenticate(ctx, secret)
		if err != nil {
			t.Fatalf("authenticate #%d: %v", i, err)
		}
		if p.WriteSite == nil || p.WriteSite.Name != "gs-1" || p.TokenID != tok.ID {
			t.Fatalf("principal #%d: %+v", i, p)
		}
		// A caller changing its copy must not change the cached one.
		p.WriteSite.Name, p.SiteIDs[0] = "changed", 999
	}
	if n := len(d.auth.byHash); n != 1 {
		t.Fatalf("%d cached principals, want 1", n)
	}

	// A site renamed elsewhere: the principal carries the new name once
	// the revision is read again, and not before (the old one is served
	// from memory, which is what the TTL is for).
	if _, err := other.ExecContext(ctx, `UPDATE sites SET name='gs-1-neu' WHERE id=?`, site.ID); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	if p, err := d.Authenticate(ctx, secret); err != nil || (p.WriteSite.Name != "gs-1" && time.Since(changed) < authRevisionTTL/2) {
		t.Fatalf("right after rename: %+v, %v; want the cached principal", p, err)
	}
	p := waitAuth(t, d, secret, func(p *Principal, err error) bool { return err == nil && p.WriteSite.Name == "gs-1-neu" })
	if p.WriteSite.Name != "gs-1-neu" {
		t.Fatalf("after rename: %+v", p)
	}

	// Revoked by the CLI: refused within the TTL, and from then on.
	if err := cli.RevokeToken(ctx, tok.Prefix); err != nil {
		t.Fatal(err)
	}
	waitAuth(t, d, secret, func(_ *Principal, err error) bool { return errors.Is(err, ErrUnauthenticated) })
	if _, err := d.Authenticate(ctx, secret); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after revoke, again: %v, want ErrUnauthenticated", err)
	}
	// Unknown tokens are never cached as valid.
	if _, err := d.Authenticate(ctx, "sm_unknown"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("unknown token: %v", err)
	}
}

// TestRevokeHereTakesEffectAtOnce revokes through the Directory that
// authenticates (the web UI's way): the very next call is refused, cache
// or not.
func TestRevokeHereTakesEffectAtOnce(t *testing.T) {
	ctx := context.Background()
	d, _, site, _ := newTestDirectory(t)
	secret, tok, err := d.CreateToken(ctx, RoleAgent, &site, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := d.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.RevokeToken(ctx, tok.Prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, secret); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("right after revoke: %v, want ErrUnauthenticated", err)
	}
}

// waitAuth authenticates until ok accepts the answer, failing the test
// if that takes longer than the TTL allows.
func waitAuth(t *testing.T, d *Directory, secret string, ok func(*Principal, error) bool) *Principal {
	t.Helper()
	deadline := time.Now().Add(authRevisionTTL + 500*time.Millisecond)
	for {
		p, err := d.Authenticate(context.Background(), secret)
		if ok(p, err) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %+v, %v after %v", p, err, authRevisionTTL+500*time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkAuthenticate is the per-write cost of authentication: cached
// (now) and read from the database every time (before the cache).
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	d, _, site, _ := newTestDirectory(b)
	secret, _, err := d.CreateToken(ctx, RoleAgent, &site, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		auth func(context.Context, string) (*Principal, error)
	}{{"Cached", d.Authenticate}, {"Uncached", d.authenticate}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.auth(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
