// Package tenancy is the collector's picture of who owns what: the
// municipalities, their sites and the sites' devices, the API tokens bound
// to sites, and the principal (token or web user) behind every request with
// the sites it may see. Every read and write is scoped here.
package tenancy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
)

// Device classes, as ARCHITECTURE.md names them.
var Classes = []string{"server", "switch", "access_point", "router", "printer", "ups", "endpoint", "display", "other"}

// ValidClass reports whether c is one of Classes.
func ValidClass(c string) bool {
	for _, k := range Classes {
		if k == c {
			return true
		}
	}
	return false
}

// School types a site can have (German names are what planners use).
var SchoolTypes = []string{"", "grundschule", "weiterfuehrende_schule", "berufskolleg", "foerderschule", "verwaltung"}

// ValidSchoolType reports whether t is one of SchoolTypes.
func ValidSchoolType(t string) bool {
	for _, k := range SchoolTypes {
		if k == t {
			return true
		}
	}
	return false
}

// Roles of tokens and web users.
const (
	RoleAgent       = "agent"        // writes (and reads) one site
	RoleOperator    = "operator"     // everything
	RoleSchoolAdmin = "school_admin" // reads assigned sites, manages their maintenance
	RolePlanner     = "planner"      // reads all reports, changes nothing
)

// ErrNotFound is returned when a named object does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnauthenticated is returned for a missing, unknown or revoked token.
var ErrUnauthenticated = errors.New("missing, unknown or revoked token")

var migrations = []sqlitedb.Migration{{Version: 1, SQL: `
CREATE TABLE municipalities(
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE TABLE sites(
	id INTEGER PRIMARY KEY,
	municipality_id INTEGER NOT NULL REFERENCES municipalities(id),
	name TEXT NOT NULL UNIQUE,
	title TEXT NOT NULL DEFAULT '',
	school_type TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE TABLE devices(
	id INTEGER PRIMARY KEY,
	site_id INTEGER NOT NULL REFERENCES sites(id),
	name TEXT NOT NULL,
	class TEXT NOT NULL,
	class_fixed INTEGER NOT NULL DEFAULT 0,
	parent TEXT NOT NULL DEFAULT '',
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	UNIQUE(site_id, name)
);
CREATE TABLE tokens(
	id INTEGER PRIMARY KEY,
	hash BLOB NOT NULL UNIQUE,
	prefix TEXT NOT NULL,
	role TEXT NOT NULL,
	site_id INTEGER REFERENCES sites(id),
	description TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
`}, {Version: 2, SQL: `
-- Authenticated tokens are cached in memory; any change to what a
-- principal is made of bumps this counter, which every authentication
-- reads (one row), so that a revocation by another process (the CLI)
-- takes effect with the next request.
CREATE TABLE auth_revision(id INTEGER PRIMARY KEY CHECK(id = 1), n INTEGER NOT NULL);
INSERT INTO auth_revision VALUES(1, 0);
CREATE TRIGGER tokens_auth_upd AFTER UPDATE ON tokens BEGIN UPDATE auth_revision SET n = n + 1; END;
CREATE TRIGGER tokens_auth_del AFTER DELETE ON tokens BEGIN UPDATE auth_revision SET n = n + 1; END;
CREATE TRIGGER sites_auth_upd AFTER UPDATE ON sites BEGIN UPDATE auth_revision SET n = n + 1; END;
CREATE TRIGGER sites_auth_del AFTER DELETE ON sites BEGIN UPDATE auth_revision SET n = n + 1; END;
CREATE TRIGGER municipalities_auth_upd AFTER UPDATE ON municipalities BEGIN UPDATE auth_revision SET n = n + 1; END;
CREATE TRIGGER municipalities_auth_del AFTER DELETE ON municipalities BEGIN UPDATE auth_revision SET n = n + 1; END;
`}, {Version: 3, SQL: `
-- Bumped by every change of what device parents are derived from, so
-- that the collector's minutely parent sync (which reads every device)
-- can skip when nothing changed, also when the CLI changed it.
CREATE TABLE device_revision(id INTEGER PRIMARY KEY CHECK(id = 1), n INTEGER NOT NULL);
INSERT INTO device_revision VALUES(1, 0);
CREATE TRIGGER devices_rev_ins AFTER INSERT ON devices BEGIN UPDATE device_revision SET n = n + 1; END;
CREATE TRIGGER devices_rev_del AFTER DELETE ON devices BEGIN UPDATE device_revision SET n = n + 1; END;
CREATE TRIGGER devices_rev_upd AFTER UPDATE OF site_id, name, class, parent ON devices BEGIN UPDATE device_revision SET n = n + 1; END;
`}}

// Directory is the tenancy database: municipalities, sites, devices, tokens.
type Directory struct {
	db *sql.DB

	mu      sync.Mutex
	devices map[deviceKey]*deviceEntry // cache of known devices
	// loaded are the sites whose devices are all in the cache: a miss
	// there is a new device, elsewhere maybe one from before a restart.
	loaded map[int64]bool
	dirty  map[int64]int64 // device id → last seen (Unix ns), not yet saved
	saved  map[int64]int64 // device id → last seen as last saved by this process

	reg registrar // group commit of first-sight device registrations

	auth authCache
}

