package staffing

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math/bits"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Site is one school or administration building with the attributes the
// model needs.
type Site struct {
	ID             int64      `json:"site_id"`
	MunicipalityID int64      `json:"municipality_id"`
	Municipality   string     `json:"municipality"`
	Name           string     `json:"site"`
	Type           SchoolType `json:"school_type"`
	Pupils         int        `json:"pupils,omitempty"`
	// TravelMinutes from the administrators' base, one way; 0 means
	// unknown and the workload method's default applies.
	TravelMinutes        float64 `json:"travel_minutes,omitempty"`
	ContractedPersonDays float64 `json:"contracted_person_days"`
}

// Device is one device record as a source saw it. Any of MACs, Serial and
// Hostname identify it; a record with none (e.g. "120 tablets in the
// cupboard" from a CSV) counts Count devices that nothing can merge.
type Device struct {
	Class    Class
	Source   Source
	MACs     []string
	Serial   string
	Hostname string
	// IP is a weak identifier: it merges an ARP entry with the SNMP
	// device polled at that address, unless their MACs contradict.
	IP string
	// Count > 1 only for anonymous bulk records; 0 means 1.
	Count int
}

// record is the loaded, pre-hashed form of a Device: identifiers become
// 64-bit keys once at load time, so that counting 10 million devices is a
// pass over flat arrays.
type record struct {
	site   int32
	keyOff uint32
	count  uint32
	class  Class
	source Source
	nMAC   uint8
	flags  uint8 // flagSerial, flagHost, flagIP
}

const (
	flagSerial = 1 << iota
	flagHost
	flagIP
)

// Key spaces: the top two bits keep an IP address, a MAC, a serial and a
// hostname with the same bits apart.
const (
	keyIP     = uint64(0) << 62
	keyMAC    = uint64(1) << 62
	keySerial = uint64(2) << 62
	keyHost   = uint64(3) << 62
	keyMask   = ^(uint64(3) << 62)
)

// Inventory is the loaded input of the model: sites and their device
// records. Build one with an InventoryBuilder.
type Inventory struct {
	Sites   []Site
	records []record // grouped by site (see starts)
	starts  []int    // records of site i are records[starts[i]:starts[i+1]]
	keys    []uint64
}

// Records returns the number of device records (before deduplication).
func (inv *Inventory) Records() int { return len(inv.records) }

// InventoryBuilder collects sites and device records. It is not safe for
// concurrent use.
type InventoryBuilder struct {
	sites   []Site
	byID    map[int64]int
	records []record
	keys    []uint64
	seed    maphash.Seed
}

// NewInventoryBuilder returns an empty builder.
func NewInventoryBuilder() *InventoryBuilder {
	return &InventoryBuilder{byID: map[int64]int{}, seed: maphash.MakeSeed()}
}

// AddSite adds a site and returns its index. A site whose ID was added
// before replaces the earlier attributes and keeps its index.
func (b *InventoryBuilder) AddSite(s Site) int {
	if s.ID != 0 {
		if i, ok := b.byID[s.ID]; ok {
			b.sites[i] = s
			return i
		}
		b.byID[s.ID] = len(b.sites)
	}
	b.sites = append(b.sites, s)
	return len(b.sites) - 1
}

// SiteIndex returns the index of the site with the given ID.
func (b *InventoryBuilder) SiteIndex(id int64) (int, bool) {
	i, ok := b.byID[id]
	return i, ok
}

// AddCount adds n anonymous devices of one class and source to a site: the
// form of counts that come without identifiers.
func (b *InventoryBuilder) AddCount(site int, c Class, src Source, n int) {
	if n <= 0 {
		return
	}
	b.records = append(b.records, record{site: int32(site), keyOff: uint32(len(b.keys)), count: uint32(n), class: c, source: src})
}

// AddDevice adds one device record to the site with index site. Invalid
// MAC addresses are ignored as identifiers (the record still counts).
func (b *InventoryBuilder) AddDevice(site int, d Device) {
	r := record{site: int32(site), keyOff: uint32(len(b.keys)), count: 1, class: d.Class, source: d.Source}
	if d.Count > 1 && len(d.MACs) == 0 && d.Serial == "" && d.Hostname == "" && d.IP == "" {
		r.count = uint32(d.Count)
	}
	for _, m := range d.MACs {
		if k, ok := macKey(m); ok && r.nMAC < 255 {
			b.keys = append(b.keys, keyMAC|k)
			r.nMAC++
		}
	}
	if s := normSerial(d.Serial); s != "" {
		b.keys = append(b.keys, keySerial|(maphash.String(b.seed, s)&keyMask))
		r.flags |= flagSerial
	}
	if h := NormHostname(d.Hostname); h != "" {
		b.keys = append(b.keys, keyHost|(maphash.String(b.seed, h)&keyMask))
		r.flags |= flagHost
	}
	if ip, err := netip.ParseAddr(strings.TrimSpace(d.IP)); err == nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		b.keys = append(b.keys, keyIP|(maphash.Comparable(b.seed, ip.Unmap())&keyMask))
		r.flags |= flagIP
	}
	b.records = append(b.records, r)
}

