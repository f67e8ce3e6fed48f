package enroll_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/enroll"
	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
)

func setup(t *testing.T) (*tenancy.Directory, *enroll.Store, tenancy.Site) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "schulmon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir, err := tenancy.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	st, err := enroll.New(ctx, db, dir)
	if err != nil {
		t.Fatal(err)
	}
	site, err := dir.EnsureSite(ctx, "Musterstadt", "gs-nord", "grundschule")
	if err != nil {
		t.Fatal(err)
	}
	return dir, st, site
}

func reason(err error) string {
	var e *enroll.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "not a refusal: " + err.Error()
}

func TestSingleUseTokenIssuesAgentTokenForItsSite(t *testing.T) {
	ctx := context.Background()
	dir, st, site := setup(t)
	secret, info, err := st.Create(ctx, site, time.Hour, 1, "for Herr Meier")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, enroll.Prefix) || !strings.HasPrefix(secret, info.Prefix) {
		t.Fatalf("secret %q / prefix %q", secret, info.Prefix)
	}
	res, err := st.Redeem(ctx, secret, "srv-01", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if res.Site != "gs-nord" || res.Municipality != "Musterstadt" || !strings.HasPrefix(res.Token, "sm_") {
		t.Fatalf("result %+v", res)
	}
	p, err := dir.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatalf("issued token does not authenticate: %v", err)
	}
	if p.Role != tenancy.RoleAgent || p.WriteSite == nil || p.WriteSite.ID != site.ID {
		t.Fatalf("principal %+v", p)
	}
	// The second use of a single-use token is refused.
	_, err = st.Redeem(ctx, secret, "srv-02", "192.0.2.8")
	if reason(err) != enroll.ReasonUsed || !strings.Contains(err.Error(), "1 of 1") {
		t.Fatalf("second use: %v", err)
	}
	uses, err := st.Uses(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 1 || uses[0].Device != "srv-01" || uses[0].Remote != "192.0.2.7" || uses[0].TokenID != res.TokenID {
		t.Fatalf("uses %+v", uses)
	}
	list, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Uses != 1 || list[0].State(time.Now()) != enroll.ReasonUsed {
		t.Fatalf("list %+v", list)
	}
	// The secret is stored only as a hash.
	var n int
	if err := dir.DB().QueryRow(`SELECT count(*) FROM enrollment_tokens WHERE CAST(hash AS TEXT) LIKE ? OR prefix = ?`, "%"+secret+"%", secret).Scan(&n); err != nil || n != 0 {
		t.Fatalf("secret found in the database (%d rows, %v)", n, err)
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	_, st, site := setup(t)
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }

	expiring, _, err := st.Create(ctx, site, time.Hour, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	revoked, rinfo, err := st.Create(ctx, site, time.Hour, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Revoke(ctx, rinfo.Prefix); err != nil {
		t.Fatal(err)
	}
	if err := st.Revoke(ctx, rinfo.Prefix); err == nil || !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}

	if _, err := st.Redeem(ctx, expiring, "a", ""); err != nil {
		t.Fatalf("unlimited token before expiry: %v", err)
	}
	if _, err := st.Redeem(ctx, expiring, "b", ""); err != nil {
		t.Fatalf("unlimited token, second use: %v", err)
	}
	now = now.Add(time.Hour)
	_, err = st.Redeem(ctx, expiring, "c", "")
	if reason(err) != enroll.ReasonExpired || !strings.Contains(err.Error(), "expired at 2026-11-22T09:00:00Z") {
		t.Fatalf("expired: %v", err)
	}
	_, err = st.Redeem(ctx, revoked, "d", "")
	if reason(err) != enroll.ReasonRevoked || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked: %v", err)
	}
	_, err = st.Redeem(ctx, "se_doesnotexist", "e", "")
	if reason(err) != enroll.ReasonUnknown {
		t.Fatalf("unknown: %v", err)
	}
	_, err = st.Redeem(ctx, "sm_someagenttoken", "e", "")
	if reason(err) != enroll.ReasonUnknown || !strings.Contains(err.Error(), "agent token") {
		t.Fatalf("agent token as enrollment token: %v", err)
	}
	if _, _, err := st.Create(ctx, site, 0, 1, ""); err == nil {
		t.Fatal("zero lifetime accepted")
	}
	if _, _, err := st.Create(ctx, site, time.Hour, -1, ""); err == nil {
		t.Fatal("negative uses accepted")
	}
}

// Two agents racing for the last use: exactly one wins.
func TestSingleUseRace(t *testing.T) {
	ctx := context.Background()
	_, st, site := setup(t)
	secret, _, err := st.Create(ctx, site, time.Hour, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, used := 0, 0
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Redeem(ctx, secret, "srv", "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case reason(err) == enroll.ReasonUsed:
				used++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || used != 9 {
		t.Fatalf("%d enrollments succeeded and %d were refused as used; want 3 and 9", ok, used)
	}
}

func post(t *testing.T, url, body, auth string) (int, enroll.Response, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+enroll.Path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var r enroll.Response
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("answer is not JSON: %s", data)
	}
	return resp.StatusCode, r, resp.Header
}

func TestHTTP(t *testing.T) {
	ctx := context.Background()
	dir, st, site := setup(t)
	mux := http.NewServeMux()
	enroll.NewHandler(st, slog.New(slog.NewTextHandler(io.Discard, nil)), enroll.Limits{PerMinute: 1, Burst: 5}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	a, _, _ := st.Create(ctx, site, time.Hour, 1, "")
	b, _, _ := st.Create(ctx, site, time.Hour, 1, "")

	code, r, h := post(t, srv.URL, `{"enrollment_token":"`+a+`","device":"srv-01"}`, "")
	if code != 200 || r.Result == nil || r.Site != "gs-nord" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("body token: %d %+v", code, r)
	}
	if p, err := dir.Authenticate(ctx, r.Token); err != nil || p.WriteSite.Name != "gs-nord" {
		t.Fatalf("issued token: %v", err)
	}
	code, r, _ = post(t, srv.URL, "", "Token "+b)
	if code != 200 || r.Result == nil || r.Token == "" {
		t.Fatalf("header token: %d %+v", code, r)
	}
	code, r, _ = post(t, srv.URL, `{"enrollment_token":"`+a+`"}`, "")
	if code != http.StatusForbidden || r.Reason != enroll.ReasonUsed || r.Result != nil {
		t.Fatalf("used: %d %+v", code, r)
	}
	code, r, _ = post(t, srv.URL, `{"enrollment_token":"se_nope"}`, "")
	if code != http.StatusUnauthorized || r.Reason != enroll.ReasonUnknown {
		t.Fatalf("unknown: %d %+v", code, r)
	}
	code, r, _ = post(t, srv.URL, `{not json`, "")
	if code != http.StatusBadRequest || !strings.Contains(r.Error, "not JSON") {
		t.Fatalf("bad JSON: %d %+v", code, r)
	}
	// Five attempts were the burst; the sixth from the same address waits.
	code, r, h = post(t, srv.URL, `{"enrollment_token":"se_guess"}`, "")
	if code != http.StatusTooManyRequests || r.Reason != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d %+v %v", code, r, h)
	}
}
