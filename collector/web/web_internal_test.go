package web

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestTextsComplete(t *testing.T) {
	for k := range texts["de"] {
		if _, ok := texts["en"][k]; !ok {
			t.Errorf("text %q has no English version", k)
		}
	}
	for k := range texts["en"] {
		if _, ok := texts["de"][k]; !ok {
			t.Errorf("text %q has no German version", k)
		}
	}
	// Every .T.key and "prefix_" lookup in the templates exists.
	keyRE := regexp.MustCompile(`\.T\.([a-z_]+)|\$t\.([a-z_]+)`)
	pages, _ := assets.ReadDir("templates")
	for _, p := range pages {
		b, _ := assets.ReadFile("templates/" + p.Name())
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			k := m[1] + m[2]
			if _, ok := texts["de"][k]; !ok {
				t.Errorf("%s uses text %q, which does not exist", p.Name(), k)
			}
		}
	}
	for _, prefix := range []string{"class_", "state_", "role_"} {
		var list []string
		switch prefix {
		case "class_":
			list = []string{"server", "switch", "access_point", "router", "printer", "ups", "endpoint", "display", "other"}
		case "state_":
			list = []string{"up", "down", "unknown", "unreachable", "maintenance"}
		case "role_":
			list = []string{"operator", "school_admin", "planner", "agent"}
		}
		for _, v := range list {
			if _, ok := texts["de"][prefix+v]; !ok {
				t.Errorf("missing text %s%s", prefix, v)
			}
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                           "de",
		"en-US,en;q=0.9":             "en",
		"de-DE,de;q=0.9,en;q=0.8":    "de",
		"en;q=0.5,de;q=0.9":          "de",
		"fr-FR,fr;q=0.9,en;q=0.7":    "en",
		"fr":                         "de",
		"de-AT, en-GB;q=0.99":        "de",
		"EN-gb":                      "en",
		"tr-TR,en-US;q=0.3,de;q=0.2": "en",
	} {
		if got := acceptLanguage(h); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", h, got, want)
		}
	}
}

// luminance is the WCAG relative luminance of #rrggbb.
func luminance(hex string) float64 {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	ch := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(v>>16&0xff) + 0.7152*ch(v>>8&0xff) + 0.0722*ch(v&0xff)
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// TestContrast checks the stylesheet's colour pairs against WCAG 2.1 AA
// (4.5:1 for normal text).
func TestContrast(t *testing.T) {
	css, err := assets.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	pairs := [][2]string{
		{"fg", "bg"}, {"muted", "bg"}, {"link", "bg"}, {"up", "bg"}, {"down", "bg"}, {"unknown", "bg"}, {"maint", "bg"},
		{"on-accent", "accent"}, {"fg", "row-problem"}, {"down", "row-problem"}, {"link", "row-problem"}, {"up", "row-problem"},
		{"muted", "row-problem"}, {"fg", "flash-bg"}, {"link", "flash-bg"},
	}
	for _, p := range pairs {
		fg, bg := vars[p[0]], vars[p[1]]
		if fg == "" || bg == "" {
			t.Errorf("colour variable --%s or --%s missing from style.css", p[0], p[1])
			continue
		}
		if c := contrast(fg, bg); c < 4.5 {
			t.Errorf("--%s %s on --%s %s: contrast %.2f:1, want at least 4.5:1", p[0], fg, p[1], bg, c)
		}
	}
	// The focus outline must stand out against the header and the page.
	if c := contrast(vars["focus"], vars["accent"]); c < 3 {
		t.Errorf("focus outline on the header: %.2f:1, want at least 3:1 (non-text contrast)", c)
	}
	if contrast("#777777", "#ffffff") >= 4.5 {
		t.Error("contrast check is too lenient") // #777 on white is 4.48:1
	}
}

func TestNatLess(t *testing.T) {
	in := []string{"Gi1/0/10", "Gi1/0/9", "Gi1/0/1", "Te1/1/1", "Gi1/0/2"}
	want := "Gi1/0/1 Gi1/0/2 Gi1/0/9 Gi1/0/10 Te1/1/1"
	for i := 1; i < len(in); i++ {
		for j := i; j > 0 && natLess(in[j], in[j-1]); j-- {
			in[j], in[j-1] = in[j-1], in[j]
		}
	}
	if got := strings.Join(in, " "); got != want {
		t.Errorf("sorted %s", got)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/sites/a": "/sites/a", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/", "": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q", in, got)
		}
	}
}
