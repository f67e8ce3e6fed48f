package snmp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// requester is the part of *gosnmp.GoSNMP the poller uses.
type requester interface {
	Get(oids []string) (*gosnmp.SnmpPacket, error)
	GetNext(oids []string) (*gosnmp.SnmpPacket, error)
	GetBulk(oids []string, nonRepeaters uint8, maxRepetitions uint32) (*gosnmp.SnmpPacket, error)
}

// session is one poll of one target: it counts requests and varbinds and
// stops at the target's deadline.
type session struct {
	ctx         context.Context
	c           requester
	v1          bool
	maxReps     int
	maxVarbinds int
	requests    int // packets sent, counted by gosnmp's OnSent hook (retries and v3 discovery included)
	varbinds    int
}

func (s *session) check() error {
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("poll deadline exceeded: %w", err)
	}
	return nil
}

// get fetches scalars in chunks of gosnmp.MaxOids. Missing values are
// left out of the result.
func (s *session) get(oids []string) (map[string]gosnmp.SnmpPDU, error) {
	out := make(map[string]gosnmp.SnmpPDU, len(oids))
	for len(oids) > 0 {
		n := min(len(oids), gosnmp.MaxOids)
		chunk := oids[:n]
		oids = oids[n:]
		if err := s.check(); err != nil {
			return out, err
		}
		for {
			pkt, err := s.c.Get(chunk)
			if err != nil {
				return out, err
			}
			// SNMPv1 answers a GET with one missing OID with noSuchName
			// for the whole request: drop that OID and ask again.
			if pkt.Error == gosnmp.NoSuchName && s.v1 && int(pkt.ErrorIndex) >= 1 && int(pkt.ErrorIndex) <= len(chunk) {
				k := int(pkt.ErrorIndex) - 1
				chunk = append(append([]string{}, chunk[:k]...), chunk[k+1:]...)
				if len(chunk) == 0 {
					break
				}
				continue
			}
			if pkt.Error != gosnmp.NoError {
				return out, fmt.Errorf("GET: agent answered %v", pkt.Error)
			}
			s.varbinds += len(pkt.Variables)
			for _, v := range pkt.Variables {
				if present(v) {
					out[normOID(v.Name)] = v
				}
			}
			break
		}
	}
	return out, nil
}

// next does one GETNEXT for several OIDs (used for MIB presence probes).
// SNMPv1 agents answer noSuchName for the whole request when one OID is
// past their last object: that OID is dropped and the rest asked again.
func (s *session) next(oids []string) ([]gosnmp.SnmpPDU, error) {
	oids = append([]string{}, oids...)
	for len(oids) > 0 {
		if err := s.check(); err != nil {
			return nil, err
		}
		pkt, err := s.c.GetNext(oids)
		if err != nil {
			return nil, err
		}
		if pkt.Error == gosnmp.NoSuchName && s.v1 && int(pkt.ErrorIndex) >= 1 && int(pkt.ErrorIndex) <= len(oids) {
			k := int(pkt.ErrorIndex) - 1
			oids = append(oids[:k], oids[k+1:]...)
			continue
		}
		if pkt.Error != gosnmp.NoError {
			return nil, fmt.Errorf("GETNEXT: agent answered %v", pkt.Error)
		}
		s.varbinds += len(pkt.Variables)
		return pkt.Variables, nil
	}
	return nil, nil
}

