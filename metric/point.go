// Package metric is the small piece of schulmon that both the agent and the
// collector import: the point model, InfluxDB line-protocol encoding and
// parsing, and the build version. Nothing else belongs here.
package metric

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Version is the schulmon version, set at build time with
// -ldflags "-X github.com/schulmon/schulmon/metric.Version=…".
var Version = "dev"

// Kind is the type of a field value, as line protocol knows them.
type Kind uint8

// The field value kinds of line protocol.
const (
	KindFloat Kind = iota + 1
	KindInt
	KindUint
	KindString
	KindBool
)

func (k Kind) String() string {
	switch k {
	case KindFloat:
		return "float"
	case KindInt:
		return "integer"
	case KindUint:
		return "unsigned"
	case KindString:
		return "string"
	case KindBool:
		return "boolean"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Value is a typed field value. The zero Value is invalid.
type Value struct {
	kind Kind
	num  uint64 // float bits, int, uint or bool (0/1)
	str  string
}

// Float returns a float field value.
func Float(f float64) Value { return Value{kind: KindFloat, num: math.Float64bits(f)} }

// Int returns a signed integer field value.
func Int(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// Uint returns an unsigned integer field value.
func Uint(u uint64) Value { return Value{kind: KindUint, num: u} }

// String returns a string field value.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Bool returns a boolean field value.
func Bool(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.num = 1
	}
	return v
}

// Kind reports the value's type.
func (v Value) Kind() Kind { return v.kind }

// FloatValue returns the value of a float field.
func (v Value) FloatValue() float64 { return math.Float64frombits(v.num) }

// IntValue returns the value of an integer field.
func (v Value) IntValue() int64 { return int64(v.num) }

// UintValue returns the value of an unsigned field.
func (v Value) UintValue() uint64 { return v.num }

// StringValue returns the value of a string field.
func (v Value) StringValue() string { return v.str }

// BoolValue returns the value of a boolean field.
func (v Value) BoolValue() bool { return v.num != 0 }

// AsFloat converts numeric and boolean values to float64; ok is false for
// strings. Charts and rollups use it.
func (v Value) AsFloat() (f float64, ok bool) {
	switch v.kind {
	case KindFloat:
		return v.FloatValue(), true
	case KindInt:
		return float64(v.IntValue()), true
	case KindUint:
		return float64(v.num), true
	case KindBool:
		return float64(v.num), true
	}
	return 0, false
}

// Any returns the value as float64, int64, uint64, string or bool.
func (v Value) Any() any {
	switch v.kind {
	case KindFloat:
		return v.FloatValue()
	case KindInt:
		return v.IntValue()
	case KindUint:
		return v.num
	case KindString:
		return v.str
	case KindBool:
		return v.num != 0
	}
	return nil
}

// Tag is one tag of a point.
type Tag struct {
	Key, Value string
}

// Field is one field of a point.
type Field struct {
	Key   string
	Value Value
}

// Point is one measurement at one time: the unit the agent produces and the
// collector stores.
type Point struct {
	Measurement string
	Tags        []Tag // sorted by key (see SortTags)
	Fields      []Field
	Time        time.Time
}

// NewPoint builds a point with sorted tags. Maps are convenient for
// callers that are not on a hot path.
func NewPoint(measurement string, tags map[string]string, fields map[string]Value, t time.Time) Point {
	p := Point{Measurement: measurement, Time: t}
	p.Tags = make([]Tag, 0, len(tags))
	for k, v := range tags {
		p.Tags = append(p.Tags, Tag{k, v})
	}
	SortTags(p.Tags)
	p.Fields = make([]Field, 0, len(fields))
	for k, v := range fields {
		p.Fields = append(p.Fields, Field{k, v})
	}
	sort.Slice(p.Fields, func(i, j int) bool { return p.Fields[i].Key < p.Fields[j].Key })
	return p
}

// SortTags sorts tags by key, as line protocol's canonical series key wants.
func SortTags(tags []Tag) {
	// Insertion sort: tag lists are short and this allocates nothing.
	for i := 1; i < len(tags); i++ {
		for j := i; j > 0 && tags[j].Key < tags[j-1].Key; j-- {
			tags[j], tags[j-1] = tags[j-1], tags[j]
		}
	}
}

// Tag returns the value of the tag named key.
func (p *Point) Tag(key string) (string, bool) {
	for _, t := range p.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// SetTag sets or replaces a tag, keeping tags sorted.
func (p *Point) SetTag(key, value string) {
	for i := range p.Tags {
		if p.Tags[i].Key == key {
			p.Tags[i].Value = value
			return
		}
	}
	p.Tags = append(p.Tags, Tag{key, value})
	SortTags(p.Tags)
}

// Field returns the field named key.
func (p *Point) Field(key string) (Value, bool) {
	for _, f := range p.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return Value{}, false
}

// AddField appends a field.
func (p *Point) AddField(key string, v Value) {
	p.Fields = append(p.Fields, Field{key, v})
}
