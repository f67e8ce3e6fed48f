package users_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Users live next to the tenancy tables (site names come from there).
	if _, err := tenancy.New(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPasswordsAndRoles(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	st, err := users.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, "anna", tenancy.RoleSchoolAdmin, "kurz", []int64{1}); err == nil || !strings.Contains(err.Error(), "at least 10") {
		t.Errorf("short password: %v", err)
	}
	if _, err := st.Add(ctx, "anna", tenancy.RoleSchoolAdmin, "lang-genug-1", nil); err == nil || !strings.Contains(err.Error(), "needs at least one site") {
		t.Errorf("school admin without sites: %v", err)
	}
	if _, err := st.Add(ctx, "olga", "admin", "lang-genug-1", nil); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Errorf("unknown role: %v", err)
	}
	u, err := st.Add(ctx, "anna", tenancy.RoleSchoolAdmin, "lang-genug-1", []int64{3, 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, "anna", tenancy.RolePlanner, "lang-genug-1", nil); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("duplicate name: %v", err)
	}
	var hash string
	if err := db.QueryRow(`SELECT password_hash FROM web_users WHERE name='anna'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "lang-genug-1") {
		t.Errorf("stored hash %q", hash)
	}
	if _, err := st.Verify(ctx, "anna", "lang-genug-2"); !errors.Is(err, users.ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := st.Verify(ctx, "nobody", "lang-genug-1"); !errors.Is(err, users.ErrBadCredentials) {
		t.Errorf("unknown user: %v", err)
	}
	got, err := st.Verify(ctx, "anna", "lang-genug-1")
	if err != nil {
		t.Fatal(err)
	}
	p := got.Principal()
	if got.ID != u.ID || p.AllSites || !p.CanReadSite(5) || p.CanReadSite(4) || !p.CanManageSite(3) || p.IsOperator() {
		t.Errorf("school admin principal %+v", p)
	}
	if err := st.SetDisabled(ctx, "anna", true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Verify(ctx, "anna", "lang-genug-1"); !errors.Is(err, users.ErrBadCredentials) {
		t.Errorf("disabled user logs in: %v", err)
	}
	pl, err := st.Add(ctx, "paul", tenancy.RolePlanner, "lang-genug-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := pl.Principal(); !p.AllSites || p.CanManageSite(1) {
		t.Errorf("planner principal %+v", p)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	now := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)
	st, err := users.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	st.Now = func() time.Time { return now }
	u, err := st.Add(ctx, "olga", tenancy.RoleOperator, "operator-pw-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	id, csrf, err := st.NewSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Only a hash of the id is stored.
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM web_sessions WHERE id_hash=? OR csrf=?`, id, id).Scan(&n); err != nil || n != 0 {
		t.Errorf("session id stored in clear (%d rows, %v)", n, err)
	}
	// A restart (a new Store on the same database) keeps the session.
	st2, err := users.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	st2.Now = st.Now
	s, err := st2.Session(ctx, id)
	if err != nil || s.User.Name != "olga" || s.CSRF != csrf || !s.User.Principal().IsOperator() {
		t.Fatalf("session after restart: %+v, %v", s, err)
	}
	if _, err := st2.Session(ctx, id+"x"); !errors.Is(err, users.ErrNoSession) {
		t.Errorf("forged id: %v", err)
	}
	// Idle for more than 2 h: gone.
	now = now.Add(2*time.Hour + time.Minute)
	if _, err := st2.Session(ctx, id); !errors.Is(err, users.ErrNoSession) {
		t.Errorf("idle session: %v", err)
	}
	// Active sessions end after 12 h however busy.
	id, _, _ = st2.NewSession(ctx, u.ID)
	for i := 0; i < 13; i++ {
		now = now.Add(59 * time.Minute)
		if _, err := st2.Session(ctx, id); err != nil {
			if i < 12 {
				t.Fatalf("busy session ended after %d h: %v", i+1, err)
			}
		} else if i == 12 {
			t.Error("session outlived its 12 h")
		}
	}
	// A password change ends the other sessions, not the current one.
	a, _, _ := st2.NewSession(ctx, u.ID)
	b, _, _ := st2.NewSession(ctx, u.ID)
	if err := st2.ChangePassword(ctx, u.ID, "falsch-falsch", "neues-passwort-1", a); err == nil {
		t.Error("password change with a wrong current password")
	}
	if err := st2.ChangePassword(ctx, u.ID, "operator-pw-1", "neues-passwort-1", a); err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Session(ctx, a); err != nil {
		t.Errorf("current session ended: %v", err)
	}
	if _, err := st2.Session(ctx, b); !errors.Is(err, users.ErrNoSession) {
		t.Errorf("other session survived the password change: %v", err)
	}
	if _, err := st2.Verify(ctx, "olga", "neues-passwort-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
	// A role change ends all sessions, so a narrowed scope applies at once.
	if err := st2.SetRole(ctx, "olga", tenancy.RoleSchoolAdmin, []int64{2}); err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Session(ctx, a); !errors.Is(err, users.ErrNoSession) {
		t.Errorf("session survived a role change: %v", err)
	}
	if err := st2.EndSession(ctx, a); err != nil {
		t.Fatal(err)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)
	l := users.NewLimiter(3, 10*time.Minute)
	l.Now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("user:anna", "ip:10.0.0.1"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
		l.Fail("user:anna", "ip:10.0.0.1")
	}
	ok, wait := l.Allow("user:anna", "ip:10.0.0.2")
	if ok || wait != 10*time.Minute {
		t.Errorf("after 3 failures: ok %v wait %s", ok, wait)
	}
	if ok, _ := l.Allow("user:paul", "ip:10.0.0.1"); ok {
		t.Error("the failing address may try other names")
	}
	if ok, _ := l.Allow("user:paul", "ip:10.0.0.3"); !ok {
		t.Error("an unrelated user is locked out")
	}
	now = now.Add(10 * time.Minute)
	if ok, _ := l.Allow("user:anna", "ip:10.0.0.1"); !ok {
		t.Error("still locked after the window")
	}
	l.Fail("user:anna")
	l.Succeed("user:anna")
	if ok, _ := l.Allow("user:anna"); !ok {
		t.Error("success does not reset")
	}
}

