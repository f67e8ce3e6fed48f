package metric

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"
)

// Precision is the unit of line-protocol timestamps, in nanoseconds.
type Precision int64

// The precisions of InfluxDB's write API.
const (
	PrecisionNS Precision = 1
	PrecisionUS Precision = 1e3
	PrecisionMS Precision = 1e6
	PrecisionS  Precision = 1e9
)

// ParsePrecision reads the write API's precision parameter; empty means ns.
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "ns", "n":
		return PrecisionNS, nil
	case "us", "u", "µs":
		return PrecisionUS, nil
	case "ms":
		return PrecisionMS, nil
	case "s":
		return PrecisionS, nil
	}
	return 0, fmt.Errorf("invalid precision %q: use ns, us, ms or s", s)
}

// RawTag is a parsed tag; its slices point into the parsed buffer or the
// parser's scratch space and are valid until the next Parse.
type RawTag struct {
	Key, Value []byte
}

// RawField is a parsed field. Num holds float bits, int, uint or bool;
// Str holds a string value.
type RawField struct {
	Key  []byte
	Kind Kind
	Num  uint64
	Str  []byte
}

// Value converts the field to an owned Value.
func (f *RawField) Value() Value {
	return Value{kind: f.Kind, num: f.Num, str: string(f.Str)}
}

// ValueWith is Value with s, which must equal string(f.Str), as the
// string: a caller converting many fields can copy their strings at once.
func (f *RawField) ValueWith(s string) Value {
	return Value{kind: f.Kind, num: f.Num, str: s}
}

// Row is one parsed line. Tags are sorted by key.
type Row struct {
	Measurement []byte
	Tags        []RawTag
	Fields      []RawField
	Time        int64 // Unix nanoseconds
	Line        int   // 1-based line number in the body
}

// Point converts the row into an owned Point (allocates; not for hot paths).
func (r *Row) Point() Point {
	p := Point{Measurement: string(r.Measurement), Time: time.Unix(0, r.Time).UTC()}
	p.Tags = make([]Tag, len(r.Tags))
	for i, t := range r.Tags {
		p.Tags[i] = Tag{string(t.Key), string(t.Value)}
	}
	p.Fields = make([]Field, len(r.Fields))
	for i := range r.Fields {
		p.Fields[i] = Field{string(r.Fields[i].Key), r.Fields[i].Value()}
	}
	return p
}

// ParseError says which line of a body is malformed and why.
type ParseError struct {
	Line int    // 1-based
	Msg  string // what is wrong
	Text string // the start of the offending line
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("line %d: %s (line starts %q)", e.Line, e.Msg, e.Text)
}

// Parser parses InfluxDB line protocol. It reuses its memory between calls
// and allocates nothing per point once warmed up. A Parser is not safe for
// concurrent use; keep one per goroutine (e.g. in a sync.Pool).
type Parser struct {
	// MaxLineBytes rejects longer lines; 0 means no limit.
	MaxLineBytes int
	// MaxPoints rejects bodies with more points; 0 means no limit.
	MaxPoints int

	Rows    []Row
	tags    []RawTag
	fields  []RawField
	scratch []byte
}

// Parse parses every line of buf into p.Rows, replacing what the previous
// call left there. Lines without a timestamp get now (Unix ns). The first
// malformed line stops parsing with a *ParseError; then no row is valid.
// buf must not change while the rows are used.
func (p *Parser) Parse(buf []byte, prec Precision, now int64) error {
	p.Rows = p.Rows[:0]
	p.tags = p.tags[:0]
	p.fields = p.fields[:0]
	p.scratch = p.scratch[:0]
	if prec <= 0 {
		prec = PrecisionNS
	}
	line := 1
	i := 0
	for i < len(buf) {
		switch buf[i] {
		case '\n':
			line++
			i++
			continue
		case ' ', '\t', '\r':
			i++
			continue
		case '#':
			for i < len(buf) && buf[i] != '\n' {
				i++
			}
			continue
		}
		if p.MaxPoints > 0 && len(p.Rows) >= p.MaxPoints {
			p.Rows = p.Rows[:0]
			return &ParseError{Line: line, Msg: fmt.Sprintf("too many points in one request (limit %d): split the batch", p.MaxPoints), Text: snippet(buf[i:])}
		}
		next, lines, err := p.parseLine(buf, i, line, prec, now)
		if err != nil {
			p.Rows = p.Rows[:0]
			return err
		}
		if p.MaxLineBytes > 0 && next-i > p.MaxLineBytes {
			p.Rows = p.Rows[:0]
			return &ParseError{Line: line, Msg: fmt.Sprintf("line is %d bytes, longer than the limit of %d", next-i, p.MaxLineBytes), Text: snippet(buf[i:])}
		}
		line += lines
		i = next
	}
	return nil
}

