package users

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/schulmon/schulmon/collector/tenancy"
)

// WebConfig is the "web" section of the collector's config file.
//
//	web:
//	  session_ttl: 12h
//	  idle_ttl: 2h
//	  oidc:
//	    issuer: https://login.example.org/realms/schulen
//	    client_id: schulmon
//	    client_secret_file: /etc/schulmon/oidc-secret
//	    redirect_url: https://monitor.example.org/oidc/callback
//	    groups:
//	      - {group: it-rechenzentrum, role: operator}
//	      - {group: controlling, role: planner}
//	      - {group: admins-gs-nord, role: school_admin, sites: [gs-nord]}
type WebConfig struct {
	SessionTTL time.Duration `yaml:"session_ttl"`
	IdleTTL    time.Duration `yaml:"idle_ttl"`
	// LoginFailures within LoginWindow lock a user name or client address
	// out for the rest of the window (defaults 5 and 15m).
	LoginFailures int           `yaml:"login_failures"`
	LoginWindow   time.Duration `yaml:"login_window"`
	OIDC          *OIDCConfig   `yaml:"oidc"`
	// SecureCookies is "auto" (default: Secure when the request came over
	// TLS) or "always" (behind a proxy that terminates TLS, where the
	// collector itself sees plain HTTP).
	SecureCookies string `yaml:"secure_cookies"`
}

// OIDCConfig configures OpenID Connect login (Keycloak, ADFS, Entra ID).
type OIDCConfig struct {
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	RedirectURL      string   `yaml:"redirect_url"`
	Scopes           []string `yaml:"scopes"`
	// GroupsClaim names the ID token claim with the user's groups
	// (default "groups"; Entra ID sends "groups" or "roles").
	GroupsClaim string `yaml:"groups_claim"`
	// UsernameClaim names the claim used as the schulmon user name
	// (default "preferred_username", then "email", then "sub").
	UsernameClaim string         `yaml:"username_claim"`
	Groups        []GroupMapping `yaml:"groups"`
	// Label is the login button's text (default "Single Sign-On").
	Label string `yaml:"label"`
}

// GroupMapping maps an identity provider group to a role (and sites for
// school_admin). The most powerful matching role wins: operator, then
// planner, then school_admin with the union of the sites.
type GroupMapping struct {
	Group string   `yaml:"group"`
	Role  string   `yaml:"role"`
	Sites []string `yaml:"sites"`
}

// Validate checks the section.
func (c *WebConfig) Validate() error {
	if c.SessionTTL < 0 || c.IdleTTL < 0 || c.LoginWindow < 0 || c.LoginFailures < 0 {
		return errors.New("web: session_ttl, idle_ttl, login_window and login_failures must not be negative")
	}
	if c.SecureCookies != "" && c.SecureCookies != "auto" && c.SecureCookies != "always" {
		return fmt.Errorf("web.secure_cookies %q: want auto or always", c.SecureCookies)
	}
	if c.OIDC == nil {
		return nil
	}
	o := c.OIDC
	if o.Issuer == "" || o.ClientID == "" || o.RedirectURL == "" {
		return errors.New("web.oidc: issuer, client_id and redirect_url are required")
	}
	if u, err := url.Parse(o.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("web.oidc.redirect_url %q: want an absolute http(s) URL ending in /oidc/callback", o.RedirectURL)
	}
	if len(o.Groups) == 0 {
		return errors.New("web.oidc.groups: map at least one group to a role, or nobody can log in")
	}
	for i, g := range o.Groups {
		if g.Group == "" || !ValidRole(g.Role) {
			return fmt.Errorf("web.oidc.groups[%d]: want group and role (operator, school_admin or planner)", i)
		}
		if (g.Role == tenancy.RoleSchoolAdmin) != (len(g.Sites) > 0) {
			return fmt.Errorf("web.oidc.groups[%d]: a school_admin mapping needs sites, other roles none", i)
		}
	}
	return nil
}

// MapGroups returns the role and site names the groups give, or ok=false
// if no group is mapped.
func MapGroups(mappings []GroupMapping, groups []string) (role string, sites []string, ok bool) {
	have := map[string]bool{}
	for _, g := range groups {
		have[g] = true
	}
	rank := map[string]int{tenancy.RoleOperator: 3, tenancy.RolePlanner: 2, tenancy.RoleSchoolAdmin: 1}
	seen := map[string]bool{}
	for _, m := range mappings {
		if !have[m.Group] {
			continue
		}
		if rank[m.Role] > rank[role] {
			role = m.Role
		}
		if m.Role == tenancy.RoleSchoolAdmin {
			for _, s := range m.Sites {
				if !seen[s] {
					seen[s] = true
					sites = append(sites, s)
				}
			}
		}
	}
	if role != tenancy.RoleSchoolAdmin {
		sites = nil
	}
	return role, sites, role != ""
}

// OIDC is a configured OpenID Connect relying party.
type OIDC struct {
	cfg      OIDCConfig
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// Identity is what a successful OIDC login yields.
type Identity struct {
	Subject string
	Name    string
	Groups  []string
}

// NewOIDC discovers the provider (a network call to the issuer).
func NewOIDC(ctx context.Context, cfg OIDCConfig, secret string) (*OIDC, error) {
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("web.oidc: discover issuer %s: %w", cfg.Issuer, err)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{"profile", "email"}
	}
	scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.Label == "" {
		cfg.Label = "Single Sign-On"
	}
	return &OIDC{cfg: cfg,
		oauth:    oauth2.Config{ClientID: cfg.ClientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: cfg.RedirectURL, Scopes: scopes},
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
	}, nil
}

// Label is the login button's text.
func (o *OIDC) Label() string { return o.cfg.Label }

// Mappings are the configured group mappings.
func (o *OIDC) Mappings() []GroupMapping { return o.cfg.Groups }

// AuthURL is where the browser goes to log in; state and nonce are bound
// to the browser by the caller (cookies).
func (o *OIDC) AuthURL(state, nonce string) string {
	return o.oauth.AuthCodeURL(state, oidc.Nonce(nonce))
}

// Exchange trades the authorization code for tokens, verifies the ID
// token (signature, issuer, audience, expiry, nonce) and returns who it is.
func (o *OIDC) Exchange(ctx context.Context, code, nonce string) (Identity, error) {
	tok, err := o.oauth.Exchange(ctx, code)
	if err != nil {
		return Identity{}, fmt.Errorf("single sign-on: exchange code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, errors.New("single sign-on: the provider sent no id_token")
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("single sign-on: verify ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return Identity{}, errors.New("single sign-on: nonce mismatch (replayed or foreign login)")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("single sign-on: read claims: %w", err)
	}
	id := Identity{Subject: o.cfg.Issuer + "|" + idt.Subject}
	for _, k := range []string{o.cfg.UsernameClaim, "preferred_username", "email", "sub"} {
		if v, ok := claims[k].(string); k != "" && ok && v != "" {
			id.Name = strings.ReplaceAll(v, " ", "_")
			break
		}
	}
	switch g := claims[o.cfg.GroupsClaim].(type) {
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				id.Groups = append(id.Groups, s)
			}
		}
	case string:
		id.Groups = strings.Fields(g)
	}
	return id, nil
}