func TestMapGroups(t *testing.T) {
	m := []users.GroupMapping{
		{Group: "rz-betrieb", Role: tenancy.RoleOperator},
		{Group: "controlling", Role: tenancy.RolePlanner},
		{Group: "admins-gs-nord", Role: tenancy.RoleSchoolAdmin, Sites: []string{"gs-nord"}},
		{Group: "admins-moers", Role: tenancy.RoleSchoolAdmin, Sites: []string{"gs-nord", "gs-west"}},
	}
	for _, c := range []struct {
		groups []string
		role   string
		sites  string
		ok     bool
	}{
		{[]string{"admins-gs-nord", "admins-moers"}, tenancy.RoleSchoolAdmin, "gs-nord,gs-west", true},
		{[]string{"admins-gs-nord", "controlling"}, tenancy.RolePlanner, "", true},
		{[]string{"controlling", "rz-betrieb"}, tenancy.RoleOperator, "", true},
		{[]string{"lehrer"}, "", "", false},
	} {
		role, sites, ok := users.MapGroups(m, c.groups)
		if role != c.role || strings.Join(sites, ",") != c.sites || ok != c.ok {
			t.Errorf("%v: %q %v %v", c.groups, role, sites, ok)
		}
	}
	cfg := users.WebConfig{OIDC: &users.OIDCConfig{Issuer: "https://idp", ClientID: "schulmon", RedirectURL: "https://m/oidc/callback",
		Groups: []users.GroupMapping{{Group: "x", Role: tenancy.RoleSchoolAdmin}}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "needs sites") {
		t.Errorf("school_admin mapping without sites: %v", err)
	}
}
