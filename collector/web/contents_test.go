package web_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/schulmon/schulmon/collector/store/sqlite"
)

// requestLog records the URL of every request the browser makes.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

func watchRequests(t *testing.T, ctx context.Context) *requestLog {
	l := &requestLog{}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			l.mu.Lock()
			l.urls = append(l.urls, e.Request.URL)
			l.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

// foreign returns the requests that left base's origin (data: URLs are
// inline, not requests to anyone).
func (l *requestLog) foreign(base string) (n int, out []string) {
	b, _ := url.Parse(base)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.urls {
		u, err := url.Parse(s)
		if err == nil && (u.Scheme == "data" || u.Scheme == "about") {
			continue
		}
		if err != nil || u.Scheme != b.Scheme || u.Host != b.Host {
			out = append(out, s)
		}
	}
	return len(l.urls), out
}

// rowCells returns the cell texts of the table row matching sel.
func rowCells(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	return eval[[]string](t, ctx, `Array.from(document.querySelector(`+jsString(sel)+`).children).map(c => c.textContent.trim())`)
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func navigate(t *testing.T, ctx context.Context, u, waitSel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(waitSel))); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
}

// rows returns the rows of the tables under sel, cells joined by "|".
func rows(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	return eval[[]string](t, ctx, `Array.from(document.querySelectorAll(`+jsString(sel)+`)).map(r => Array.from(r.children).map(c => c.textContent.trim()).join("|"))`)
}

// hasRow reports whether one of list starts with prefix.
func hasRow(list []string, prefix string) bool {
	for _, r := range list {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

// percent parses "82.6454 % (verfehlt)" or "100 %".
func percent(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.SplitN(s, "%", 2)[0]), 64)
	if err != nil {
		t.Fatalf("not a percentage: %q", s)
	}
	return f
}

