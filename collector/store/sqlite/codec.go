package sqlite

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/schulmon/schulmon/metric"
)

// The field blob of a stored point: for each field its key (length and
// bytes), its kind and its value. Compact, and decoded only when read.

func appendFields(dst []byte, fields []metric.RawField) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(fields)))
	for i := range fields {
		f := &fields[i]
		dst = binary.AppendUvarint(dst, uint64(len(f.Key)))
		dst = append(dst, f.Key...)
		dst = append(dst, byte(f.Kind))
		switch f.Kind {
		case metric.KindFloat:
			dst = binary.LittleEndian.AppendUint64(dst, f.Num)
		case metric.KindInt:
			dst = binary.AppendVarint(dst, int64(f.Num))
		case metric.KindUint:
			dst = binary.AppendUvarint(dst, f.Num)
		case metric.KindBool:
			dst = append(dst, byte(f.Num))
		case metric.KindString:
			dst = binary.AppendUvarint(dst, uint64(len(f.Str)))
			dst = append(dst, f.Str...)
		}
	}
	return dst
}

var errCorrupt = errors.New("corrupt field blob")

// eachField calls fn for every field in blob; fn returns false to stop.
func eachField(blob []byte, fn func(key []byte, kind metric.Kind, num uint64, str []byte) bool) error {
	n, k := binary.Uvarint(blob)
	if k <= 0 {
		return errCorrupt
	}
	blob = blob[k:]
	for ; n > 0; n-- {
		f, rest, err := nextField(blob)
		if err != nil {
			return err
		}
		blob = rest
		if !fn(f.key, f.kind, f.num, f.str) {
			return nil
		}
	}
	return nil
}

// field is one decoded field of a blob; its slices point into the blob.
type field struct {
	key  []byte
	kind metric.Kind
	num  uint64
	str  []byte
}

// nextField decodes the field at the start of blob and returns the rest;
// blob[:len(blob)-len(rest)] is the field's encoding.
func nextField(blob []byte) (f field, rest []byte, err error) {
	kl, k := binary.Uvarint(blob)
	if k <= 0 || uint64(len(blob)-k) < kl+1 {
		return f, nil, errCorrupt
	}
	f.key = blob[k : k+int(kl)]
	f.kind = metric.Kind(blob[k+int(kl)])
	blob = blob[k+int(kl)+1:]
	switch f.kind {
	case metric.KindFloat:
		if len(blob) < 8 {
			return f, nil, errCorrupt
		}
		f.num = binary.LittleEndian.Uint64(blob)
		blob = blob[8:]
	case metric.KindInt:
		v, k := binary.Varint(blob)
		if k <= 0 {
			return f, nil, errCorrupt
		}
		f.num, blob = uint64(v), blob[k:]
	case metric.KindUint:
		v, k := binary.Uvarint(blob)
		if k <= 0 {
			return f, nil, errCorrupt
		}
		f.num, blob = v, blob[k:]
	case metric.KindBool:
		if len(blob) < 1 {
			return f, nil, errCorrupt
		}
		f.num, blob = uint64(blob[0]), blob[1:]
	case metric.KindString:
		sl, k := binary.Uvarint(blob)
		if k <= 0 || uint64(len(blob)-k) < sl {
			return f, nil, errCorrupt
		}
		f.str, blob = blob[k:k+int(sl)], blob[k+int(sl):]
	default:
		return f, nil, errCorrupt
	}
	return f, blob, nil
}

// numeric converts a stored value to float64 for charts and rollups.
func numeric(kind metric.Kind, num uint64) (float64, bool) {
	switch kind {
	case metric.KindFloat:
		return math.Float64frombits(num), true
	case metric.KindInt:
		return float64(int64(num)), true
	case metric.KindUint, metric.KindBool:
		return float64(num), true
	}
	return 0, false
}

// appendSeriesKey builds the identity of a series from its measurement,
// device and client tags, each length-prefixed so that no two tag sets
// can produce the same key.
func appendSeriesKey(dst []byte, deviceID int64, row *metric.Row) []byte {
	dst = binary.AppendUvarint(dst, uint64(deviceID))
	dst = binary.AppendUvarint(dst, uint64(len(row.Measurement)))
	dst = append(dst, row.Measurement...)
	for _, t := range row.Tags {
		dst = binary.AppendUvarint(dst, uint64(len(t.Key)))
		dst = append(dst, t.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(t.Value)))
		dst = append(dst, t.Value...)
	}
	return dst
}
