package metric

import "strconv"

// AppendRow appends the parsed row r as one line of line protocol with the
// tags extra merged in (extra must be sorted by key; a tag of r with the
// same key as an extra tag is replaced by it). The collector uses it to
// forward points with its trusted tags without building a Point.
func AppendRow(dst []byte, r *Row, extra []Tag) []byte {
	dst = appendEscaped(dst, string(r.Measurement), escMeasurement)
	i, j := 0, 0
	for i < len(r.Tags) || j < len(extra) {
		var k, v string
		switch {
		case j == len(extra) || (i < len(r.Tags) && string(r.Tags[i].Key) < extra[j].Key):
			k, v = string(r.Tags[i].Key), string(r.Tags[i].Value)
			i++
		case i < len(r.Tags) && string(r.Tags[i].Key) == extra[j].Key:
			k, v = extra[j].Key, extra[j].Value
			i++
			j++
		default:
			k, v = extra[j].Key, extra[j].Value
			j++
		}
		if k == "" || v == "" {
			continue
		}
		dst = append(dst, ',')
		dst = appendEscaped(dst, k, escKey)
		dst = append(dst, '=')
		dst = appendEscaped(dst, v, escKey)
	}
	sep := byte(' ')
	for f := range r.Fields {
		rf := &r.Fields[f]
		dst = append(dst, sep)
		sep = ','
		dst = appendEscaped(dst, string(rf.Key), escKey)
		dst = append(dst, '=')
		dst = AppendValue(dst, Value{kind: rf.Kind, num: rf.Num, str: string(rf.Str)})
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, r.Time, 10)
	return append(dst, '\n')
}
