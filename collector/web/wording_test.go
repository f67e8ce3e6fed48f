package web

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/availability"
	"github.com/schulmon/schulmon/collector/tenancy"
)

// TestPluralForms checks the counted phrases in both languages, German
// with its case and adjective endings.
func TestPluralForms(t *testing.T) {
	de, en := texts["de"], texts["en"]
	for _, c := range []struct{ got, want string }{
		{plural(de, "n_open_outages", 1), "1 offener Ausfall"},
		{plural(de, "n_open_outages", 2), "2 offene Ausfälle"},
		{plural(de, "n_open_outages", 0), "0 offene Ausfälle"},
		{plural(de, "sites_shown", 2, "2", "2"), "2 von 2 Standorten angezeigt"},
		{plural(de, "sites_shown", 1, "1", "1"), "1 von 1 Standort angezeigt"},
		{plural(de, "n_sites", 1), "1 Standort"},
		{plural(de, "n_devices", 1), "1 Gerät"},
		{plural(de, "n_devices", 1200), "1 200 Geräte"},
		{plural(en, "n_open_outages", 1), "1 open outage"},
		{plural(en, "sites_shown", 2, "1", "2"), "1 of 2 sites shown"},
		{plural(en, "n_devices", 1), "1 device"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

// TestTemplatePluralKeys: every plural key a template names has both
// forms in both languages; no template puts a bare number before a
// plural noun again ("{{…}} {{.T.sites}}").
func TestTemplatePluralKeys(t *testing.T) {
	keyRE := regexp.MustCompile(`plural \S+ "([a-z_]+)"`)
	bareRE := regexp.MustCompile(`{{(?:num |len )?[$.][A-Za-z.]*}} {{[$.]+[tT]?\.(sites|devices|open_outages)}}`)
	pages, _ := assets.ReadDir("templates")
	n := 0
	for _, p := range pages {
		b, _ := assets.ReadFile("templates/" + p.Name())
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			n++
			for _, l := range []string{"de", "en"} {
				for _, f := range []string{"_one", "_other"} {
					if _, ok := texts[l][m[1]+f]; !ok {
						t.Errorf("%s: plural %q lacks %s%s in %s", p.Name(), m[1], m[1], f, l)
					}
				}
			}
		}
		if m := bareRE.FindString(string(b)); m != "" {
			t.Errorf("%s: number before a plural noun: %s (use plural)", p.Name(), m)
		}
	}
	if n < 5 {
		t.Errorf("found only %d plural uses in the templates", n)
	}
	for _, l := range []string{"de", "en"} {
		for k, v := range texts[l] {
			if v == "" {
				t.Errorf("%s text %q is empty", l, k)
			}
		}
	}
}

// TestCauseTexts: every outage cause the engine records has a label in
// both languages; the raw code stays in the cell's title.
func TestCauseTexts(t *testing.T) {
	causes := []availability.Cause{availability.CauseHeartbeatLost, availability.CauseSNMPTimeout, availability.CauseReboot, availability.CauseTrap,
		availability.CauseCheckFailed, availability.CauseNoData, availability.CauseCollectorDown, availability.CauseUplinkDown, availability.CauseParentDown}
	for _, l := range []string{"de", "en"} {
		for _, c := range causes {
			if got := causeText(texts[l], string(c)); got == string(c) || got == "" {
				t.Errorf("%s: cause %s has no label", l, c)
			}
		}
	}
	if got := causeText(texts["de"], "something_new"); got != "something_new" {
		t.Errorf("unknown cause shown as %q, want the code", got)
	}
	var b strings.Builder
	end := time.Now()
	err := parseTemplates()["site.html"].ExecuteTemplate(&b, "outages", map[string]any{"T": texts["de"], "List": []availability.Outage{
		{Device: "nas", State: availability.StateDown, Cause: availability.CauseHeartbeatLost, Start: end.Add(-time.Hour), End: &end, DurationSeconds: 3600}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, `title="heartbeat_lost"`) || !strings.Contains(s, ">kein Lebenszeichen des Agenten<") {
		t.Errorf("outage row: %s", s)
	}
}

// TestFleetSummaryWording renders the fleet summary for one and for two
// sites and outages.
func TestFleetSummaryWording(t *testing.T) {
	tmpl := parseTemplates()["fleet.html"]
	for _, c := range []struct {
		d    fleetData
		want []string
	}{
		{fleetData{ShownSites: 1, TotalSites: 1, Total: 1, Up: 1, OpenOutages: 1, HasEngine: true,
			Muns: []fleetMun{{Name: "Moers", Total: 1, Sites: []fleetSite{{Site: tenancy.Site{Name: "gs-nord"}, Total: 1}}}}},
			[]string{"1 von 1 Standort angezeigt · 1 Gerät:", "1 offener Ausfall", "1 Standort · 1 Gerät"}},
		{fleetData{ShownSites: 2, TotalSites: 2, Total: 10, OpenOutages: 2, HasEngine: true,
			Muns: []fleetMun{{Name: "Moers", Total: 10, Sites: []fleetSite{{Site: tenancy.Site{Name: "a"}, Total: 4}, {Site: tenancy.Site{Name: "b"}, Total: 6}}}}},
			[]string{"2 von 2 Standorten angezeigt · 10 Geräte:", "2 offene Ausfälle", "2 Standorte · 10 Geräte"}},
	} {
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, "fleet.html", page{Lang: "de", T: texts["de"], Data: &c.d}); err != nil {
			t.Fatal(err)
		}
		s := strings.Join(strings.Fields(b.String()), " ")
		for _, w := range c.want {
			if !strings.Contains(s, w) {
				t.Errorf("fleet page lacks %q:\n%s", w, s)
			}
		}
	}
}

// TestChecksSince: an up check without an open span shows the end of its
// last outage, or that it had none; other states are left alone.
func TestChecksSince(t *testing.T) {
	t1, t2 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	open := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	got := checksSince([]checkRow{{Name: "dns", State: "up"}, {Name: "http", State: "up"}, {Name: "smb", State: "down", Since: open}, {Name: "ntp", State: "unknown"}},
		[]availability.Outage{{Check: "http", End: &t2}, {Check: "http", End: &t1}, {Check: "smb", Start: open}, {Check: "", End: &t2}})
	if !got[0].Quiet || !got[0].Since.IsZero() {
		t.Errorf("dns (never down): %+v, want quiet", got[0])
	}
	if got[1].Quiet || !got[1].Since.Equal(t2) {
		t.Errorf("http: %+v, want since %v", got[1], t2)
	}
	if !got[2].Since.Equal(open) || got[2].Quiet || got[3].Quiet {
		t.Errorf("smb, ntp: %+v %+v", got[2], got[3])
	}
}
