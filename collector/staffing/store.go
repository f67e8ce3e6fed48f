package staffing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// schema is the package's own tables in the collector's SQLite database.
// Sites, municipalities and devices belong to collector/tenancy; these
// tables key on its site IDs.
const schema = `
CREATE TABLE IF NOT EXISTS staffing_site_attrs(
	site_id INTEGER PRIMARY KEY,
	pupils INTEGER NOT NULL DEFAULT 0,
	travel_minutes REAL NOT NULL DEFAULT 0,
	contracted_person_days REAL NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS staffing_imported_devices(
	id INTEGER PRIMARY KEY,
	site_id INTEGER NOT NULL,
	class TEXT NOT NULL,
	count INTEGER NOT NULL DEFAULT 1,
	name TEXT NOT NULL DEFAULT '',
	hostname TEXT NOT NULL DEFAULT '',
	mac TEXT NOT NULL DEFAULT '',
	serial TEXT NOT NULL DEFAULT '',
	note TEXT NOT NULL DEFAULT '',
	import_file TEXT NOT NULL DEFAULT '',
	imported_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS staffing_imported_devices_site ON staffing_imported_devices(site_id);
CREATE TABLE IF NOT EXISTS staffing_discovered_endpoints(
	site_id INTEGER NOT NULL,
	mac TEXT NOT NULL,
	ip TEXT NOT NULL DEFAULT '',
	hostname TEXT NOT NULL DEFAULT '',
	source_switch TEXT NOT NULL DEFAULT '',
	port TEXT NOT NULL DEFAULT '',
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	PRIMARY KEY(site_id, mac)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staffing_device_ids(
	site_id INTEGER NOT NULL,
	device TEXT NOT NULL,
	kind TEXT NOT NULL,
	value TEXT NOT NULL,
	last_seen INTEGER NOT NULL,
	PRIMARY KEY(site_id, device, kind, value)
) WITHOUT ROWID;
`

// Migrate creates the package's tables if they do not exist.
func Migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create staffing tables: %w", err)
	}
	return nil
}

// Store keeps site attributes, imported devices and discovered endpoints,
// and loads the inventory for a report.
type Store struct {
	db  *sql.DB
	now func() time.Time
	obs observerState
}

// NewStore migrates db and returns a Store on it.
func NewStore(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := Migrate(ctx, db); err != nil {
		return nil, err
	}
	s := &Store{db: db, now: time.Now}
	s.obs.init()
	return s, nil
}

// Attrs are the staffing attributes of a site; nil fields stay as they
// are. The school type lives in the tenancy's sites table.
type Attrs struct {
	Pupils               *int
	TravelMinutes        *float64
	ContractedPersonDays *float64
}

