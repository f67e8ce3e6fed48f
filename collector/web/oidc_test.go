package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/schulmon/schulmon/collector/config"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

// fakeIdP is an OpenID Connect provider: discovery and keys from
// go-oidc's oidctest, plus an authorization endpoint that logs in at once
// and a token endpoint that signs an ID token with the groups set.
type fakeIdP struct {
	URL    string
	mu     sync.Mutex
	nonce  string
	groups []string
}

func newIdP(t *testing.T) *fakeIdP {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &fakeIdP{}
	ot := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: priv.Public(), KeyID: "k1", Algorithm: "RS256"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		idp.mu.Lock()
		idp.nonce = q.Get("nonce")
		idp.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=c0de&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("code") != "c0de" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		idp.mu.Lock()
		g, _ := json.Marshal(idp.groups)
		claims := fmt.Sprintf(`{"iss":%q,"aud":"schulmon","sub":"u-123","exp":%d,"iat":%d,"nonce":%q,"preferred_username":"kim","groups":%s}`,
			idp.URL, time.Now().Add(time.Hour).Unix(), time.Now().Unix(), idp.nonce, g)
		idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
			"id_token": oidctest.SignIDToken(priv, "k1", "RS256", claims)})
	})
	mux.Handle("/", ot)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ot.SetIssuer(srv.URL)
	idp.URL = srv.URL
	return idp
}

func TestOIDCLogin(t *testing.T) {
	idp := newIdP(t)
	e := newEnvWith(t, func(cfg *config.Config, base string) {
		cfg.Web.OIDC = &users.OIDCConfig{Issuer: idp.URL, ClientID: "schulmon", ClientSecret: "s3cret", RedirectURL: base + "/oidc/callback",
			Label: "Kommunales Login", Groups: []users.GroupMapping{
				{Group: "rz", Role: tenancy.RoleOperator},
				{Group: "admins-gs-nord", Role: tenancy.RoleSchoolAdmin, Sites: []string{"gs-nord"}},
			}}
	})
	login := func(groups ...string) (int, string) {
		idp.mu.Lock()
		idp.groups = groups
		idp.mu.Unlock()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		page, err := c.Get(e.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(page.Body)
		page.Body.Close()
		if !strings.Contains(string(b), "Kommunales Login") {
			t.Errorf("login page offers no single sign-on:\n%s", b)
		}
		resp, err := c.Get(e.URL + "/oidc/login?next=/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	st, body := login("lehrer", "admins-gs-nord")
	if st != 200 || !strings.Contains(body, "kim") || !strings.Contains(body, "gs-nord") || strings.Contains(body, "gs-sued") {
		t.Errorf("school admin by SSO: HTTP %d:\n%s", st, body)
	}
	u, err := e.Users.ByName(t.Context(), "kim")
	if err != nil || !u.OIDC || u.Role != tenancy.RoleSchoolAdmin || strings.Join(u.Sites, ",") != "gs-nord" {
		t.Errorf("provisioned user %+v, %v", u, err)
	}
	// Next login with the operator group: the role follows the groups.
	if st, body := login("rz"); st != 200 || !strings.Contains(body, "gs-sued") {
		t.Errorf("operator by SSO: HTTP %d", st)
	}
	// No mapped group: no login.
	st, body = login("lehrer")
	if st != http.StatusForbidden || !strings.Contains(body, "keiner schulmon-Rolle") {
		t.Errorf("unmapped groups: HTTP %d:\n%.300s", st, body)
	}
}