// Build groups the records by site (a counting sort: linear) and returns
// the inventory. The builder must not be used afterwards.
func (b *InventoryBuilder) Build() *Inventory {
	inv := &Inventory{Sites: b.sites, keys: b.keys}
	inv.starts = make([]int, len(b.sites)+1)
	for i := range b.records {
		inv.starts[b.records[i].site+1]++
	}
	for i := 1; i < len(inv.starts); i++ {
		inv.starts[i] += inv.starts[i-1]
	}
	sorted := true
	for i := 1; i < len(b.records); i++ {
		if b.records[i].site < b.records[i-1].site {
			sorted = false
			break
		}
	}
	if sorted {
		inv.records = b.records
	} else {
		next := make([]int, len(b.sites))
		copy(next, inv.starts)
		inv.records = make([]record, len(b.records))
		for _, r := range b.records {
			inv.records[next[r.site]] = r
			next[r.site]++
		}
	}
	b.records, b.keys, b.sites = nil, nil, nil
	return inv
}

// macKey parses a MAC address into 48 bits. Zero, broadcast and multicast
// addresses identify nothing.
func macKey(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	hw, err := net.ParseMAC(s)
	if err != nil && len(s) == 12 { // bare hex as some switches print it
		hw, err = net.ParseMAC(s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12])
	}
	if err != nil || len(hw) != 6 {
		return 0, false
	}
	var k uint64
	for _, c := range hw {
		k = k<<8 | uint64(c)
	}
	if k == 0 || k == 0xffffffffffff || hw[0]&1 == 1 {
		return 0, false
	}
	return k, true
}

// ValidMAC reports whether s is a usable unicast MAC address.
func ValidMAC(s string) bool { _, ok := macKey(s); return ok }

// NormMAC returns the MAC in lower-case colon form, or "" if invalid.
func NormMAC(s string) string {
	k, ok := macKey(s)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", byte(k>>40), byte(k>>32), byte(k>>24), byte(k>>16), byte(k>>8), byte(k))
}

func normSerial(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	switch s {
	case "", "0", "N/A", "NA", "NONE", "UNKNOWN", "DEFAULT STRING", "TO BE FILLED BY O.E.M.", "SYSTEM SERIAL NUMBER", "0123456789":
		return "" // placeholders that vendors ship; they would merge unrelated devices
	}
	return s
}

// NormHostname lower-cases a hostname and drops the domain, so that
// "PC-101" from a CSV and "pc-101.schule.local" from DNS are one name.
func NormHostname(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexByte(s, '.'); i > 0 && net.ParseIP(s) == nil {
		s = s[:i]
	}
	if s == "localhost" || net.ParseIP(s) != nil {
		return ""
	}
	return s
}

// Provenance says how a site's count of one class was made: how many
// records each source delivered, how many distinct devices each
// combination of sources stands for after deduplication, and how many
// records were folded into another. It is fixed-size so that counting
// 32,000 sites allocates one slice per site and no maps; JSON shows
// records and seen_by as objects keyed by source names.
type Provenance struct {
	Class   Class
	Devices int
	Merged  int
	// Scenario devices were added by a what-if, not seen by any source.
	Scenario int
	records  [numSources]int32
	seenBy   [1 << numSources]int32
}

// Records returns the records per source, before deduplication.
func (p *Provenance) Records() map[string]int {
	m := map[string]int{}
	for s, n := range p.records {
		if n > 0 {
			m[sourceNames[s]] = int(n)
		}
	}
	return m
}

// SeenBy returns the distinct devices per combination of sources, e.g.
// "agent+discovery" → 12.
func (p *Provenance) SeenBy() map[string]int {
	m := map[string]int{}
	for mask, n := range p.seenBy {
		if n > 0 {
			m[maskName(uint8(mask))] = int(n)
		}
	}
	return m
}

type provenanceJSON struct {
	Class    Class          `json:"class"`
	Devices  int            `json:"devices"`
	Records  map[string]int `json:"records,omitempty"`
	SeenBy   map[string]int `json:"seen_by,omitempty"`
	Merged   int            `json:"merged"`
	Scenario int            `json:"scenario,omitempty"`
}