type deviceKey struct {
	site int64
	name string
}

type deviceEntry struct {
	id    int64
	class string
}

// New opens the directory in db, creating its tables if needed.
func New(ctx context.Context, db *sql.DB) (*Directory, error) {
	if err := sqlitedb.Migrate(ctx, db, "tenancy", migrations); err != nil {
		return nil, err
	}
	return &Directory{db: db, devices: map[deviceKey]*deviceEntry{}, loaded: map[int64]bool{}, dirty: map[int64]int64{}, saved: map[int64]int64{}}, nil
}

// DB returns the underlying database, for packages that keep their own
// tables next to the directory's.
func (d *Directory) DB() *sql.DB { return d.db }

// Municipality is a Schulträger or Kommune.
type Municipality struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Site is a school or an administration building.
type Site struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Title          string `json:"title,omitempty"`
	SchoolType     string `json:"school_type,omitempty"`
	MunicipalityID int64  `json:"municipality_id"`
	Municipality   string `json:"municipality"`
}

// EnsureMunicipality returns the municipality named name, creating it.
func (d *Directory) EnsureMunicipality(ctx context.Context, name string) (Municipality, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Municipality{}, errors.New("municipality name is empty")
	}
	if _, err := d.db.ExecContext(ctx, `INSERT INTO municipalities(name, created_at) VALUES(?, ?) ON CONFLICT(name) DO NOTHING`, name, time.Now().UnixNano()); err != nil {
		return Municipality{}, fmt.Errorf("create municipality %q: %w", name, err)
	}
	m := Municipality{Name: name}
	err := d.db.QueryRowContext(ctx, `SELECT id FROM municipalities WHERE name=?`, name).Scan(&m.ID)
	return m, err
}

// Municipalities lists all municipalities by name.
func (d *Directory) Municipalities(ctx context.Context) ([]Municipality, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, name FROM municipalities ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list municipalities: %w", err)
	}
	defer rows.Close()
	var out []Municipality
	for rows.Next() {
		var m Municipality
		if err := rows.Scan(&m.ID, &m.Name); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// EnsureSite returns the site named name, creating it (and its
// municipality) if needed. A site that exists in another municipality is an
// error: site names are unique keys.
func (d *Directory) EnsureSite(ctx context.Context, municipality, name, schoolType string) (Site, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Site{}, errors.New("site name is empty")
	}
	if !ValidSchoolType(schoolType) {
		return Site{}, fmt.Errorf("unknown school type %q: use one of %s", schoolType, strings.Join(SchoolTypes[1:], ", "))
	}
	if s, err := d.SiteByName(ctx, name); err == nil {
		if municipality != "" && s.Municipality != municipality {
			return Site{}, fmt.Errorf("site %q already exists in municipality %q", name, s.Municipality)
		}
		if schoolType != "" && s.SchoolType != schoolType {
			_, err := d.db.ExecContext(ctx, `UPDATE sites SET school_type=? WHERE id=?`, schoolType, s.ID)
			d.auth.expire()
			if err != nil {
				return Site{}, fmt.Errorf("set school type of site %q: %w", name, err)
			}
			s.SchoolType = schoolType
		}
		return s, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Site{}, err
	}
	if municipality == "" {
		return Site{}, fmt.Errorf("site %q does not exist yet: name its municipality to create it", name)
	}
	m, err := d.EnsureMunicipality(ctx, municipality)
	if err != nil {
		return Site{}, err
	}
	if _, err := d.db.ExecContext(ctx, `INSERT INTO sites(municipality_id, name, school_type, created_at) VALUES(?, ?, ?, ?)`, m.ID, name, schoolType, time.Now().UnixNano()); err != nil {
		return Site{}, fmt.Errorf("create site %q: %w", name, err)
	}
	return d.SiteByName(ctx, name)
}

const siteSelect = `SELECT s.id, s.name, s.title, s.school_type, m.id, m.name FROM sites s JOIN municipalities m ON m.id = s.municipality_id`

func scanSite(sc interface{ Scan(...any) error }) (Site, error) {
	var s Site
	err := sc.Scan(&s.ID, &s.Name, &s.Title, &s.SchoolType, &s.MunicipalityID, &s.Municipality)
	return s, err
}

