// Package enroll lets an agent trade a short-lived enrollment token for its
// own agent token, so that the on-site administrator never copies a
// long-lived secret into a config file. An operator creates enrollment
// tokens per site (expiring, single- or multi-use, revocable); they are
// stored hashed like agent tokens, and the secret is shown once.
//
// The HTTP side is POST /api/v1/enroll (see Handler); the CLI side is
// `schulmon-collector enrollment create|list|revoke`; the agent side is
// `schulmon-agent enroll`.
package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/sqlitedb"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// Prefix starts every enrollment token, so that it cannot be mistaken for
// an agent token ("sm_") when pasted into the wrong place.
const Prefix = "se_"

var migrations = []sqlitedb.Migration{{Version: 1, SQL: `
CREATE TABLE enrollment_tokens(
	id INTEGER PRIMARY KEY,
	hash BLOB NOT NULL UNIQUE,
	prefix TEXT NOT NULL,
	site_id INTEGER NOT NULL REFERENCES sites(id),
	description TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	max_uses INTEGER NOT NULL,
	uses INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER
);
CREATE TABLE enrollment_uses(
	id INTEGER PRIMARY KEY,
	enrollment_id INTEGER NOT NULL REFERENCES enrollment_tokens(id),
	token_id INTEGER NOT NULL,
	device TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT '',
	at INTEGER NOT NULL
);
`}}

// Reasons an enrollment token is refused; Error.Reason carries one.
const (
	ReasonUnknown = "unknown"
	ReasonExpired = "expired"
	ReasonUsed    = "used"
	ReasonRevoked = "revoked"
)

// Error is a refused enrollment with the reason and what to do about it.
type Error struct {
	Reason string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// ErrRefused matches every *Error with errors.Is.
var ErrRefused = errors.New("enrollment refused")

// Is makes errors.Is(err, ErrRefused) true for any refusal.
func (e *Error) Is(target error) bool { return target == ErrRefused }

// TokenCreator makes agent tokens; *tenancy.Directory is one.
type TokenCreator interface {
	CreateToken(ctx context.Context, role string, site *tenancy.Site, description string) (string, tenancy.Token, error)
	SiteByID(ctx context.Context, id int64) (tenancy.Site, error)
	RevokeToken(ctx context.Context, idOrPrefix string) error
}

// Store keeps enrollment tokens in the collector's meta database.
type Store struct {
	db  *sql.DB
	dir TokenCreator
	// Now is the clock; tests set it.
	Now func() time.Time
}

// New opens the enrollment store in db (the database of dir), creating
// its tables if needed.
func New(ctx context.Context, db *sql.DB, dir TokenCreator) (*Store, error) {
	if err := sqlitedb.Migrate(ctx, db, "enroll", migrations); err != nil {
		return nil, err
	}
	return &Store{db: db, dir: dir, Now: time.Now}, nil
}

// Token describes an enrollment token (never its secret).
type Token struct {
	ID           int64      `json:"id"`
	Prefix       string     `json:"prefix"`
	SiteID       int64      `json:"site_id"`
	Site         string     `json:"site"`
	Municipality string     `json:"municipality"`
	Description  string     `json:"description,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	MaxUses      int        `json:"max_uses"` // 0: unlimited until expiry
	Uses         int        `json:"uses"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
}

// State is "active", "expired", "used" or "revoked" at now.
func (t Token) State(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return ReasonRevoked
	case !now.Before(t.ExpiresAt):
		return ReasonExpired
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return ReasonUsed
	}
	return "active"
}

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Create makes an enrollment token for site that expires after ttl and
// may be redeemed maxUses times (0: any number of times until it
// expires). It returns the secret, which is not stored.
func (s *Store) Create(ctx context.Context, site tenancy.Site, ttl time.Duration, maxUses int, description string) (string, Token, error) {
	if ttl <= 0 {
		return "", Token{}, fmt.Errorf("enrollment token lifetime must be positive, got %s", ttl)
	}
	if maxUses < 0 {
		return "", Token{}, fmt.Errorf("enrollment token uses must be 0 (unlimited until expiry) or more, got %d", maxUses)
	}
	// 160 random bits: the token lives for hours, not years, and has
	// to be typed or pasted by an administrator at a school server.
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, fmt.Errorf("generate enrollment token: %w", err)
	}
	secret := Prefix + encoding.EncodeToString(raw[:])
	now := s.Now().UTC()
	t := Token{Prefix: secret[:8], SiteID: site.ID, Site: site.Name, Municipality: site.Municipality, Description: description,
		CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: maxUses}
	res, err := s.db.ExecContext(ctx, `INSERT INTO enrollment_tokens(hash, prefix, site_id, description, created_at, expires_at, max_uses) VALUES(?, ?, ?, ?, ?, ?, ?)`,
		hash(secret), t.Prefix, site.ID, description, t.CreatedAt.UnixNano(), t.ExpiresAt.UnixNano(), maxUses)
	if err != nil {
		return "", Token{}, fmt.Errorf("store enrollment token for site %s: %w", site.Name, err)
	}
	t.ID, _ = res.LastInsertId()
	return secret, t, nil
}