// MarshalJSON writes records and seen_by as objects.
func (p Provenance) MarshalJSON() ([]byte, error) {
	return json.Marshal(provenanceJSON{Class: p.Class, Devices: p.Devices, Records: p.Records(), SeenBy: p.SeenBy(), Merged: p.Merged, Scenario: p.Scenario})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Provenance) UnmarshalJSON(b []byte) error {
	var j provenanceJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Provenance{Class: j.Class, Devices: j.Devices, Merged: j.Merged, Scenario: j.Scenario}
	for k, n := range j.Records {
		src, err := ParseSource(k)
		if err != nil {
			return err
		}
		p.records[src] = int32(n)
	}
	for k, n := range j.SeenBy {
		var mask uint8
		for _, part := range strings.Split(k, "+") {
			src, err := ParseSource(part)
			if err != nil {
				return err
			}
			mask |= 1 << src
		}
		p.seenBy[mask] = int32(n)
	}
	return nil
}

// Counts are a site's deduplicated device counts.
type Counts struct {
	Devices    DeviceCounts
	Provenance []Provenance
}

// Total returns the number of devices of all classes.
func (c *Counts) Total() int { return c.Devices.Total() }

// siteTally is the per-worker scratch result of counting one site.
type siteTally struct {
	devices [numClasses]int
	records [numClasses][numSources]int32
	masks   [numClasses][1 << numSources]int32
	merged  [numClasses]int
}

// scratch is the reusable per-worker state of deduplication.
type scratch struct {
	idx    keyTable
	parent []int32
	mask   []uint8
	class  []Class  // class of the group, from its most trusted record
	source []Source // that record's source
	tally  siteTally
}

// Count deduplicates every site's records and returns the counts in site
// order. Two records are one device when they share a MAC address or a
// serial number, or share a hostname or IP address while their MAC
// addresses do not contradict each other (many tablets are all called
// "iPad", and DHCP hands an address to the next device). The merged
// device takes the class of its most trusted source (agent, SNMP, CSV,
// discovery). Work is linear in the number of records and spread over
// GOMAXPROCS workers by site.
func (inv *Inventory) Count() []Counts {
	workers := runtime.GOMAXPROCS(0)
	if len(inv.records) < 50000 {
		workers = 1
	}
	return inv.count(workers)
}

