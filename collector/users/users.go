// Package users keeps the collector's web users: local accounts with
// argon2id password hashes, their role (operator, school_admin, planner)
// and, for school admins, the sites they may see; persistent login
// sessions (only a hash of the session id is stored, so a database leak
// does not hand out sessions, and a restart keeps everybody logged in);
// a login rate limiter; and optional OpenID Connect login with group →
// role mapping (oidc.go).
package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// Roles a web user can have.
var Roles = []string{tenancy.RoleOperator, tenancy.RoleSchoolAdmin, tenancy.RolePlanner}

// ValidRole reports whether r is a web user role.
func ValidRole(r string) bool {
	for _, k := range Roles {
		if k == r {
			return true
		}
	}
	return false
}

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// Errors.
var (
	ErrBadCredentials = errors.New("unknown user or wrong password")
	ErrNotFound       = errors.New("not found")
	ErrNoSession      = errors.New("no valid session")
)

var migrations = []sqlitedb.Migration{{Version: 1, SQL: `
CREATE TABLE web_users(
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	oidc_subject TEXT UNIQUE,
	disabled INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	password_changed_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE web_user_sites(
	user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
	site_id INTEGER NOT NULL,
	PRIMARY KEY(user_id, site_id)
);
CREATE TABLE web_sessions(
	id_hash BLOB PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	last_seen INTEGER NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
`}}

// Store is the user database. It lives in the collector's meta database,
// next to the tenancy tables.
type Store struct {
	db *sql.DB
	// SessionTTL is the absolute lifetime of a session (default 12 h);
	// IdleTTL ends a session unused that long (default 2 h).
	SessionTTL, IdleTTL time.Duration
	Now                 func() time.Time
	// Argon2 parameters; the zero values take OWASP's recommendation
	// (19 MiB, 2 passes, 1 lane).
	ArgonMemoryKiB, ArgonTime uint32
}

// Open creates the tables if needed and returns the store.
func Open(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlitedb.Migrate(ctx, db, "users", migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// User is a web user (never with its hash).
type User struct {
	ID       int64     `json:"id"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	SiteIDs  []int64   `json:"site_ids,omitempty"`
	Sites    []string  `json:"sites,omitempty"`
	Disabled bool      `json:"disabled,omitempty"`
	OIDC     bool      `json:"oidc,omitempty"`
	Created  time.Time `json:"created"`
}

// Principal is the tenancy principal the user acts as.
func (u *User) Principal() *tenancy.Principal {
	p := &tenancy.Principal{Name: u.Name, Role: u.Role, UserID: u.ID}
	switch u.Role {
	case tenancy.RoleOperator, tenancy.RolePlanner:
		p.AllSites = true
	default:
		p.SiteIDs = append([]int64(nil), u.SiteIDs...)
	}
	return p
}

func checkName(name string) error {
	if name == "" {
		return errors.New("user name is empty")
	}
	if len(name) > 100 || strings.ContainsAny(name, " \t\r\n/") {
		return fmt.Errorf("user name %q: use at most 100 characters without spaces or slashes", name)
	}
	return nil
}

func checkRole(role string, sites []int64) error {
	if !ValidRole(role) {
		return fmt.Errorf("unknown role %q: use operator, school_admin or planner", role)
	}
	if role == tenancy.RoleSchoolAdmin && len(sites) == 0 {
		return errors.New("a school_admin needs at least one site (--site NAME)")
	}
	if role != tenancy.RoleSchoolAdmin && len(sites) > 0 {
		return fmt.Errorf("only school_admin users have sites; a %s sees all sites", role)
	}
	return nil
}

// CheckPassword enforces the password policy.
func CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return fmt.Errorf("password too short: use at least %d characters", MinPasswordLength)
	}
	if len(pw) > 1024 {
		return errors.New("password too long: use at most 1024 bytes")
	}
	return nil
}

// Add creates a local user with a password.
func (s *Store) Add(ctx context.Context, name, role, password string, siteIDs []int64) (User, error) {
	if err := checkName(name); err != nil {
		return User{}, err
	}
	if err := checkRole(role, siteIDs); err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	hash, err := s.hash(password)
	if err != nil {
		return User{}, err
	}
	now := s.now().UnixNano()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("add user %q: %w", name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO web_users(name, role, password_hash, created_at, password_changed_at) VALUES(?,?,?,?,?)`, name, role, hash, now, now)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return User{}, fmt.Errorf("add user %q: a user with that name exists (use 'user passwd' or 'user set')", name)
		}
		return User{}, fmt.Errorf("add user %q: %w", name, err)
	}
	id, _ := res.LastInsertId()
	if err := setSites(ctx, tx, id, siteIDs); err != nil {
		return User{}, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("add user %q: %w", name, err)
	}
	return s.ByID(ctx, id)
}