// columns walks several table columns together: each GETBULK carries every
// column that is not finished yet, so a 48-port ifTable+ifXTable with 17
// columns costs about 17×48/max_varbinds requests instead of 17 walks.
// The result maps each column OID (normalised, without leading dot) to its
// values in index order.
func (s *session) columns(cols []string) (map[string][]gosnmp.SnmpPDU, error) {
	out := make(map[string][]gosnmp.SnmpPDU, len(cols))
	type walk struct {
		col    string // "1.3.6.1.2.1.2.2.1.2"
		prefix string // ".1.3.6.1.2.1.2.2.1.2."
		pos    string // last OID returned, with leading dot
	}
	active := make([]*walk, 0, len(cols))
	seen := map[string]bool{}
	for _, c := range cols {
		c = normOID(c)
		if seen[c] {
			continue
		}
		seen[c] = true
		active = append(active, &walk{col: c, prefix: "." + c + ".", pos: "." + c})
	}
	budget := s.maxVarbinds
	for len(active) > 0 {
		if err := s.check(); err != nil {
			return out, err
		}
		// A request carries at most maxVarbinds OIDs in its varbind list
		// too, so very wide plans are walked in slices of columns.
		batch := active
		if len(batch) > budget {
			batch = batch[:budget]
		}
		names := make([]string, len(batch))
		for i, w := range batch {
			names[i] = w.pos
		}
		var pkt *gosnmp.SnmpPacket
		var err error
		if s.v1 {
			pkt, err = s.c.GetNext(names)
		} else {
			reps := repetitions(budget, len(batch), s.maxReps)
			pkt, err = s.c.GetBulk(names, 0, uint32(reps))
		}
		if err != nil {
			return out, err
		}
		switch {
		case pkt.Error == gosnmp.TooBig && budget > 1:
			// The response did not fit the agent's message size: ask for less.
			budget /= 2
			continue
		case pkt.Error == gosnmp.NoSuchName && s.v1 && int(pkt.ErrorIndex) >= 1 && int(pkt.ErrorIndex) <= len(batch):
			// v1 end of MIB for one column: that column is done.
			batch[pkt.ErrorIndex-1].pos = ""
			active = compact(active, func(w *walk) bool { return w.pos != "" })
			continue
		case pkt.Error != gosnmp.NoError:
			return out, fmt.Errorf("GETBULK: agent answered %v", pkt.Error)
		}
		s.varbinds += len(pkt.Variables)
		if len(pkt.Variables) == 0 {
			return out, errors.New("GETBULK: empty response")
		}
		done := make([]bool, len(batch))
		for k, v := range pkt.Variables {
			j := k % len(batch)
			if done[j] {
				continue
			}
			w := batch[j]
			name := v.Name
			if !strings.HasPrefix(name, ".") {
				name = "." + name
			}
			if !present(v) || !strings.HasPrefix(name, w.prefix) || !oidAfter(name, w.pos) {
				done[j] = true
				continue
			}
			out[w.col] = append(out[w.col], v)
			w.pos = name
		}
		// A column also ends when the agent returned fewer rows than
		// asked only because it truncated; that column simply continues
		// from its last position in the next request.
		var still []*walk
		for j, w := range batch {
			if !done[j] {
				still = append(still, w)
			}
		}
		active = append(still, active[len(batch):]...)
	}
	return out, nil
}

func compact[T any](s []T, keep func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func present(v gosnmp.SnmpPDU) bool {
	switch v.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
		return false
	}
	return true
}

func normOID(s string) string { return strings.TrimPrefix(s, ".") }

// oidAfter reports whether a > b in SNMP order (both with leading dot);
// agents that return a non-increasing OID would loop a walk forever.
func oidAfter(a, b string) bool {
	ai, bi := 1, 1
	for ai < len(a) && bi < len(b) {
		var x, y uint64
		for ai < len(a) && a[ai] != '.' {
			x = x*10 + uint64(a[ai]-'0')
			ai++
		}
		for bi < len(b) && b[bi] != '.' {
			y = y*10 + uint64(b[bi]-'0')
			bi++
		}
		if x != y {
			return x > y
		}
		ai++
		bi++
	}
	return ai < len(a) && bi >= len(b)
}

// indexOf returns the instance part of name below column col
// (".1.3.6.1.2.1.2.2.1.2.5" below "1.3.6.1.2.1.2.2.1.2" is "5").
func indexOf(name, col string) string {
	name = normOID(name)
	if len(name) > len(col)+1 && strings.HasPrefix(name, col) && name[len(col)] == '.' {
		return name[len(col)+1:]
	}
	return ""
}

// repetitions picks GETBULK max-repetitions for n columns within a
// varbind budget. Rounding down wastes a lot when the budget is just
// short of a multiple (21 columns, budget 60: 2 rows per request instead
// of 3, i.e. 24 requests instead of 16 for 48 ports), so the budget may be
// exceeded by up to 10 %; agents truncate a response that does not fit,
// and the walk simply continues from there.
func repetitions(budget, n, maxReps int) int {
	r := budget / n
	if up := r + 1; up*n*10 <= budget*11 {
		r = up
	}
	return max(1, min(maxReps, r))
}