func (inv *Inventory) count(workers int) []Counts {
	out := make([]Counts, len(inv.Sites))
	var wg sync.WaitGroup
	var next atomic.Int64
	const chunk = 256
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{}
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(inv.Sites) {
					return
				}
				hi := min(lo+chunk, len(inv.Sites))
				for s := lo; s < hi; s++ {
					sc.tally = siteTally{}
					inv.countSite(s, sc, &sc.tally)
					sc.tally.fill(&out[s])
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func (t *siteTally) fill(c *Counts) {
	c.Devices = t.devices
	n := 0
	for cl := range numClasses {
		if t.devices[cl] != 0 || t.merged[cl] != 0 {
			n++
		}
	}
	if n == 0 {
		return
	}
	c.Provenance = make([]Provenance, 0, n)
	for cl := range numClasses {
		if t.devices[cl] == 0 && t.merged[cl] == 0 {
			continue
		}
		c.Provenance = append(c.Provenance, Provenance{Class: cl, Devices: t.devices[cl], Merged: t.merged[cl], records: t.records[cl], seenBy: t.masks[cl]})
	}
}

func maskName(m uint8) string {
	var parts []string
	for s := range numSources {
		if m&(1<<s) != 0 {
			parts = append(parts, sourceNames[s])
		}
	}
	return strings.Join(parts, "+")
}

func (sc *scratch) find(i int32) int32 {
	for sc.parent[i] != i {
		sc.parent[i] = sc.parent[sc.parent[i]]
		i = sc.parent[i]
	}
	return i
}

func (sc *scratch) union(a, b int32) {
	ra, rb := sc.find(a), sc.find(b)
	if ra == rb {
		return
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	sc.parent[rb] = ra // the earlier record stays the root
}

func (inv *Inventory) countSite(s int, sc *scratch, t *siteTally) {
	recs := inv.records[inv.starts[s]:inv.starts[s+1]]
	n := len(recs)
	if n == 0 {
		return
	}
	if cap(sc.parent) < n {
		sc.parent = make([]int32, n)
		sc.mask = make([]uint8, n)
		sc.class = make([]Class, n)
		sc.source = make([]Source, n)
	}
	sc.parent = sc.parent[:n]
	sc.mask = sc.mask[:n]
	sc.class = sc.class[:n]
	sc.source = sc.source[:n]
	nkeys := 0
	for i := range recs {
		nkeys += int(recs[i].nMAC) + bits.OnesCount8(recs[i].flags)
	}
	sc.idx.reset(nkeys)
	keyed := false
	for i := range recs {
		sc.parent[i] = int32(i)
		r := &recs[i]
		t.records[r.class][r.source] += int32(r.count)
		nk := int(r.nMAC) + bits.OnesCount8(r.flags)
		if nk == 0 {
			continue
		}
		keyed = true
		keys := inv.keys[r.keyOff : r.keyOff+uint32(nk)]
		for _, k := range keys {
			j, ok := sc.idx.getOrPut(k, int32(i))
			if !ok {
				continue
			}
			if kind := k &^ keyMask; (kind == keyHost || kind == keyIP) && macsConflict(inv, r, &recs[j]) {
				continue // same name or address, different hardware: two devices
			}
			sc.union(int32(i), j)
		}
	}
	if !keyed {
		for i := range recs {
			r := &recs[i]
			t.devices[r.class] += int(r.count)
			t.masks[r.class][1<<r.source] += int32(r.count)
		}
		return
	}
	// Pass 2: fold each group into its root: the class of its most
	// trusted record and the union of its sources. The inventory itself is
	// never changed, so counting twice gives the same answer.
	clear(sc.mask)
	for i := range recs {
		sc.class[i], sc.source[i] = recs[i].class, recs[i].source
	}
	for i := range recs {
		root := sc.find(int32(i))
		sc.mask[root] |= 1 << recs[i].source
		if root != int32(i) && recs[i].source < sc.source[root] {
			sc.class[root], sc.source[root] = recs[i].class, recs[i].source
		}
	}
	for i := range recs {
		root := sc.find(int32(i))
		if root != int32(i) {
			t.merged[sc.class[root]] += int(recs[i].count)
			continue
		}
		c := sc.class[i]
		t.devices[c] += int(recs[i].count)
		t.masks[c][sc.mask[i]] += int32(recs[i].count)
	}
}

// macsConflict reports whether both records carry MAC addresses and share
// none of them.
func macsConflict(inv *Inventory, a, b *record) bool {
	if a.nMAC == 0 || b.nMAC == 0 {
		return false
	}
	ka := inv.keys[a.keyOff : a.keyOff+uint32(a.nMAC)]
	kb := inv.keys[b.keyOff : b.keyOff+uint32(b.nMAC)]
	for _, x := range ka {
		for _, y := range kb {
			if x == y {
				return false
			}
		}
	}
	return true
}

// subset returns the sites in ids with their counts. The result carries
// no device records: pass the returned counts to Compute.
func (inv *Inventory) subset(counts []Counts, ids map[int64]bool) (*Inventory, []Counts) {
	out := &Inventory{}
	var cs []Counts
	for i := range inv.Sites {
		if ids[inv.Sites[i].ID] {
			out.Sites = append(out.Sites, inv.Sites[i])
			cs = append(cs, counts[i])
		}
	}
	out.starts = make([]int, len(out.Sites)+1)
	return out, cs
}

// keyTable maps identifier keys to the first record that had them, for
// one site at a time. It is an open-addressing table whose slots carry
// the generation they were written in: moving to the next site is one
// increment instead of clearing a map (which costs its full capacity every
// time and dominated counting 32,000 small sites).
type keyTable struct {
	slots []keySlot
	mask  uint64
	gen   uint32
}

type keySlot struct {
	key uint64
	val int32
	gen uint32
}

// reset empties the table for n keys.
func (t *keyTable) reset(n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if len(t.slots) < size {
		t.slots = make([]keySlot, size)
		t.gen = 0
	}
	t.gen++
	if t.gen == 0 { // wrapped after 4 billion sites: start clean
		clear(t.slots)
		t.gen = 1
	}
	t.mask = uint64(size - 1)
}

// getOrPut returns the value stored for key, or stores val and returns
// false.
func (t *keyTable) getOrPut(key uint64, val int32) (int32, bool) {
	h := key * 0x9E3779B97F4A7C15
	i := (h ^ h>>32) & t.mask
	for {
		sl := &t.slots[i]
		if sl.gen != t.gen {
			*sl = keySlot{key: key, val: val, gen: t.gen}
			return 0, false
		}
		if sl.key == key {
			return sl.val, true
		}
		i = (i + 1) & t.mask
	}
}
