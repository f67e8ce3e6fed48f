package metric

import (
	"math"
	"strconv"
)

// AppendLine appends p as one line of InfluxDB line protocol (nanosecond
// precision, terminated by '\n') to dst. A zero Time is written without a
// timestamp, so the receiver stamps its own.
func AppendLine(dst []byte, p *Point) []byte {
	dst = appendEscaped(dst, p.Measurement, escMeasurement)
	for _, t := range p.Tags {
		if t.Key == "" || t.Value == "" {
			continue // line protocol has no empty tags
		}
		dst = append(dst, ',')
		dst = appendEscaped(dst, t.Key, escKey)
		dst = append(dst, '=')
		dst = appendEscaped(dst, t.Value, escKey)
	}
	sep := byte(' ')
	for _, f := range p.Fields {
		if f.Value.kind == KindFloat {
			if x := f.Value.FloatValue(); math.IsNaN(x) || math.IsInf(x, 0) {
				continue // not representable in line protocol
			}
		}
		dst = append(dst, sep)
		sep = ','
		dst = appendEscaped(dst, f.Key, escKey)
		dst = append(dst, '=')
		dst = AppendValue(dst, f.Value)
	}
	if !p.Time.IsZero() {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Time.UnixNano(), 10)
	}
	return append(dst, '\n')
}

// AppendValue appends a field value in line-protocol syntax.
func AppendValue(dst []byte, v Value) []byte {
	switch v.kind {
	case KindFloat:
		f := v.FloatValue()
		dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	case KindInt:
		dst = strconv.AppendInt(dst, v.IntValue(), 10)
		dst = append(dst, 'i')
	case KindUint:
		dst = strconv.AppendUint(dst, v.num, 10)
		dst = append(dst, 'u')
	case KindBool:
		if v.num != 0 {
			dst = append(dst, 't')
		} else {
			dst = append(dst, 'f')
		}
	case KindString:
		dst = append(dst, '"')
		for i := 0; i < len(v.str); i++ {
			c := v.str[i]
			if c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
		}
		dst = append(dst, '"')
	}
	return dst
}

type escapeSet uint8

const (
	escMeasurement escapeSet = iota // comma and space
	escKey                          // comma, equals sign and space
)

func appendEscaped(dst []byte, s string, set escapeSet) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (i+1 == len(s) || s[i+1] == ',' || s[i+1] == ' ' || s[i+1] == '=' || s[i+1] == '\\' || s[i+1] == '\n' || s[i+1] == '\r'):
			// Keep a backslash literal where the parser would read an escape.
			dst = append(dst, '\\')
		case c == ',' || c == ' ':
			dst = append(dst, '\\')
		case c == '=' && set == escKey:
			dst = append(dst, '\\')
		case c == '\n' || c == '\r':
			// Newlines end a line; they cannot be escaped in names.
			dst = append(dst, '\\', ' ')
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