// SetAttrs changes a site's staffing attributes.
func (s *Store) SetAttrs(ctx context.Context, siteID int64, a Attrs) error {
	if a.Pupils != nil && *a.Pupils < 0 {
		return &ParamError{Param: "pupils", Msg: fmt.Sprintf("must not be negative, got %d", *a.Pupils)}
	}
	if a.TravelMinutes != nil {
		if err := nonNegative("travel_minutes", *a.TravelMinutes); err != nil {
			return err
		}
	}
	if a.ContractedPersonDays != nil {
		if err := nonNegative("contracted_person_days", *a.ContractedPersonDays); err != nil {
			return err
		}
	}
	now := s.now().UnixNano()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO staffing_site_attrs(site_id, updated_at) VALUES(?, ?) ON CONFLICT(site_id) DO NOTHING`, siteID, now); err != nil {
		return fmt.Errorf("set attributes of site %d: %w", siteID, err)
	}
	set := func(col string, v any) error {
		_, err := s.db.ExecContext(ctx, `UPDATE staffing_site_attrs SET `+col+`=?, updated_at=? WHERE site_id=?`, v, now, siteID)
		if err != nil {
			return fmt.Errorf("set %s of site %d: %w", col, siteID, err)
		}
		return nil
	}
	if a.Pupils != nil {
		if err := set("pupils", *a.Pupils); err != nil {
			return err
		}
	}
	if a.TravelMinutes != nil {
		if err := set("travel_minutes", *a.TravelMinutes); err != nil {
			return err
		}
	}
	if a.ContractedPersonDays != nil {
		if err := set("contracted_person_days", *a.ContractedPersonDays); err != nil {
			return err
		}
	}
	return nil
}

// SiteResolver finds the tenancy site ID of a CSV row.
type SiteResolver func(ctx context.Context, municipality, site string, siteID int64) (int64, error)

// TenancyResolver resolves rows against the tenancy's sites table: by ID,
// or by the unique site name (checking the municipality when the row
// names one).
func (s *Store) TenancyResolver() SiteResolver {
	return func(ctx context.Context, municipality, site string, siteID int64) (int64, error) {
		var id int64
		var mun string
		q := `SELECT s.id, m.name FROM sites s JOIN municipalities m ON m.id = s.municipality_id WHERE `
		var err error
		if siteID != 0 {
			err = s.db.QueryRowContext(ctx, q+`s.id=?`, siteID).Scan(&id, &mun)
		} else {
			err = s.db.QueryRowContext(ctx, q+`s.name=? COLLATE NOCASE`, site).Scan(&id, &mun)
		}
		if errors.Is(err, sql.ErrNoRows) {
			if siteID != 0 {
				return 0, fmt.Errorf("no site with ID %d", siteID)
			}
			return 0, fmt.Errorf("no site named %q: add it with `schulmon-collector site add %q --municipality M`", site, site)
		}
		if err != nil {
			return 0, fmt.Errorf("look up site %q: %w", site, err)
		}
		if municipality != "" && !strings.EqualFold(municipality, mun) {
			return 0, fmt.Errorf("site %q belongs to municipality %q, not %q", site, mun, municipality)
		}
		return id, nil
	}
}

// ImportDevices stores CSV rows. With replace, earlier imports of the same
// sites are deleted first, so that importing a corrected file does not
// count devices twice. All rows are stored or none; an error names the
// row.
func (s *Store) ImportDevices(ctx context.Context, rows []ImportedDevice, file string, replace bool, resolve SiteResolver) (int, error) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		id, err := resolve(ctx, r.Municipality, r.Site, r.SiteID)
		if err != nil {
			return 0, &CSVError{Line: r.Line, Column: "site", Msg: err.Error()}
		}
		ids[i] = id
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("import devices: %w", err)
	}
	defer tx.Rollback()
	if replace {
		done := map[int64]bool{}
		for _, id := range ids {
			if done[id] {
				continue
			}
			done[id] = true
			if _, err := tx.ExecContext(ctx, `DELETE FROM staffing_imported_devices WHERE site_id=?`, id); err != nil {
				return 0, fmt.Errorf("import devices: replace earlier import of site %d: %w", id, err)
			}
		}
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO staffing_imported_devices(site_id, class, count, name, hostname, mac, serial, note, import_file, imported_at) VALUES(?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return 0, fmt.Errorf("import devices: %w", err)
	}
	now := s.now().UnixNano()
	n := 0
	for i, r := range rows {
		if _, err := st.ExecContext(ctx, ids[i], r.Class.String(), r.Count, r.Name, r.Hostname, r.MAC, r.Serial, r.Note, file, now); err != nil {
			return 0, fmt.Errorf("import devices: line %d: %w", r.Line, err)
		}
		n += r.Count
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("import devices: %w", err)
	}
	return n, nil
}

// Endpoint is a device seen in a switch's ARP or bridge table.
type Endpoint struct {
	SiteID   int64
	MAC      string
	IP       string
	Hostname string
	Switch   string
	Port     string
	Seen     time.Time
}

// RecordEndpoints upserts discovered endpoints.
func (s *Store) RecordEndpoints(ctx context.Context, eps []Endpoint) error {
	if len(eps) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record discovered endpoints: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO staffing_discovered_endpoints(site_id, mac, ip, hostname, source_switch, port, first_seen, last_seen)
		VALUES(?,?,?,?,?,?,?,?)
		ON CONFLICT(site_id, mac) DO UPDATE SET
			ip = CASE WHEN excluded.ip != '' THEN excluded.ip ELSE ip END,
			hostname = CASE WHEN excluded.hostname != '' THEN excluded.hostname ELSE hostname END,
			source_switch = CASE WHEN excluded.last_seen >= last_seen THEN excluded.source_switch ELSE source_switch END,
			port = CASE WHEN excluded.last_seen >= last_seen THEN excluded.port ELSE port END,
			first_seen = min(first_seen, excluded.first_seen),
			last_seen = max(last_seen, excluded.last_seen)`)
	if err != nil {
		return fmt.Errorf("record discovered endpoints: %w", err)
	}
	for _, e := range eps {
		ns := e.Seen.UnixNano()
		if _, err := st.ExecContext(ctx, e.SiteID, e.MAC, e.IP, e.Hostname, e.Switch, e.Port, ns, ns); err != nil {
			return fmt.Errorf("record discovered endpoint %s: %w", e.MAC, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record discovered endpoints: %w", err)
	}
	return nil
}

// Identity is something that identifies a monitored device: a MAC
// address, serial number or IP address, or the source that reports it.
type Identity struct {
	SiteID int64
	Device string
	Kind   string // "mac", "serial", "ip", "source"
	Value  string
	Seen   time.Time
}

// RecordIdentities upserts device identities.
func (s *Store) RecordIdentities(ctx context.Context, ids []Identity) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record device identities: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO staffing_device_ids(site_id, device, kind, value, last_seen) VALUES(?,?,?,?,?)
		ON CONFLICT(site_id, device, kind, value) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`)
	if err != nil {
		return fmt.Errorf("record device identities: %w", err)
	}
	for _, id := range ids {
		if _, err := st.ExecContext(ctx, id.SiteID, id.Device, id.Kind, id.Value, id.Seen.UnixNano()); err != nil {
			return fmt.Errorf("record identity of %s: %w", id.Device, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record device identities: %w", err)
	}
	return nil
}

// LoadOptions choose what LoadInventory counts.
type LoadOptions struct {
	// MaxAge: monitored devices and discovered endpoints not seen for
	// longer are not counted (decommissioned). 0 means 90 days, which
	// keeps notebooks that were off over the summer holidays; negative
	// means no limit.
	MaxAge time.Duration
	Now    time.Time
}

// DefaultMaxAge is how long a device counts after it was last seen.
const DefaultMaxAge = 90 * 24 * time.Hour

// ErrNoTenancy says that the tenancy tables do not exist yet.
var ErrNoTenancy = errors.New("the collector's sites and devices tables do not exist yet: start the collector once or add a site with `schulmon-collector site add`")

// LoadInventory reads every site with its attributes and every device
// record: monitored devices from the tenancy (agents and SNMP), imported
// devices and discovered endpoints.
func (s *Store) LoadInventory(ctx context.Context, opt LoadOptions) (*Inventory, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('sites','municipalities','devices')`).Scan(&n); err != nil {
		return nil, fmt.Errorf("load inventory: %w", err)
	}
	if n < 3 {
		return nil, ErrNoTenancy
	}
	now := opt.Now
	if now.IsZero() {
		now = s.now()
	}
	since := int64(0)
	switch {
	case opt.MaxAge == 0:
		since = now.Add(-DefaultMaxAge).UnixNano()
	case opt.MaxAge > 0:
		since = now.Add(-opt.MaxAge).UnixNano()
	}
	b := NewInventoryBuilder()
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, s.name, s.school_type, m.id, m.name,
			COALESCE(a.pupils, 0), COALESCE(a.travel_minutes, 0), COALESCE(a.contracted_person_days, 0)
		FROM sites s JOIN municipalities m ON m.id = s.municipality_id
		LEFT JOIN staffing_site_attrs a ON a.site_id = s.id ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("load sites: %w", err)
	}
	for rows.Next() {
		var st Site
		var typ string
		if err := rows.Scan(&st.ID, &st.Name, &typ, &st.MunicipalityID, &st.Municipality, &st.Pupils, &st.TravelMinutes, &st.ContractedPersonDays); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load sites: %w", err)
		}
		// An unknown type in the table is reported by the school-type
		// method as "not set" rather than failing the whole report.
		st.Type, _ = ParseSchoolType(typ)
		b.AddSite(st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load sites: %w", err)
	}

	type devKey struct {
		site int64
		name string
	}
	ids := map[devKey]*Device{}
	rows, err = s.db.QueryContext(ctx, `SELECT site_id, device, kind, value FROM staffing_device_ids`)
	if err != nil {
		return nil, fmt.Errorf("load device identities: %w", err)
	}
	for rows.Next() {
		var k devKey
		var kind, val string
		if err := rows.Scan(&k.site, &k.name, &kind, &val); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load device identities: %w", err)
		}
		d := ids[k]
		if d == nil {
			d = &Device{Source: numSources}
			ids[k] = d
		}
		switch kind {
		case "mac":
			d.MACs = append(d.MACs, val)
		case "serial":
			d.Serial = val
		case "ip":
			d.IP = val
		case "source":
			if src, err := ParseSource(val); err == nil && src < d.Source {
				d.Source = src
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load device identities: %w", err)
	}

	rows, err = s.db.QueryContext(ctx, `SELECT site_id, name, class FROM devices WHERE last_seen >= ?`, since)
	if err != nil {
		return nil, fmt.Errorf("load devices: %w", err)
	}
	for rows.Next() {
		var k devKey
		var class string
		if err := rows.Scan(&k.site, &k.name, &class); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load devices: %w", err)
		}
		si, ok := b.SiteIndex(k.site)
		if !ok {
			continue
		}
		cl, err := ParseClass(class)
		if err != nil {
			cl = ClassOther
		}
		d := Device{Class: cl, Hostname: k.name}
		if id := ids[k]; id != nil {
			d.MACs, d.Serial, d.IP, d.Source = id.MACs, id.Serial, id.IP, id.Source
		} else {
			d.Source = numSources
		}
		if d.Source == numSources {
			// Nothing recorded who reports it: a server is a host agent,
			// anything else is polled.
			d.Source = SourceSNMP
			if cl == ClassServer {
				d.Source = SourceAgent
			}
		}
		b.AddDevice(si, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load devices: %w", err)
	}

	rows, err = s.db.QueryContext(ctx, `SELECT site_id, class, count, hostname, mac, serial FROM staffing_imported_devices`)
	if err != nil {
		return nil, fmt.Errorf("load imported devices: %w", err)
	}
	for rows.Next() {
		var site int64
		var count int
		var class, host, mac, serial string
		if err := rows.Scan(&site, &class, &count, &host, &mac, &serial); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load imported devices: %w", err)
		}
		si, ok := b.SiteIndex(site)
		if !ok {
			continue
		}
		cl, err := ParseClass(class)
		if err != nil {
			cl = ClassOther
		}
		d := Device{Class: cl, Source: SourceCSV, Hostname: host, Serial: serial, Count: count}
		if mac != "" {
			d.MACs = []string{mac}
		}
		b.AddDevice(si, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load imported devices: %w", err)
	}

	rows, err = s.db.QueryContext(ctx, `SELECT site_id, mac, ip, hostname FROM staffing_discovered_endpoints WHERE last_seen >= ?`, since)
	if err != nil {
		return nil, fmt.Errorf("load discovered endpoints: %w", err)
	}
	for rows.Next() {
		var site int64
		var mac, ip, host string
		if err := rows.Scan(&site, &mac, &ip, &host); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load discovered endpoints: %w", err)
		}
		si, ok := b.SiteIndex(site)
		if !ok {
			continue
		}
		b.AddDevice(si, Device{Class: ClassEndpoint, Source: SourceDiscovery, MACs: []string{mac}, IP: ip, Hostname: host})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load discovered endpoints: %w", err)
	}
	return b.Build(), nil
}

// hostOf strips a port from "host:port" or "[v6]:port" and returns a
// valid IP address, or "".
func hostOf(target string) string {
	target = strings.TrimSpace(target)
	if !strings.Contains(target, ":") {
		// Neither a port nor IPv6: only IPv4 can be valid, and the
		// attempts below would fail (and allocate their errors) first.
		// IPv4 has one text form (ParseAddr refuses leading zeros), so
		// target is already a.String().
		if _, err := netip.ParseAddr(target); err == nil {
			return target
		}
		return ""
	}
	if ap, err := netip.ParseAddrPort(target); err == nil {
		return addrString(ap.Addr(), target[:strings.LastIndexByte(target, ':')])
	}
	if a, err := netip.ParseAddr(target); err == nil {
		return addrString(a, target)
	}
	if i := strings.LastIndexByte(target, ':'); i > 0 {
		if a, err := netip.ParseAddr(strings.Trim(target[:i], "[]")); err == nil {
			return a.String()
		}
	}
	return ""
}

// addrString is a.String(), without a copy where s already is that: an
// agent's targets usually are.
func addrString(a netip.Addr, s string) string {
	var buf [64]byte
	if string(a.AppendTo(buf[:0])) == s {
		return s
	}
	return a.String()
}