func setSites(ctx context.Context, tx *sql.Tx, userID int64, siteIDs []int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM web_user_sites WHERE user_id=?`, userID); err != nil {
		return fmt.Errorf("set sites of user %d: %w", userID, err)
	}
	for _, sid := range siteIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO web_user_sites(user_id, site_id) VALUES(?,?)`, userID, sid); err != nil {
			return fmt.Errorf("set sites of user %d: %w", userID, err)
		}
	}
	return nil
}

// SetRole changes a user's role and sites and ends their sessions, so that
// a narrowed scope takes effect at once.
func (s *Store) SetRole(ctx context.Context, name, role string, siteIDs []int64) error {
	if err := checkRole(role, siteIDs); err != nil {
		return err
	}
	u, err := s.ByName(ctx, name)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set role of %q: %w", name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE web_users SET role=? WHERE id=?`, role, u.ID); err != nil {
		return fmt.Errorf("set role of %q: %w", name, err)
	}
	if err := setSites(ctx, tx, u.ID, siteIDs); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id=?`, u.ID); err != nil {
		return fmt.Errorf("set role of %q: %w", name, err)
	}
	return tx.Commit()
}

// SetPassword sets a new password (administrator reset) and ends the
// user's sessions.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	u, err := s.ByName(ctx, name)
	if err != nil {
		return err
	}
	hash, err := s.hash(password)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE web_users SET password_hash=?, password_changed_at=? WHERE id=?`, hash, s.now().UnixNano(), u.ID); err != nil {
		return fmt.Errorf("set password of %q: %w", name, err)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id=?`, u.ID)
	return err
}

// ChangePassword is the user's own change: the old password must match.
// Other sessions of the user end; keepSession (the current one) stays.
func (s *Store) ChangePassword(ctx context.Context, userID int64, old, new, keepSession string) error {
	var name, hash string
	if err := s.db.QueryRowContext(ctx, `SELECT name, password_hash FROM web_users WHERE id=?`, userID).Scan(&name, &hash); err != nil {
		return fmt.Errorf("change password: %w", ErrNotFound)
	}
	if hash == "" {
		return errors.New("change password: this account logs in through single sign-on and has no local password")
	}
	if !verifyHash(hash, old) {
		return fmt.Errorf("change password: the current password is wrong")
	}
	if err := CheckPassword(new); err != nil {
		return err
	}
	nh, err := s.hash(new)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE web_users SET password_hash=?, password_changed_at=? WHERE id=?`, nh, s.now().UnixNano(), userID); err != nil {
		return fmt.Errorf("change password of %q: %w", name, err)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id=? AND id_hash<>?`, userID, hashID(keepSession))
	return err
}

// Delete removes a user and their sessions.
func (s *Store) Delete(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM web_users WHERE name=?`, name)
	if err != nil {
		return fmt.Errorf("delete user %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	return nil
}

// SetDisabled locks or unlocks an account; locking ends its sessions.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	u, err := s.ByName(ctx, name)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE web_users SET disabled=? WHERE id=?`, disabled, u.ID); err != nil {
		return fmt.Errorf("disable user %q: %w", name, err)
	}
	if disabled {
		_, err = s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id=?`, u.ID)
	}
	return err
}

const userCols = `u.id, u.name, u.role, u.disabled, u.oidc_subject IS NOT NULL, u.created_at`

func (s *Store) scanUsers(ctx context.Context, where string, args ...any) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM web_users u `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var out []User
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &u.Role, &u.Disabled, &u.OIDC, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Created = time.Unix(0, created).UTC()
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for i := range out {
		if err := s.loadSites(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadSites fills SiteIDs and Sites (names from the tenancy table in the
// same database; a deleted site shows as its id).
func (s *Store) loadSites(ctx context.Context, u *User) error {
	rows, err := s.db.QueryContext(ctx, `SELECT us.site_id, COALESCE((SELECT name FROM sites WHERE id=us.site_id), '#'||us.site_id)
		FROM web_user_sites us WHERE us.user_id=? ORDER BY 2`, u.ID)
	if err != nil {
		return fmt.Errorf("sites of user %q: %w", u.Name, err)
	}
	defer rows.Close()
	u.SiteIDs, u.Sites = nil, nil
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("sites of user %q: %w", u.Name, err)
		}
		u.SiteIDs, u.Sites = append(u.SiteIDs, id), append(u.Sites, name)
	}
	return rows.Err()
}

// List returns all users by name.
func (s *Store) List(ctx context.Context) ([]User, error) {
	return s.scanUsers(ctx, `ORDER BY u.name`)
}

// ByName returns one user.
func (s *Store) ByName(ctx context.Context, name string) (User, error) {
	us, err := s.scanUsers(ctx, `WHERE u.name=?`, name)
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, fmt.Errorf("user %q: %w (see 'user list')", name, ErrNotFound)
	}
	return us[0], nil
}

// ByID returns one user.
func (s *Store) ByID(ctx context.Context, id int64) (User, error) {
	us, err := s.scanUsers(ctx, `WHERE u.id=?`, id)
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	return us[0], nil
}

// dummyHash makes a login with an unknown name cost as much as one with a
// wrong password, so that response times do not tell which names exist.
var dummyHash = encodeHash([]byte("schulmon-dummy-s"), argon2.IDKey([]byte("x"), []byte("schulmon-dummy-s"), 2, 19*1024, 1, 32), 19*1024, 2, 1)

// Verify checks a local user's password.
func (s *Store) Verify(ctx context.Context, name, password string) (User, error) {
	var id int64
	var hash string
	var disabled bool
	err := s.db.QueryRowContext(ctx, `SELECT id, password_hash, disabled FROM web_users WHERE name=?`, name).Scan(&id, &hash, &disabled)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && hash == "") {
		verifyHash(dummyHash, password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("look up user: %w", err)
	}
	if !verifyHash(hash, password) || disabled {
		return User{}, ErrBadCredentials
	}
	return s.ByID(ctx, id)
}

// UpsertOIDC creates or updates the user behind an OpenID Connect subject
// with the role and sites its groups map to. Local accounts are never taken
// over: a name clash with a local user is an error.
func (s *Store) UpsertOIDC(ctx context.Context, subject, name, role string, siteIDs []int64) (User, error) {
	if err := checkRole(role, siteIDs); err != nil {
		return User{}, err
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM web_users WHERE oidc_subject=?`, subject).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := checkName(name); err != nil {
			return User{}, err
		}
		res, err := s.db.ExecContext(ctx, `INSERT INTO web_users(name, role, oidc_subject, created_at) VALUES(?,?,?,?)`, name, role, subject, s.now().UnixNano())
		if err != nil {
			return User{}, fmt.Errorf("single sign-on user %q: the name is taken by a local user or cannot be stored: %w", name, err)
		}
		id, _ = res.LastInsertId()
	case err != nil:
		return User{}, fmt.Errorf("single sign-on user %q: %w", name, err)
	default:
		if _, err := s.db.ExecContext(ctx, `UPDATE web_users SET role=? WHERE id=?`, role, id); err != nil {
			return User{}, fmt.Errorf("single sign-on user %q: %w", name, err)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, err
	}
	defer tx.Rollback()
	if err := setSites(ctx, tx, id, siteIDs); err != nil {
		return User{}, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, err
	}
	u, err := s.ByID(ctx, id)
	if err == nil && u.Disabled {
		return User{}, ErrBadCredentials
	}
	return u, err
}

// ---- password hashing (argon2id, PHC string format) ----

func (s *Store) hash(pw string) (string, error) {
	mem, t := s.ArgonMemoryKiB, s.ArgonTime
	if mem == 0 {
		mem = 19 * 1024
	}
	if t == 0 {
		t = 2
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return encodeHash(salt, argon2.IDKey([]byte(pw), salt, t, mem, 1, 32), mem, t, 1), nil
}

func encodeHash(salt, key []byte, mem, t uint32, p uint8) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, mem, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func verifyHash(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem == 0 || t == 0 || p == 0 || mem > 1<<21 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// ---- sessions ----

// Session is a logged-in browser.
type Session struct {
	User    User
	CSRF    string
	Expires time.Time
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func (s *Store) ttl() (time.Duration, time.Duration) {
	abs, idle := s.SessionTTL, s.IdleTTL
	if abs <= 0 {
		abs = 12 * time.Hour
	}
	if idle <= 0 {
		idle = 2 * time.Hour
	}
	return abs, idle
}

// NewSession starts a session for the user and returns its id (the cookie
// value, stored only as a SHA-256 hash) and its CSRF token.
func (s *Store) NewSession(ctx context.Context, userID int64) (id, csrf string, err error) {
	id, csrf = randomToken(32), randomToken(24)
	abs, _ := s.ttl()
	now := s.now()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO web_sessions(id_hash, user_id, csrf, created_at, expires_at, last_seen) VALUES(?,?,?,?,?,?)`,
		hashID(id), userID, csrf, now.UnixNano(), now.Add(abs).UnixNano(), now.UnixNano()); err != nil {
		return "", "", fmt.Errorf("start session: %w", err)
	}
	// Sweep expired sessions now and then; logins are rare enough.
	_, _ = s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at<?`, now.UnixNano())
	return id, csrf, nil
}

// Session returns the live session with that id, refreshing its idle
// timer (at most once a minute, to keep reads cheap).
func (s *Store) Session(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, ErrNoSession
	}
	var userID, expires, last int64
	var csrf string
	err := s.db.QueryRowContext(ctx, `SELECT user_id, csrf, expires_at, last_seen FROM web_sessions WHERE id_hash=?`, hashID(id)).Scan(&userID, &csrf, &expires, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	now := s.now()
	_, idle := s.ttl()
	if now.UnixNano() > expires || now.Sub(time.Unix(0, last)) > idle {
		_, _ = s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash=?`, hashID(id))
		return nil, ErrNoSession
	}
	if now.Sub(time.Unix(0, last)) > time.Minute {
		_, _ = s.db.ExecContext(ctx, `UPDATE web_sessions SET last_seen=? WHERE id_hash=?`, now.UnixNano(), hashID(id))
	}
	u, err := s.ByID(ctx, userID)
	if err != nil {
		return nil, ErrNoSession
	}
	if u.Disabled {
		return nil, ErrNoSession
	}
	return &Session{User: u, CSRF: csrf, Expires: time.Unix(0, expires)}, nil
}

// EndSession logs a session out.
func (s *Store) EndSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash=?`, hashID(id))
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// Sessions counts the live sessions of a user (for the users page).
func (s *Store) Sessions(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM web_sessions WHERE user_id=? AND expires_at>=?`, userID, s.now().UnixNano()).Scan(&n)
	return n, err
}

// RandomPassword returns a password for a new account (run-local, tests).
func RandomPassword() string { return hex.EncodeToString([]byte(randomToken(12)))[:20] }