// SiteByName returns the site with that name, or ErrNotFound.
func (d *Directory) SiteByName(ctx context.Context, name string) (Site, error) {
	s, err := scanSite(d.db.QueryRowContext(ctx, siteSelect+` WHERE s.name=?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Site{}, fmt.Errorf("site %q: %w", name, ErrNotFound)
	}
	return s, err
}

// SiteByID returns the site with that id, or ErrNotFound.
func (d *Directory) SiteByID(ctx context.Context, id int64) (Site, error) {
	s, err := scanSite(d.db.QueryRowContext(ctx, siteSelect+` WHERE s.id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Site{}, fmt.Errorf("site %d: %w", id, ErrNotFound)
	}
	return s, err
}

// Sites lists the sites p may see (all for nil p), by municipality and name.
func (d *Directory) Sites(ctx context.Context, p *Principal) ([]Site, error) {
	rows, err := d.db.QueryContext(ctx, siteSelect+` ORDER BY m.name, s.name`)
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	defer rows.Close()
	var out []Site
	for rows.Next() {
		s, err := scanSite(rows)
		if err != nil {
			return nil, err
		}
		if p == nil || p.CanReadSite(s.ID) {
			out = append(out, s)
		}
	}
	return out, rows.Err()
}

// tokenAlphabet yields tokens without padding and easy to paste.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// HashToken is how tokens are stored: SHA-256 of the whole token. Tokens
// carry 256 random bits, so a fast hash is enough and lookups stay cheap.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Token describes a stored token (never its secret).
type Token struct {
	ID          int64      `json:"id"`
	Prefix      string     `json:"prefix"`
	Role        string     `json:"role"`
	Site        string     `json:"site,omitempty"`
	SiteID      int64      `json:"site_id,omitempty"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// CreateToken makes a new token with the given role, bound to site (for
// agent tokens). It returns the secret, which is not stored and cannot be
// shown again.
func (d *Directory) CreateToken(ctx context.Context, role string, site *Site, description string) (string, Token, error) {
	switch role {
	case RoleAgent:
		if site == nil {
			return "", Token{}, errors.New("an agent token must be bound to a site")
		}
	case RoleOperator, RolePlanner:
	default:
		return "", Token{}, fmt.Errorf("unknown token role %q: use agent, operator or planner", role)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, fmt.Errorf("generate token: %w", err)
	}
	secret := "sm_" + tokenEncoding.EncodeToString(raw[:])
	t := Token{Prefix: secret[:9], Role: role, Description: description, CreatedAt: time.Now().UTC()}
	var siteID any
	if site != nil {
		siteID, t.SiteID, t.Site = site.ID, site.ID, site.Name
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO tokens(hash, prefix, role, site_id, description, created_at) VALUES(?, ?, ?, ?, ?, ?)`,
		HashToken(secret), t.Prefix, role, siteID, description, t.CreatedAt.UnixNano())
	if err != nil {
		return "", Token{}, fmt.Errorf("store token: %w", err)
	}
	t.ID, _ = res.LastInsertId()
	return secret, t, nil
}

// Tokens lists all tokens, newest first.
func (d *Directory) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT t.id, t.prefix, t.role, COALESCE(s.name, ''), COALESCE(t.site_id, 0), t.description, t.created_at, t.revoked_at
		FROM tokens t LEFT JOIN sites s ON s.id = t.site_id ORDER BY t.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Prefix, &t.Role, &t.Site, &t.SiteID, &t.Description, &created, &revoked); err != nil {
			return nil, err
		}
		t.CreatedAt = time.Unix(0, created).UTC()
		if revoked.Valid {
			r := time.Unix(0, revoked.Int64).UTC()
			t.RevokedAt = &r
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes the token with the given id or prefix.
func (d *Directory) RevokeToken(ctx context.Context, idOrPrefix string) error {
	res, err := d.db.ExecContext(ctx, `UPDATE tokens SET revoked_at=? WHERE revoked_at IS NULL AND (CAST(id AS TEXT)=? OR prefix=?)`,
		time.Now().UnixNano(), idOrPrefix, idOrPrefix)
	d.auth.expire()
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", idOrPrefix, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token %s: no active token with that id or prefix: %w", idOrPrefix, ErrNotFound)
	}
	return nil
}

// Authenticate returns the principal behind a token secret. Known tokens
// come from memory. A revocation through this Directory takes effect at
// once, one by another process (the CLI) within authRevisionTTL.
func (d *Directory) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" {
		return nil, ErrUnauthenticated
	}
	hash := sha256.Sum256([]byte(secret))
	rev, err := d.auth.revision(ctx, d.db)
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if p := d.auth.get(rev, hash); p != nil {
		return p, nil
	}
	p, err := d.authenticate(ctx, secret)
	if err != nil {
		return nil, err
	}
	d.auth.put(rev, hash, p)
	return p.clone(), nil
}

// authenticate reads the principal of a token from the database.
func (d *Directory) authenticate(ctx context.Context, secret string) (*Principal, error) {
	var p Principal
	var siteID sql.NullInt64
	var revoked sql.NullInt64
	var prefix string
	err := d.db.QueryRowContext(ctx, `SELECT id, prefix, role, site_id, revoked_at FROM tokens WHERE hash=?`, HashToken(secret)).
		Scan(&p.TokenID, &prefix, &p.Role, &siteID, &revoked)
	if errors.Is(err, sql.ErrNoRows) || revoked.Valid {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	p.Name = "token " + prefix
	switch p.Role {
	case RoleAgent:
		s, err := d.SiteByID(ctx, siteID.Int64)
		if err != nil {
			return nil, err
		}
		p.WriteSite = &s
		p.SiteIDs = []int64{s.ID}
	case RoleOperator, RolePlanner:
		p.AllSites = true
	}
	return &p, nil
}
