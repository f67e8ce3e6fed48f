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
