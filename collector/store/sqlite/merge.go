package sqlite

import (
	"bytes"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	moderncsqlite "modernc.org/sqlite"
)

// InfluxDB stores every field of a point on its own: writing a series and
// time again overwrites the fields sent and keeps the others. Telegraf's
// system input sends load, uptime and uptime_format as separate lines of
// one series and time, which may arrive in different requests (the
// ingest merges them only within one). The points table keeps one blob
// per series and time, so a conflicting insert merges the stored blob
// with the new one in SQL (see insertSQL) instead of replacing it.

const mergeFunc = "schulmon_merge_fields"

func init() {
	// Registered with the driver, so every connection opened later has it;
	// the store's connections are opened in Open, after package init.
	err := moderncsqlite.RegisterFunction(mergeFunc, &moderncsqlite.FunctionImpl{
		// (old, new) merges; the store's writer adds (time, series, store)
		// to learn of its overwrites (see overwriteLog). A driver holds
		// one function per name, hence variadic.
		NArgs: -1,
		// Not deterministic: the five-argument form records the call.
		Deterministic: false,
		// mergeFieldBlobs copies what it keeps, so the arguments may be
		// SQLite's own memory: no copy per call.
		VolatileArgs: true,
		Scalar: func(_ *moderncsqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			if len(args) != 2 && len(args) != 5 {
				return nil, fmt.Errorf("%s takes 2 or 5 arguments, not %d", mergeFunc, len(args))
			}
			old, _ := args[0].([]byte)
			nw, ok := args[1].([]byte)
			if !ok {
				return nil, fmt.Errorf("%s: new fields are %T, not a blob", mergeFunc, args[1])
			}
			if len(args) == 2 {
				return mergeFieldBlobs(old, nw)
			}
			t, ok1 := args[2].(int64)
			series, ok2 := args[3].(int64)
			id, ok3 := args[4].(int64)
			if !ok1 || !ok2 || !ok3 {
				return nil, fmt.Errorf("%s: time, series and store are %T, %T, %T, not integers", mergeFunc, args[2], args[3], args[4])
			}
			if l, ok := overwriteLogs.Load(id); ok {
				return l.(*overwriteLog).merge(series, t, old, nw)
			}
			return mergeFieldBlobs(old, nw)
		},
	})
	if err != nil {
		panic(err)
	}
}

// overwriteLogs maps a store's id to its log: the function is registered
// once for the driver, so the SQL names the store by a number.
var (
	overwriteLogs sync.Map // int64 → *overwriteLog
	storeIDs      atomic.Int64
)

// overwriteLog is what the merge function saw in the writer's current
// transaction: for each conflicting row, how the merge changed the
// point's numeric values. The writer applies it to the in-memory rollups
// after the commit, and drops it if the transaction fails.
type overwriteLog struct {
	mu   sync.Mutex
	recs []overwrite
	adds []overwriteAdd
	keys []byte
}

type overwrite struct {
	series, time int64
	// exact: the merge only added values (adds0:adds1 of adds), which an
	// accumulator can take; else a value changed or went away, and the
	// bucket is recomputed from raw points.
	exact        bool
	adds0, adds1 int32
}

type overwriteAdd struct {
	key0, key1 int32 // the field key in keys
	v          float64
}

// merge merges the fields of an overwrite and records what it changed.
func (l *overwriteLog) merge(series, t int64, old, nw []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := overwrite{series: series, time: t, adds0: int32(len(l.adds))}
	merged, exact, err := mergeFields(old, nw, func(key []byte, v float64) {
		l.adds = append(l.adds, overwriteAdd{key0: int32(len(l.keys)), key1: int32(len(l.keys) + len(key)), v: v})
		l.keys = append(l.keys, key...)
	})
	if err != nil {
		return nil, err
	}
	rec.exact = exact
	rec.adds1 = int32(len(l.adds))
	l.recs = append(l.recs, rec)
	return merged, nil
}

func (l *overwriteLog) reset() {
	l.mu.Lock()
	l.recs, l.adds, l.keys = l.recs[:0], l.adds[:0], l.keys[:0]
	l.mu.Unlock()
}

// mergeFieldBlobs returns a new blob with old's fields in their order, a
// field that nw has too taken from nw in place, then nw's other fields in
// their order, as the ingest merges the lines of one request. A corrupt
// stored blob is replaced by nw (the old behaviour) rather than failing
// the whole group commit; a corrupt nw is an error.
func mergeFieldBlobs(old, nw []byte) ([]byte, error) {
	merged, _, err := mergeFields(old, nw, nil)
	return merged, err
}

// mergeFields merges as mergeFieldBlobs does. With add it also tells how
// the merge changed the point's numeric values, in the same pass over
// the fields: add is called for each value the merged point has in
// addition, and exact is false if one of old's values changed or went
// away, which an accumulator cannot take back (min, max). A replay of the
// same values changes nothing.
func mergeFields(old, nw []byte, add func(key []byte, v float64)) (merged []byte, exact bool, err error) {
	// The new point's fields, usually a handful: a linear search over a
	// stack array beats a map.
	type newField struct {
		f   field
		enc []byte
	}
	var arr [16]newField
	news := arr[:0]
	n, k := binary.Uvarint(nw)
	if k <= 0 {
		return nil, false, errCorrupt
	}
	for rest := nw[k:]; n > 0; n-- {
		f, next, err := nextField(rest)
		if err != nil {
			return nil, false, err
		}
		news = append(news, newField{f, rest[:len(rest)-len(next)]})
		rest = next
	}
	var usedArr [16]bool
	used := usedArr[:]
	if len(news) > len(used) {
		used = make([]bool, len(news))
	}

	// The count prefix goes in front of the fields once it is known.
	const pre = binary.MaxVarintLen64
	out := make([]byte, pre, pre+len(old)+len(nw))
	count := uint64(0)
	on, k := binary.Uvarint(old)
	if k <= 0 {
		return append([]byte(nil), nw...), false, nil
	}
	exact = add != nil
	for rest := old[k:]; on > 0; on-- {
		f, next, err := nextField(rest)
		if err != nil {
			return append([]byte(nil), nw...), false, nil
		}
		enc := rest[:len(rest)-len(next)]
		rest = next
		for i := range news {
			nf := &news[i].f
			if !bytes.Equal(nf.key, f.key) {
				continue
			}
			enc = news[i].enc
			used[i] = true
			if exact {
				ov, oldNum := numeric(f.kind, f.num)
				nv, newNum := numeric(nf.kind, nf.num)
				switch {
				case oldNum && newNum && math.Float64bits(ov) == math.Float64bits(nv):
				case oldNum:
					exact = false
				case newNum:
					add(nf.key, nv)
				}
			}
			break
		}
		out = append(out, enc...)
		count++
	}
	for i := range news {
		if !used[i] {
			out = append(out, news[i].enc...)
			count++
			if exact {
				if v, ok := numeric(news[i].f.kind, news[i].f.num); ok {
					add(news[i].f.key, v)
				}
			}
		}
	}
	var cnt [pre]byte
	k = binary.PutUvarint(cnt[:], count)
	copy(out[pre-k:pre], cnt[:k])
	return out[pre-k:], exact, nil
}