const tokenSelect = `SELECT e.id, e.prefix, e.site_id, s.name, m.name, e.description, e.created_at, e.expires_at, e.max_uses, e.uses, e.revoked_at
	FROM enrollment_tokens e JOIN sites s ON s.id = e.site_id JOIN municipalities m ON m.id = s.municipality_id`

func scanToken(sc interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created, expires int64
	var revoked sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Prefix, &t.SiteID, &t.Site, &t.Municipality, &t.Description, &created, &expires, &t.MaxUses, &t.Uses, &revoked); err != nil {
		return t, err
	}
	t.CreatedAt, t.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	if revoked.Valid {
		r := time.Unix(0, revoked.Int64).UTC()
		t.RevokedAt = &r
	}
	return t, nil
}

// List returns all enrollment tokens, newest first.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, tokenSelect+` ORDER BY e.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list enrollment tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Revoke revokes the enrollment token with that id or prefix. Agent
// tokens already issued through it stay valid: revoke those with
// `schulmon-collector token revoke`.
func (s *Store) Revoke(ctx context.Context, idOrPrefix string) error {
	idOrPrefix = strings.TrimSuffix(strings.TrimSpace(idOrPrefix), "…")
	res, err := s.db.ExecContext(ctx, `UPDATE enrollment_tokens SET revoked_at=? WHERE revoked_at IS NULL AND (CAST(id AS TEXT)=? OR prefix=?)`,
		s.Now().UnixNano(), idOrPrefix, idOrPrefix)
	if err != nil {
		return fmt.Errorf("revoke enrollment token %s: %w", idOrPrefix, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke enrollment token %s: no unrevoked enrollment token with that id or prefix (see 'schulmon-collector enrollment list'): %w", idOrPrefix, tenancy.ErrNotFound)
	}
	return nil
}

// Result is what a successful enrollment hands to the agent.
type Result struct {
	// Token is the agent's own token; it is shown only this once.
	Token        string `json:"token"`
	TokenID      int64  `json:"token_id"`
	Site         string `json:"site"`
	Municipality string `json:"municipality"`
}

// Redeem trades the enrollment secret for a new agent token bound to the
// enrollment token's site. device and remote are recorded for the audit
// trail. A refused enrollment is an *Error saying why.
func (s *Store) Redeem(ctx context.Context, secret, device, remote string) (Result, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return Result{}, &Error{ReasonUnknown, "no enrollment token: send {\"enrollment_token\": \"se_…\"} or 'Authorization: Token se_…'"}
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, tokenSelect+` WHERE e.hash=?`, hash(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		msg := "unknown enrollment token: check for typos, or ask the data centre for a new one ('schulmon-collector enrollment create')"
		if strings.HasPrefix(secret, "sm_") {
			msg = "this is an agent token, not an enrollment token: put it in the agent's token file instead of enrolling"
		}
		return Result{}, &Error{ReasonUnknown, msg}
	}
	if err != nil {
		return Result{}, fmt.Errorf("look up enrollment token: %w", err)
	}
	now := s.Now()
	if refusal := refuse(t, now); refusal != nil {
		return Result{}, refusal
	}
	// Claim one use atomically, so that two agents racing for a
	// single-use token cannot both win.
	res, err := s.db.ExecContext(ctx, `UPDATE enrollment_tokens SET uses = uses + 1
		WHERE id=? AND revoked_at IS NULL AND expires_at > ? AND (max_uses = 0 OR uses < max_uses)`, t.ID, now.UnixNano())
	if err != nil {
		return Result{}, fmt.Errorf("claim enrollment token %d: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Uses = t.MaxUses // lost the race for the last use
		return Result{}, refuse(t, now)
	}
	site, err := s.dir.SiteByID(ctx, t.SiteID)
	if err != nil {
		s.release(t.ID)
		return Result{}, fmt.Errorf("enrollment token %d: site: %w", t.ID, err)
	}
	desc := fmt.Sprintf("enrolled via %s… (enrollment %d)", t.Prefix, t.ID)
	if device != "" {
		desc = fmt.Sprintf("%s, enrolled via %s… (enrollment %d)", device, t.Prefix, t.ID)
	}
	tok, info, err := s.dir.CreateToken(ctx, tenancy.RoleAgent, &site, desc)
	if err != nil {
		s.release(t.ID)
		return Result{}, fmt.Errorf("create agent token for site %s: %w", site.Name, err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO enrollment_uses(enrollment_id, token_id, device, remote, at) VALUES(?, ?, ?, ?, ?)`,
		t.ID, info.ID, device, remote, now.UnixNano()); err != nil {
		// The agent would never learn the token: take it back.
		_ = s.dir.RevokeToken(context.WithoutCancel(ctx), strconv.FormatInt(info.ID, 10))
		s.release(t.ID)
		return Result{}, fmt.Errorf("record enrollment: %w", err)
	}
	return Result{Token: tok, TokenID: info.ID, Site: site.Name, Municipality: site.Municipality}, nil
}

// release gives a claimed use back after a failure on our side.
func (s *Store) release(id int64) {
	_, _ = s.db.ExecContext(context.Background(), `UPDATE enrollment_tokens SET uses = uses - 1 WHERE id=? AND uses > 0`, id)
}

func refuse(t Token, now time.Time) *Error {
	switch t.State(now) {
	case ReasonRevoked:
		return &Error{ReasonRevoked, fmt.Sprintf("enrollment token %s… was revoked at %s: ask the data centre for a new one", t.Prefix, t.RevokedAt.Format(time.RFC3339))}
	case ReasonExpired:
		return &Error{ReasonExpired, fmt.Sprintf("enrollment token %s… expired at %s: ask the data centre for a new one", t.Prefix, t.ExpiresAt.Format(time.RFC3339))}
	case ReasonUsed:
		return &Error{ReasonUsed, fmt.Sprintf("enrollment token %s… is used up (%d of %d uses): ask the data centre for a new one", t.Prefix, t.Uses, t.MaxUses)}
	}
	return nil
}

// Use is one redemption of an enrollment token.
type Use struct {
	EnrollmentID int64     `json:"enrollment_id"`
	TokenID      int64     `json:"token_id"`
	Device       string    `json:"device"`
	Remote       string    `json:"remote"`
	At           time.Time `json:"at"`
}

// Uses lists the redemptions of one enrollment token, oldest first.
func (s *Store) Uses(ctx context.Context, enrollmentID int64) ([]Use, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT enrollment_id, token_id, device, remote, at FROM enrollment_uses WHERE enrollment_id=? ORDER BY id`, enrollmentID)
	if err != nil {
		return nil, fmt.Errorf("list uses of enrollment token %d: %w", enrollmentID, err)
	}
	defer rows.Close()
	var out []Use
	for rows.Next() {
		var u Use
		var at int64
		if err := rows.Scan(&u.EnrollmentID, &u.TokenID, &u.Device, &u.Remote, &at); err != nil {
			return nil, err
		}
		u.At = time.Unix(0, at).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}