func snippet(b []byte) string {
	if j := bytes.IndexByte(b, '\n'); j >= 0 {
		b = b[:j]
	}
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}

// parseLine parses one point starting at buf[start]. It returns the index
// just after the line (past its newline) and how many newlines that were
// (quoted strings may contain newlines).
func (p *Parser) parseLine(buf []byte, start, line int, prec Precision, now int64) (next, lines int, err error) {
	fail := func(msg string, args ...any) (int, int, error) {
		return 0, 0, &ParseError{Line: line, Msg: fmt.Sprintf(msg, args...), Text: snippet(buf[start:])}
	}
	var row Row
	row.Line = line
	i := start

	// Measurement: up to an unescaped comma or space.
	j, esc := scanName(buf, i, false)
	if j == i {
		return fail("missing measurement name")
	}
	row.Measurement = p.unescape(buf[i:j], esc)
	i = j
	if i >= len(buf) || buf[i] == '\n' {
		return fail("missing fields: a point needs at least one field after a space")
	}

	// Tags.
	tagStart := len(p.tags)
	for i < len(buf) && buf[i] == ',' {
		i++
		k, kesc := scanName(buf, i, true)
		if k == i {
			return fail("missing tag key")
		}
		if k >= len(buf) || buf[k] != '=' {
			return fail("tag %q has no value: tags are key=value", buf[i:k])
		}
		key := p.unescape(buf[i:k], kesc)
		i = k + 1
		v, vesc := scanName(buf, i, true)
		if v == i {
			return fail("tag %q has an empty value", key)
		}
		if v < len(buf) && buf[v] == '=' {
			return fail("tag value of %q contains an unescaped '='", key)
		}
		p.tags = append(p.tags, RawTag{Key: key, Value: p.unescape(buf[i:v], vesc)})
		i = v
	}
	row.Tags = p.tags[tagStart:len(p.tags):len(p.tags)]
	sortRawTags(row.Tags)
	for t := 1; t < len(row.Tags); t++ {
		if bytes.Equal(row.Tags[t].Key, row.Tags[t-1].Key) {
			return fail("duplicate tag key %q", row.Tags[t].Key)
		}
	}

	if i >= len(buf) || buf[i] != ' ' {
		return fail("missing fields: a point needs at least one field after a space")
	}
	for i < len(buf) && buf[i] == ' ' {
		i++
	}

	// Fields.
	fieldStart := len(p.fields)
	for {
		k, kesc := scanName(buf, i, true)
		if k == i {
			return fail("missing field key")
		}
		if k >= len(buf) || buf[k] != '=' {
			return fail("field %q has no value: fields are key=value", buf[i:k])
		}
		f := RawField{Key: p.unescape(buf[i:k], kesc)}
		i = k + 1
		if i >= len(buf) || buf[i] == ' ' || buf[i] == ',' || buf[i] == '\n' || buf[i] == '\r' {
			return fail("field %q has an empty value", f.Key)
		}
		if buf[i] == '"' {
			s, end, nl, sesc, ok := scanString(buf, i+1)
			if !ok {
				return fail("string value of field %q has no closing quote", f.Key)
			}
			lines += nl
			f.Kind = KindString
			f.Str = p.unescapeString(s, sesc)
			i = end
		} else {
			e := i
			for e < len(buf) && buf[e] != ',' && buf[e] != ' ' && buf[e] != '\n' && buf[e] != '\r' {
				e++
			}
			if msg := parseFieldValue(&f, buf[i:e]); msg != "" {
				return fail("field %q: %s", f.Key, msg)
			}
			i = e
		}
		p.fields = append(p.fields, f)
		if i < len(buf) && buf[i] == ',' {
			i++
			continue
		}
		break
	}
	row.Fields = p.fields[fieldStart:len(p.fields):len(p.fields)]

	// Optional timestamp.
	row.Time = now
	for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t') {
		i++
	}
	if i < len(buf) && buf[i] != '\n' && buf[i] != '\r' {
		e := i
		for e < len(buf) && buf[e] != ' ' && buf[e] != '\n' && buf[e] != '\r' && buf[e] != '\t' {
			e++
		}
		ts, err := strconv.ParseInt(bstr(buf[i:e]), 10, 64)
		if err != nil {
			return fail("invalid timestamp %q: want an integer in the request's precision", buf[i:e])
		}
		if ts > math.MaxInt64/int64(prec) || ts < math.MinInt64/int64(prec) {
			return fail("timestamp %d out of range for precision", ts)
		}
		row.Time = ts * int64(prec)
		i = e
		for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r') {
			i++
		}
		if i < len(buf) && buf[i] != '\n' {
			return fail("unexpected text %q after the timestamp", snippet(buf[i:]))
		}
	}
	for i < len(buf) && buf[i] == '\r' {
		i++
	}
	if i < len(buf) && buf[i] == '\n' {
		i++
		lines++
	}
	p.Rows = append(p.Rows, row)
	return i, lines, nil
}

