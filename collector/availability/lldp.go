package availability

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schulmon/schulmon/collector/ingest"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/metric"
)

// Parents from LLDP. Switches, routers and access points report their
// LLDP neighbours per port (the agent's snmp_lldp points: device, tag
// local_port, tag or field remote_sysname, field remote_chassis_id). A
// neighbour whose system name is a device of the same site is linked to
// the reporting device, and the links are oriented into a tree:
//
//  1. From the site's routers outwards (breadth first, through routers
//     and switches only): each device's parent is the device it was
//     first reached from. This orients links two switches both report.
//  2. A device no router reaches gets as parent its one neighbour of a
//     lower rank (router below switch below everything else): a switch
//     is the parent of the server, printer or access point on its port.
//     Two candidates of the same rank leave it without one.
//
// A parent set by an operator (the inventory's devices.parent: CLI, API)
// always wins. Neighbours a device no longer reports drop out lldpKeep
// after its latest report, so that a moved device follows its new port
// while a silent switch (the site is cut off) keeps its last picture.
const lldpKeep = time.Hour

type lldpKey struct {
	site                 int64
	device, port, remote string
}

type lldpVal struct {
	chassis string
	seen    int64
}

// lldpBook holds the neighbours seen since the last flush.
type lldpBook struct {
	mu      sync.Mutex
	pending map[lldpKey]lldpVal
	// known are the links stored by this process with their chassis; rev
	// counts flushes that stored a link not known before or with another
	// chassis (LLDPRevision).
	known map[lldpKey]string
	rev   int64
}

// LLDPRevision changes when LLDP reported a new link (or a new chassis
// on one): the parent sync skips when neither it nor the devices changed.
func (e *Engine) LLDPRevision() int64 {
	e.lldp.mu.Lock()
	defer e.lldp.mu.Unlock()
	return e.lldp.rev
}

// noteLLDP records the snmp_lldp points of a batch. It is on the write
// path: batches without such points cost one pass over their signals.
func (e *Engine) noteLLDP(b *ingest.Batch) {
	if b == nil || !e.inPartition(b.SiteID) {
		return
	}
	for i := range b.Signals {
		p := &b.Signals[i]
		if p.Measurement != "snmp_lldp" {
			continue
		}
		dev, _ := p.Tag("device")
		port, _ := p.Tag("local_port")
		remote, _ := p.Tag("remote_sysname")
		if remote == "" {
			if v, ok := p.Field("remote_sysname"); ok && v.Kind() == metric.KindString {
				remote = v.StringValue()
			}
		}
		if dev == "" || remote == "" {
			continue // without a system name there is nothing to match
		}
		var chassis string
		if v, ok := p.Field("remote_chassis_id"); ok && v.Kind() == metric.KindString {
			chassis = v.StringValue()
		}
		k, t := lldpKey{b.SiteID, dev, port, remote}, ms(p.Time)
		e.lldp.mu.Lock()
		if e.lldp.pending == nil {
			e.lldp.pending = map[lldpKey]lldpVal{}
		}
		if old, ok := e.lldp.pending[k]; !ok || t > old.seen {
			e.lldp.pending[k] = lldpVal{chassis, t}
		}
		e.lldp.mu.Unlock()
	}
}

