package sqlite

import (
	"bytes"
	"database/sql/driver"
	"encoding/binary"
	"fmt"

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
		NArgs:         2,
		Deterministic: true,
		// mergeFieldBlobs copies what it keeps, so the arguments may be
		// SQLite's own memory: no copy per call.
		VolatileArgs: true,
		Scalar: func(_ *moderncsqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			old, _ := args[0].([]byte)
			nw, ok := args[1].([]byte)
			if !ok {
				return nil, fmt.Errorf("%s: new fields are %T, not a blob", mergeFunc, args[1])
			}
			return mergeFieldBlobs(old, nw)
		},
	})
	if err != nil {
		panic(err)
	}
}

// mergeFieldBlobs returns a new blob with old's fields in their order, a
// field that nw has too taken from nw in place, then nw's other fields in
// their order, as the ingest merges the lines of one request. A corrupt
// stored blob is replaced by nw (the old behaviour) rather than failing
// the whole group commit; a corrupt nw is an error.
func mergeFieldBlobs(old, nw []byte) ([]byte, error) {
	// The new point's fields, usually a handful: a linear search over a
	// stack array beats a map.
	var arr [16]struct{ key, enc []byte }
	news := arr[:0]
	n, k := binary.Uvarint(nw)
	if k <= 0 {
		return nil, errCorrupt
	}
	for rest := nw[k:]; n > 0; n-- {
		f, next, err := nextField(rest)
		if err != nil {
			return nil, err
		}
		news = append(news, struct{ key, enc []byte }{f.key, rest[:len(rest)-len(next)]})
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
		return append([]byte(nil), nw...), nil
	}
	for rest := old[k:]; on > 0; on-- {
		f, next, err := nextField(rest)
		if err != nil {
			return append([]byte(nil), nw...), nil
		}
		enc := rest[:len(rest)-len(next)]
		rest = next
		for i := range news {
			if bytes.Equal(news[i].key, f.key) {
				enc = news[i].enc
				used[i] = true
				break
			}
		}
		out = append(out, enc...)
		count++
	}
	for i := range news {
		if !used[i] {
			out = append(out, news[i].enc...)
			count++
		}
	}
	var cnt [pre]byte
	k = binary.PutUvarint(cnt[:], count)
	copy(out[pre-k:pre], cnt[:k])
	return out[pre-k:], nil
}