// scanName returns the end of a measurement, key or tag value starting at
// i, and whether it contained escapes. equalsEnds makes '=' a terminator.
func scanName(buf []byte, i int, equalsEnds bool) (int, bool) {
	esc := false
	for i < len(buf) {
		c := buf[i]
		switch c {
		case '\\':
			if i+1 < len(buf) && buf[i+1] != '\n' && buf[i+1] != '\r' {
				esc = true
				i += 2
				continue
			}
		case ',', ' ', '\n', '\r':
			return i, esc
		case '=':
			if equalsEnds {
				return i, esc
			}
		}
		i++
	}
	return i, esc
}

// scanString scans a quoted string value whose content starts at i. It
// returns the raw content, the index after the closing quote, the number
// of newlines inside, and whether it holds escapes.
func scanString(buf []byte, i int) (s []byte, end, newlines int, esc, ok bool) {
	start := i
	for i < len(buf) {
		switch buf[i] {
		case '\\':
			esc = true
			i += 2
			continue
		case '\n':
			newlines++
		case '"':
			return buf[start:i], i + 1, newlines, esc, true
		}
		i++
	}
	return nil, 0, 0, false, false
}

// unescape removes the backslashes of escaped commas, spaces and equals
// signs; other backslashes stay, as InfluxDB keeps them.
func (p *Parser) unescape(b []byte, esc bool) []byte {
	if !esc {
		return b
	}
	start := len(p.scratch)
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case ',', ' ', '=', '\\':
				i++
			}
		}
		p.scratch = append(p.scratch, b[i])
	}
	return p.scratch[start:len(p.scratch):len(p.scratch)]
}

func (p *Parser) unescapeString(b []byte, esc bool) []byte {
	if !esc {
		return b
	}
	start := len(p.scratch)
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\') {
			i++
		}
		p.scratch = append(p.scratch, b[i])
	}
	return p.scratch[start:len(p.scratch):len(p.scratch)]
}

func parseFieldValue(f *RawField, v []byte) string {
	last := v[len(v)-1]
	switch {
	case last == 'i' && len(v) > 1 && (v[0] == '-' || isDigit(v[0])):
		n, err := strconv.ParseInt(bstr(v[:len(v)-1]), 10, 64)
		if err != nil {
			return fmt.Sprintf("invalid integer %q", v)
		}
		f.Kind, f.Num = KindInt, uint64(n)
	case last == 'u' && len(v) > 1 && isDigit(v[0]):
		n, err := strconv.ParseUint(bstr(v[:len(v)-1]), 10, 64)
		if err != nil {
			return fmt.Sprintf("invalid unsigned integer %q", v)
		}
		f.Kind, f.Num = KindUint, n
	default:
		switch bstr(v) {
		case "t", "T", "true", "True", "TRUE":
			f.Kind, f.Num = KindBool, 1
			return ""
		case "f", "F", "false", "False", "FALSE":
			f.Kind, f.Num = KindBool, 0
			return ""
		}
		if !(isDigit(v[0]) || v[0] == '-' || v[0] == '+' || v[0] == '.') {
			return fmt.Sprintf("invalid value %q: strings must be in double quotes", v)
		}
		x, err := strconv.ParseFloat(bstr(v), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("invalid number %q", v)
		}
		f.Kind, f.Num = KindFloat, math.Float64bits(x)
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// bstr views b as a string without copying; the result must not outlive b.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// SortRawTags sorts tags by key (for callers that renamed a tag).
func SortRawTags(tags []RawTag) { sortRawTags(tags) }

func sortRawTags(tags []RawTag) {
	for i := 1; i < len(tags); i++ {
		for j := i; j > 0 && bytes.Compare(tags[j].Key, tags[j-1].Key) < 0; j-- {
			tags[j], tags[j-1] = tags[j-1], tags[j]
		}
	}
}
