package web

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

func ago(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "—"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dmin", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return l
}()

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(berlin).Format("2006-01-02 15:04")
}

func fmtDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd %s", int(d.Hours())/24, (d % (24 * time.Hour)).String())
	}
	return d.String()
}

func fmtNum(n int) string {
	s := strconv.Itoa(n)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func fmtFloat(f float64, dec int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', dec, 64)
}

func fmtEUR(f float64) string {
	return fmtNum(int(math.Round(f))) + " €"
}

func fmtPct(p *json.Number) string {
	if p == nil {
		return "—"
	}
	return p.String() + " %"
}

func jsonNum(n json.Number) string {
	if n == "" {
		return "—"
	}
	return n.String()
}

// plural picks key+"_one" for n == 1 and key+"_other" otherwise from t and
// fills it with args (default: n). German needs more than a plural "s":
// "1 offener Ausfall", "2 offene Ausfälle", "2 von 2 Standorten".
func plural(t map[string]string, key string, n int, args ...any) string {
	form := key + "_other"
	if n == 1 {
		form = key + "_one"
	}
	f, ok := t[form]
	if !ok {
		return form
	}
	if len(args) == 0 {
		args = []any{fmtNum(n)}
	}
	return fmt.Sprintf(f, args...)
}

// causeText is the label of an outage cause; the code itself when there
// is none (a cause added later than the texts).
func causeText(t map[string]string, cause string) string {
	if s, ok := t["cause_"+cause]; ok {
		return s
	}
	return cause
}