// TestBrowserPageContents reads what the fleet, site and device pages show
// for the seeded troubles of gs-nord (env_test.go: a silent NAS, an unknown
// copier, a failing check, a linkDown trap), and that no page loads
// anything from outside the collector (schools' networks may have no
// internet, and nothing should leak to third parties).
func TestBrowserPageContents(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)
	reqs := watchRequests(t, ctx)
	login(t, ctx, e.URL, "olga", pwOperator)

	// Fleet: counts per state, open outages, availability and error budget.
	sum := text(t, ctx, "#fleet-summary")
	if !strings.Contains(sum, "2 von 2 Standorten angezeigt · 10 Geräte: 8 erreichbar, 1 ausgefallen, 1 unbekannt") || !strings.Contains(sum, "2 offene Ausfälle") {
		t.Errorf("fleet summary: %q", sum)
	}
	nord := rowCells(t, ctx, `tr.site-row[data-site="gs-nord"]`)
	sued := rowCells(t, ctx, `tr.site-row[data-site="gs-sued"]`)
	if strings.Join(nord[1:5], ",") != "6,4,1,1" || nord[9] != "2" {
		t.Errorf("gs-nord devices, up, down, unknown, open outages: %q", nord)
	}
	if strings.Join(sued[1:5], ",") != "4,4,0,0" || sued[9] != "0" {
		t.Errorf("gs-sued devices, up, down, unknown, open outages: %q", sued)
	}
	// 35 minutes down within the hour the NAS has existed: far below the
	// target, the budget overspent.
	if a := percent(t, nord[6]); a >= 99 || a <= 50 || !strings.Contains(nord[6], "verfehlt") || nord[7] != "99.98 %" || !strings.HasPrefix(nord[8], "-") {
		t.Errorf("gs-nord availability %q, target %q, budget left %q", nord[6], nord[7], nord[8])
	}
	if a := percent(t, sued[6]); a != 100 || strings.Contains(sued[6], "verfehlt") || strings.HasPrefix(sued[8], "-") || !strings.Contains(sued[8], "Min.") {
		t.Errorf("gs-sued availability %q, budget left %q", sued[6], sued[8])
	}
	navigate(t, ctx, e.URL+"/?problems=1", "#fleet-summary")
	if got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("tr.site-row")).map(r => r.dataset.site)`); len(got) != 1 || got[0] != "gs-nord" {
		t.Errorf("only problems: %v, want [gs-nord]", got)
	}

	// Site: device states, open outages with cause and duration, the trap.
	navigate(t, ctx, e.URL+"/sites/gs-nord", "#outages")
	for dev, want := range map[string]string{"nas-gs-nord": "ausgefallen", "kopierer-gs-nord": "unbekannt", "srv-gs-nord": "erreichbar", "sw-gs-nord-1": "erreichbar"} {
		if c := rowCells(t, ctx, `tr.device[data-device="`+dev+`"]`); c[1] != want {
			t.Errorf("site page: %s is %q, want %q", dev, c[1], want)
		}
	}
	out := rows(t, ctx, "#outages + table tbody tr")
	if len(out) != 2 || !hasRow(out, "nas-gs-nord|ausgefallen|kein Lebenszeichen des Agenten|") || !hasRow(out, "srv-gs-nord/moodle-http|ausgefallen|Prüfung fehlgeschlagen|") {
		t.Errorf("site outages: %q", out)
	}
	// The cause's code stays at hand in the cell's title.
	if got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#outages + table tbody td[title]")).map(c => c.title).sort()`); strings.Join(got, ",") != "check_failed,heartbeat_lost" {
		t.Errorf("cause codes in titles: %q", got)
	}
	if h := text(t, ctx, "#outages") + " / " + text(t, ctx, "#events"); h != "Ausfälle (30 Tage) / Trap-Ereignisse (7 Tage)" {
		t.Errorf("site page headings: %q", h)
	}
	for _, r := range out {
		c := strings.Split(r, "|")
		d, err := time.ParseDuration(c[5])
		// The NAS's outage starts one interval (5 min) after its last
		// heartbeat 40 minutes ago.
		if c[4] != "läuft" || err != nil || (c[0] == "nas-gs-nord" && (d < 34*time.Minute || d > 40*time.Minute)) {
			t.Errorf("outage row %q: want ongoing, the NAS's about 35 minutes", r)
		}
	}
	if ev := rows(t, ctx, "#events + table tbody tr"); len(ev) != 1 || !strings.HasSuffix(ev[0], "|sw-gs-nord-1|linkDown|Link Gi1/0/2 down (Raum 12)") {
		t.Errorf("site trap events: %q", ev)
	}
	screenshot(t, ctx, "site-problems")
	// The other school's page has none of it.
	navigate(t, ctx, e.URL+"/sites/gs-sued", "#outages")
	if s := text(t, ctx, "main"); !strings.Contains(s, "Keine Ausfälle.") || !strings.Contains(s, "Keine Ereignisse.") || strings.Contains(s, "nas-gs-nord") {
		t.Errorf("gs-sued shows gs-nord's outages or events:\n%s", s)
	}

	// Device: its checks, only its own outages.
	navigate(t, ctx, e.URL+"/sites/gs-nord/devices/srv-gs-nord", "#chart[data-drawn]")
	all := rows(t, ctx, "main table tbody tr")
	// The passing check was never down: no "since —".
	if !hasRow(all, "dns-schule|erreichbar|kein Ausfall in 90 Tagen") || !hasRow(all, "moodle-http|ausgefallen|20") {
		t.Errorf("device checks: %q", all)
	}
	// The headings name the days the lists hold.
	if h := text(t, ctx, "#outages") + " / " + text(t, ctx, "#events"); h != "Ausfälle (90 Tage) / Trap-Ereignisse (30 Tage)" {
		t.Errorf("device page headings: %q", h)
	}
	if !hasRow(all, "srv-gs-nord/moodle-http|ausgefallen|Prüfung fehlgeschlagen|") || hasRow(all, "nas-gs-nord") {
		t.Errorf("device outages: %q", all)
	}
	navigate(t, ctx, e.URL+"/sites/gs-nord/devices/nas-gs-nord", "#chart")
	if all := rows(t, ctx, "main table tbody tr"); len(all) != 1 || !hasRow(all, "nas-gs-nord|ausgefallen|kein Lebenszeichen des Agenten|") {
		t.Errorf("NAS outages: %q", all)
	}
	if s := text(t, ctx, "main .summary"); !strings.Contains(s, "Status: ausgefallen") {
		t.Errorf("NAS summary: %q", s)
	}

	// SNMP charts of the switch: traffic has one port with data, errors two.
	navigate(t, ctx, e.URL+"/sites/gs-nord/devices/sw-gs-nord-1?metric=if_in&range=6h", "#chart[data-drawn]")
	if n := eval[string](t, ctx, `document.getElementById("chart").dataset.drawn`); n != "1" || !strings.Contains(text(t, ctx, "#chart"), "Gi1/0/1") {
		t.Errorf("switch traffic chart: %s series, legend %q", n, text(t, ctx, "#chart"))
	}
	if ev := rows(t, ctx, "main table tbody tr"); len(ev) == 0 || !strings.HasSuffix(ev[len(ev)-1], "|linkDown|Link Gi1/0/2 down (Raum 12)") {
		t.Errorf("switch events: %q", ev)
	}
	// Ranges of a day and more read the five-minute rollups, which the
	// store builds every minute: build them now.
	if err := e.Srv.Store.(*sqlite.Store).Rollup(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, e.URL+"/sites/gs-nord/devices/sw-gs-nord-1?metric=if_errors&range=24h", "#chart[data-drawn]")
	if n := eval[string](t, ctx, `document.getElementById("chart").dataset.drawn`); n != "2" {
		t.Errorf("switch error chart: %s series, want 2 ports", n)
	}
	screenshot(t, ctx, "device-snmp")

	// Everything came from the collector itself.
	n, bad := reqs.foreign(e.URL)
	if len(bad) > 0 {
		t.Errorf("requests outside the collector: %v", bad)
	}
	seen := strings.Join(reqs.urls, " ")
	if n < 10 || !strings.Contains(seen, "/static/vendor/uplot") || !strings.Contains(seen, "/api/v1/series?") {
		t.Errorf("request log looks incomplete (%d requests): %s", n, seen)
	}
}
