package metric

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseAllFieldTypesAndEscapes(t *testing.T) {
	body := "# comment\n" +
		`cpu\,x,host=a\ b,cpu=cpu-total usage_idle=99.5,n=-3i,u=7u,s="say \"hi\"\\",ok=t,bad=FALSE 1700000000000000000` + "\n" +
		"\n  mem,host=a used=1i\r\n" +
		`weird\ m,t\=k=v\,1 f\ k=1.5e3` + "\n" +
		"multi s=\"line1\nline2\" 5\n" +
		"after v=1 6"
	var p Parser
	if err := p.Parse([]byte(body), PrecisionNS, 42); err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != 5 {
		t.Fatalf("got %d rows, want 5", len(p.Rows))
	}
	r := p.Rows[0].Point()
	if r.Measurement != "cpu,x" {
		t.Errorf("measurement %q", r.Measurement)
	}
	if v, _ := r.Tag("host"); v != "a b" {
		t.Errorf("host tag %q", v)
	}
	if r.Tags[0].Key != "cpu" {
		t.Errorf("tags not sorted: %v", r.Tags)
	}
	want := map[string]any{"usage_idle": 99.5, "n": int64(-3), "u": uint64(7), "s": `say "hi"\`, "ok": true, "bad": false}
	for k, w := range want {
		v, ok := r.Field(k)
		if !ok || v.Any() != w {
			t.Errorf("field %s = %v (%v), want %v", k, v.Any(), ok, w)
		}
	}
	if r.Time.UnixNano() != 1700000000000000000 {
		t.Errorf("time %d", r.Time.UnixNano())
	}
	if p.Rows[1].Time != 42 || p.Rows[1].Line != 4 {
		t.Errorf("mem row time %d line %d", p.Rows[1].Time, p.Rows[1].Line)
	}
	w := p.Rows[2].Point()
	if w.Measurement != "weird m" || w.Tags[0].Key != "t=k" || w.Tags[0].Value != "v,1" || w.Fields[0].Key != "f k" {
		t.Errorf("escapes: %+v", w)
	}
	if s := p.Rows[3].Point(); s.Fields[0].Value.StringValue() != "line1\nline2" {
		t.Errorf("multi-line string %q", s.Fields[0].Value.StringValue())
	}
	if p.Rows[4].Line != 8 || p.Rows[4].Time != 6 {
		t.Errorf("row after multi-line string: line %d time %d", p.Rows[4].Line, p.Rows[4].Time)
	}
}

func TestParsePrecision(t *testing.T) {
	for _, c := range []struct {
		prec string
		want int64
	}{{"ns", 5}, {"us", 5e3}, {"ms", 5e6}, {"s", 5e9}, {"", 5}} {
		pr, err := ParsePrecision(c.prec)
		if err != nil {
			t.Fatal(err)
		}
		var p Parser
		if err := p.Parse([]byte("m v=1 5"), pr, 0); err != nil {
			t.Fatal(err)
		}
		if p.Rows[0].Time != c.want {
			t.Errorf("precision %q: time %d, want %d", c.prec, p.Rows[0].Time, c.want)
		}
	}
	if _, err := ParsePrecision("h"); err == nil {
		t.Error("precision h accepted")
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	cases := map[string]string{
		"m v=1\nm":                   "line 2: missing fields",
		"m,t v=1":                    "line 1: tag \"t\" has no value",
		"m v=abc":                    "strings must be in double quotes",
		"m v=1 12x":                  "invalid timestamp",
		"m v=\"open":                 "no closing quote",
		"m v=99999999999999999999i":  "invalid integer",
		"m v=-1u":                    "invalid number",
		"m,a=1,a=2 v=1":              "duplicate tag key",
		"m v=1 1 extra":              "unexpected text",
		"m v=":                       "empty value",
		",t=1 v=1":                   "missing measurement",
		"m v=NaN":                    "invalid",
		"m  v=1,":                    "missing field key",
		"ok v=1\n\n\nbad,x=1 y":      "line 4:",
		"m v=1 9223372036854775807":  "",
		"m v=1 99999999999999999999": "invalid timestamp",
	}
	for body, want := range cases {
		var p Parser
		err := p.Parse([]byte(body), PrecisionNS, 0)
		if want == "" {
			if err != nil {
				t.Errorf("%q: unexpected error %v", body, err)
			}
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: got %v, want a ParseError containing %q", body, err, want)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q does not contain %q", body, err, want)
		}
		if len(p.Rows) != 0 {
			t.Errorf("%q: rows left after error", body)
		}
	}
}

func TestParseLimits(t *testing.T) {
	p := Parser{MaxLineBytes: 10}
	if err := p.Parse([]byte("m v=1\nmeasurement value=1"), PrecisionNS, 0); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("long line: %v", err)
	}
	p = Parser{MaxPoints: 2}
	if err := p.Parse([]byte("m v=1\nm v=2\nm v=3"), PrecisionNS, 0); err == nil || !strings.Contains(err.Error(), "too many points") {
		t.Errorf("too many points: %v", err)
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	in := NewPoint(`we ird,"m`, map[string]string{"host": "a b,c=d", "z": `x\`}, map[string]Value{
		"f": Float(1.25), "i": Int(math.MinInt64), "u": Uint(math.MaxUint64), "s": String("q\"\\\nz"), "b": Bool(true), "e x=": Float(-0.5),
	}, time.Unix(1, 2))
	line := AppendLine(nil, &in)
	var p Parser
	if err := p.Parse(line, PrecisionNS, 0); err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	out := p.Rows[0].Point()
	if AppendLine(nil, &out) == nil || string(AppendLine(nil, &out)) != string(line) {
		t.Errorf("round trip:\n in %q\nout %q", line, AppendLine(nil, &out))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"cpu,host=a usage=1.5,n=3i,u=4u,s=\"x\",b=t 1700000000000000000",
		`m\ x,t\,k=v\=1 f="a\"b" 1`,
		"m v=1\nm,t=1 v=2i 3\n# c\n",
		"m s=\"multi\nline\"",
		"m v=1 -5",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p Parser
		if err := p.Parse(body, PrecisionNS, 1); err != nil {
			return
		}
		// Every accepted point must survive encode → parse unchanged.
		for i := range p.Rows {
			pt := p.Rows[i].Point()
			line := AppendLine(nil, &pt)
			var q Parser
			if err := q.Parse(line, PrecisionNS, 1); err != nil {
				t.Fatalf("re-parse of %q (from %q): %v", line, body, err)
			}
			if len(q.Rows) != 1 {
				t.Fatalf("re-parse of %q gave %d rows", line, len(q.Rows))
			}
			back := q.Rows[0].Point()
			if string(AppendLine(nil, &back)) != string(line) {
				t.Fatalf("round trip changed %q into %q", line, AppendLine(nil, &back))
			}
		}
	})
}