// flushLLDP stores the neighbours seen since the last flush.
func (e *Engine) flushLLDP(ctx context.Context) error {
	e.lldp.mu.Lock()
	pending := e.lldp.pending
	e.lldp.pending = nil
	e.lldp.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	err := func() error {
		tx, err := e.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		st, err := tx.PrepareContext(ctx, `INSERT INTO av_lldp(site_id, device, local_port, remote, chassis, seen_ms) VALUES(?,?,?,?,?,?)
			ON CONFLICT(site_id, device, local_port, remote) DO UPDATE SET chassis=excluded.chassis, seen_ms=max(seen_ms, excluded.seen_ms)`)
		if err != nil {
			return err
		}
		for k, v := range pending {
			if _, err := st.ExecContext(ctx, k.site, k.device, k.port, k.remote, v.chassis, v.seen); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		// Keep them for the next attempt; newer sightings win.
		e.lldp.mu.Lock()
		if e.lldp.pending == nil {
			e.lldp.pending = map[lldpKey]lldpVal{}
		}
		for k, v := range pending {
			if old, ok := e.lldp.pending[k]; !ok || v.seen > old.seen {
				e.lldp.pending[k] = v
			}
		}
		e.lldp.mu.Unlock()
		return fmt.Errorf("availability: store LLDP neighbours: %w", err)
	}
	e.lldp.mu.Lock()
	if e.lldp.known == nil {
		e.lldp.known = map[lldpKey]string{}
	}
	for k, v := range pending {
		if c, ok := e.lldp.known[k]; !ok || c != v.chassis {
			e.lldp.known[k] = v.chassis
			e.lldp.rev++
		}
	}
	e.lldp.mu.Unlock()
	return nil
}

// LLDPNeighbour is one neighbour a device reported on a port.
type LLDPNeighbour struct {
	Device, Port, Remote, Chassis string
	Seen                          time.Time
}

// lldpNeighbours loads the current neighbours per site (those within
// lldpKeep of their reporter's latest report).
func (e *Engine) lldpNeighbours(ctx context.Context) (map[int64][]LLDPNeighbour, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT l.site_id, l.device, l.local_port, l.remote, l.chassis, l.seen_ms FROM av_lldp l
		JOIN (SELECT site_id, device, max(seen_ms) AS latest FROM av_lldp GROUP BY site_id, device) r ON r.site_id=l.site_id AND r.device=l.device
		WHERE l.seen_ms >= r.latest - ? ORDER BY l.site_id, l.device, l.local_port, l.remote`, lldpKeep.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("availability: load LLDP neighbours: %w", err)
	}
	defer rows.Close()
	out := map[int64][]LLDPNeighbour{}
	for rows.Next() {
		var site, seen int64
		var n LLDPNeighbour
		if err := rows.Scan(&site, &n.Device, &n.Port, &n.Remote, &n.Chassis, &seen); err != nil {
			return nil, fmt.Errorf("availability: load LLDP neighbours: %w", err)
		}
		if !e.inPartition(site) {
			continue
		}
		n.Seen = fromMS(seen)
		out[site] = append(out[site], n)
	}
	return out, rows.Err()
}

// SyncDevices applies the inventory's dependencies: a device's manual
// parent (devices.parent, set through CLI or API) where there is one,
// else the parent derived from LLDP. The collector runs it every minute
// and after an operator changed a parent.
func (e *Engine) SyncDevices(ctx context.Context, devs []tenancy.Device) error {
	if err := e.flushLLDP(ctx); err != nil {
		return err
	}
	nbrs, err := e.lldpNeighbours(ctx)
	if err != nil {
		return err
	}
	bySite := map[int64][]tenancy.Device{}
	for _, d := range devs {
		bySite[d.SiteID] = append(bySite[d.SiteID], d)
	}
	links := make([]Link, 0, len(devs))
	for site, ds := range bySite {
		derived := LLDPParents(ds, nbrs[site])
		for _, d := range ds {
			l := Link{SiteID: site, Device: d.Name, Parent: d.Parent, Source: SourceManual}
			if l.Parent == "" {
				l.Parent, l.Source = derived[d.Name], SourceLLDP
			}
			links = append(links, l)
		}
	}
	return e.SyncParents(ctx, links)
}

func lldpRank(class string) int {
	switch class {
	case "router":
		return 0
	case "switch":
		return 1
	}
	return 2
}

// LLDPParents derives parents (device name → parent name) from the LLDP
// neighbours of one site; see the rules at the top of this file.
func LLDPParents(devs []tenancy.Device, nbrs []LLDPNeighbour) map[string]string {
	class := map[string]string{}
	byName, byShort := map[string]string{}, map[string]string{}
	for _, d := range devs {
		class[d.Name] = d.Class
		byName[strings.ToLower(d.Name)] = d.Name
		s := shortName(d.Name)
		if _, dup := byShort[s]; dup {
			byShort[s] = "" // ambiguous: match full names only
		} else {
			byShort[s] = d.Name
		}
	}
	resolve := func(remote string) string {
		if n, ok := byName[strings.ToLower(remote)]; ok {
			return n
		}
		return byShort[shortName(remote)]
	}
	adj := map[string]map[string]bool{}
	link := func(a, b string) {
		if adj[a] == nil {
			adj[a] = map[string]bool{}
		}
		adj[a][b] = true
	}
	for _, n := range nbrs {
		if _, ok := class[n.Device]; !ok {
			continue
		}
		r := resolve(n.Remote)
		if r == "" || r == n.Device {
			continue
		}
		link(n.Device, r)
		link(r, n.Device)
	}
	sorted := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	parent := map[string]string{}
	reached := map[string]bool{}
	var queue []string
	for _, name := range sorted(func() map[string]bool {
		m := map[string]bool{}
		for n := range adj {
			if class[n] == "router" {
				m[n] = true
			}
		}
		return m
	}()) {
		reached[name] = true
		queue = append(queue, name)
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if lldpRank(class[cur]) > 1 {
			continue // servers, printers, access points lead nowhere
		}
		for _, nb := range sorted(adj[cur]) {
			if reached[nb] {
				continue
			}
			reached[nb] = true
			parent[nb] = cur
			queue = append(queue, nb)
		}
	}
	for name, nbs := range adj {
		if reached[name] {
			continue
		}
		best, bestRank, tie := "", lldpRank(class[name]), false
		for nb := range nbs {
			r := lldpRank(class[nb])
			switch {
			case r < bestRank:
				best, bestRank, tie = nb, r, false
			case r == bestRank && best != "":
				tie = true
			}
		}
		if best != "" && !tie {
			parent[name] = best
		}
	}
	return parent
}

// shortName is a host name without its domain, lower case: LLDP system
// names are often fully qualified where inventory names are not.
func shortName(s string) string {
	s = strings.ToLower(s)
	if i := strings.IndexByte(s, '.'); i > 0 {
		return s[:i]
	}
	return s
}

// Dependency is a device's parent as the engine last applied it.
type Dependency struct {
	Device string `json:"device"`
	Parent string `json:"parent"`
	Source string `json:"source"` // SourceManual or SourceLLDP
}

// Dependencies lists the applied parents of the devices of a site.
func Dependencies(ctx context.Context, db *sql.DB, siteID int64) ([]Dependency, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.device, p.device, c.parent_source FROM av_objects c JOIN av_objects p ON p.id=c.parent_id
		WHERE c.site_id=? AND c.check_name='' ORDER BY c.device`, siteID)
	if err != nil {
		return nil, fmt.Errorf("availability: list dependencies: %w", err)
	}
	defer rows.Close()
	var out []Dependency
	for rows.Next() {
		var d Dependency
		if err := rows.Scan(&d.Device, &d.Parent, &d.Source); err != nil {
			return nil, fmt.Errorf("availability: list dependencies: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
