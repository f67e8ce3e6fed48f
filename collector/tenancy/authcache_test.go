package tenancy

import (
	"context"
	"errors"
	"testing"

	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// TestAuthCacheFollowsOtherProcesses authenticates from the cache, then
// changes tokens and sites through a second connection pool on the same
// file, as the CLI (another process) does: each change must show in the
// very next authentication.
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

	// A site renamed elsewhere: the principal carries the new name.
	if _, err := other.ExecContext(ctx, `UPDATE sites SET name='gs-1-neu' WHERE id=?`, site.ID); err != nil {
		t.Fatal(err)
	}
	p, err := d.Authenticate(ctx, secret)
	if err != nil || p.WriteSite.Name != "gs-1-neu" {
		t.Fatalf("after rename: %+v, %v", p, err)
	}

	// Revoked by the CLI: refused at once.
	if err := cli.RevokeToken(ctx, tok.Prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, secret); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after revoke: %v, want ErrUnauthenticated", err)
	}
	if _, err := d.Authenticate(ctx, secret); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after revoke, again: %v, want ErrUnauthenticated", err)
	}
	// Unknown tokens are never cached as valid.
	if _, err := d.Authenticate(ctx, "sm_unknown"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("unknown token: %v", err)
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
