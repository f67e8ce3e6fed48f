package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a fresh headless Debian chromium.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("SCHULMON_QUICK") == "1" {
			t.Skip("chromium not installed (SCHULMON_QUICK=1)")
		}
		t.Fatalf("%s not found: run make deps (Debian package chromium), or set SCHULMON_QUICK=1 to skip browser tests", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 180*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	// A German browser, as schools have.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func artifactDir(t *testing.T) string {
	dir := filepath.Join("..", "..", "test-artifacts", "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unlabelled lists the form fields without a label (for=, wrapping label
// or aria-label) and images without alternative text.
const unlabelled = `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea")).filter(e =>
	!(e.id && document.querySelector("label[for='" + e.id + "']")) && !e.closest("label") && !e.getAttribute("aria-label")).map(e => e.name || e.outerHTML)`

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if bad := eval[[]string](t, ctx, unlabelled); len(bad) > 0 {
		t.Errorf("%s page: form fields without a label: %v", name, bad)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifactDir(t), name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, ctx context.Context, base, user, pw string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#fleet-summary")),
	); err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func TestBrowserOperator(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)

	// Keyboard: the first Tab reaches the skip link, Enter follows it.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#username"))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`), chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatal(err)
	}
	if got := eval[string](t, ctx, `document.activeElement.className`); got != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}
	if got := eval[string](t, ctx, `document.documentElement.lang`); got != "de" {
		t.Errorf("German browser got lang %q", got)
	}
	screenshot(t, ctx, "login")

	// A wrong password is refused.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#username"), "olga"), chromedp.SendKeys(chromedp.CSS("#password"), "falsch-falsch"),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS(".error"))); err != nil {
		t.Fatal(err)
	}
	if s := text(t, ctx, ".error"); !strings.Contains(s, "Anmeldung fehlgeschlagen") {
		t.Errorf("wrong password: %q", s)
	}

	login(t, ctx, e.URL, "olga", pwOperator)
	body := text(t, ctx, "main")
	for _, want := range []string{"gs-nord", "gs-sued", "Moers", "Kamp-Lintfort"} {
		if !strings.Contains(body, want) {
			t.Errorf("operator's fleet page lacks %q", want)
		}
	}
	screenshot(t, ctx, "fleet")

	// Filters: search narrows to one school.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/?q=nord"), chromedp.WaitVisible(chromedp.CSS("#fleet-summary"))); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("tr.site-row").length`); n != 1 {
		t.Errorf("search 'nord' shows %d sites, want 1", n)
	}

	// Site page with devices and switch ports.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/sites/gs-nord"), chromedp.WaitVisible(chromedp.CSS("#ports"))); err != nil {
		t.Fatal(err)
	}
	body = text(t, ctx, "main")
	for _, want := range []string{"sw-gs-nord-1", "Gi1/0/1", "Gi1/0/2", "1.0 Mbit/s", "ap-gs-nord-1", "drucker-gs-nord", "00:1b:2c:3d:4e:5f", "beamer-raum-12"} {
		if !strings.Contains(body, want) {
			t.Errorf("site page lacks %q", want)
		}
	}
	if poe := eval[string](t, ctx, `Array.from(document.querySelectorAll("#ports ~ table tbody tr")).filter(r => r.textContent.includes("Gi1/0/1"))[0].lastElementChild.textContent`); poe != "an" {
		t.Errorf("PoE of Gi1/0/1: %q, want an", poe)
	}
	screenshot(t, ctx, "site")

	// Device page: the chart draws the CPU series (uPlot, served from the binary).
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/sites/gs-nord/devices/srv-gs-nord?metric=cpu&range=6h"),
		chromedp.WaitVisible(chromedp.CSS("#chart[data-drawn]")), chromedp.WaitVisible(chromedp.CSS("canvas"))); err != nil {
		t.Fatalf("chart: %v", err)
	}
	screenshot(t, ctx, "device")

	// Availability report and its CSV export.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/reports/availability?period=rolling-30d&group_by=site"), chromedp.WaitVisible(chromedp.CSS("#report-table"))); err != nil {
		t.Fatal(err)
	}
	if s := text(t, ctx, "#rule-text"); s == "" {
		t.Error("report shows no rule")
	}
	csvBody := eval[string](t, ctx, `fetch(document.getElementById("export-csv").href).then(r => r.text())`)
	if !strings.HasPrefix(csvBody, "kind,name,") || !strings.Contains(csvBody, "gs-nord") || !strings.Contains(csvBody, "gs-sued") {
		t.Errorf("CSV export:\n%s", csvBody)
	}
	screenshot(t, ctx, "report")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#print-link")), chromedp.WaitReady(chromedp.CSS("body.print #report-table"))); err != nil {
		t.Fatal(err)
	}
	if v := eval[string](t, ctx, `getComputedStyle(document.querySelector("header")).display`); v != "none" {
		t.Errorf("printable page shows the header (display %s)", v)
	}

	// Inventory import, then the planner and a what-if scenario.
	csvPath := filepath.Join(t.TempDir(), "inventar.csv")
	if err := os.WriteFile(csvPath, []byte("municipality;site;class;count\nMoers;gs-nord;endpoint;400\nKamp-Lintfort;gs-sued;endpoint;400\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/admin/inventory"), chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{csvPath}),
		chromedp.Submit(chromedp.CSS("#file")), chromedp.WaitVisible(chromedp.CSS(".flash"))); err != nil {
		t.Fatalf("inventory import: %v", err)
	}
	if s := text(t, ctx, ".flash"); !strings.Contains(s, "800") {
		t.Errorf("import message %q does not count 800 devices", s)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/planner"), chromedp.WaitVisible(chromedp.CSS("#methods-table"))); err != nil {
		t.Fatal(err)
	}
	before := fteOf(t, ctx, "device_ratio")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#ratio"), "200"), chromedp.Click(chromedp.CSS("#compute")),
		chromedp.WaitVisible(chromedp.CSS("#sc-h"))); err != nil {
		t.Fatal(err)
	}
	after := fteOf(t, ctx, "device_ratio")
	if before <= 0 || after < 1.9*before || after > 2.1*before {
		t.Errorf("device ratio FTE before %.2f, with 1:200 %.2f: want twice as much", before, after)
	}
	if d := text(t, ctx, `tr[data-method="device_ratio"] td.delta`); d == "" || strings.HasPrefix(d, "0.00") {
		t.Errorf("scenario delta %q", d)
	}
	screenshot(t, ctx, "planner")
	staffCSV := eval[string](t, ctx, `fetch(document.getElementById("export-csv").href).then(r => r.text())`)
	if !strings.Contains(staffCSV, "device_ratio") {
		t.Errorf("staffing CSV:\n%.500s", staffCSV)
	}

	// Users page, and the language switch (remembered).
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("#users"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "users")
	// An enrollment token for a school's agent, shown once.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/admin/enrollment"), chromedp.WaitVisible(chromedp.CSS("#en-site")),
		chromedp.Submit(chromedp.CSS("#en-site")), chromedp.WaitVisible(chromedp.CSS("#new-enrollment"))); err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	if tok := text(t, ctx, "#new-enrollment"); len(tok) < 20 {
		t.Errorf("enrollment token %q", tok)
	}
	screenshot(t, ctx, "enrollment")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#lang-switch")), chromedp.WaitVisible(chromedp.CSS(`html[lang="en"] main h1`))); err != nil {
		t.Fatal(err)
	}
	if got := eval[string](t, ctx, `document.documentElement.lang`); got != "en" {
		t.Errorf("after switching: lang %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#fleet-summary"))); err != nil {
		t.Fatal(err)
	}
	if s := text(t, ctx, "header"); !strings.Contains(s, "Log out") {
		t.Errorf("English not remembered: header %q", s)
	}
	screenshot(t, ctx, "fleet-en")
}

func fteOf(t *testing.T, ctx context.Context, method string) float64 {
	t.Helper()
	s := text(t, ctx, `tr[data-method="`+method+`"] td.fte`)
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("FTE of %s: %q", method, s)
	}
	return f
}

func TestBrowserSchoolAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)
	login(t, ctx, e.URL, "anna", pwAnna)
	body := text(t, ctx, "main")
	if !strings.Contains(body, "gs-nord") || strings.Contains(body, "gs-sued") || strings.Contains(body, "Kamp-Lintfort") {
		t.Errorf("school admin of gs-nord sees:\n%s", body)
	}
	// Direct URLs of the other school: not found, pages and API alike.
	for path, want := range map[string]int{
		"/sites/gs-sued": 404, "/sites/gs-sued/devices/sw-gs-sued-1": 404, "/api/v1/sites/gs-sued/devices": 404,
		"/reports/availability?site=gs-sued": 404, "/api/v1/series?site=gs-sued&device=srv-gs-sued&measurement=cpu&field=usage_user": 404,
		"/admin/users": 403, "/sites/gs-nord": 200,
	} {
		if got := eval[int](t, ctx, `fetch("`+path+`").then(r => r.status)`); got != want {
			t.Errorf("GET %s as school admin: %d, want %d", path, got, want)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/sites/gs-sued"), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		t.Fatal(err)
	}
	if s := text(t, ctx, "main"); strings.Contains(s, "sw-gs-sued-1") || !strings.Contains(s, "Nicht gefunden") {
		t.Errorf("direct URL of the other school shows:\n%s", s)
	}

	// A maintenance window for the own school: create, then edit.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/maintenance"), chromedp.WaitVisible(chromedp.CSS("#maintenance-form")),
		chromedp.SetValue(chromedp.CSS("#mw-start"), "2027-01-13T22:00"),
		chromedp.SetValue(chromedp.CSS("#mw-duration"), "3h"),
		chromedp.SetValue(chromedp.CSS("#mw-repeat"), "weekly"),
		chromedp.SendKeys(chromedp.CSS("#mw-reason"), "Switch-Firmware"),
		chromedp.Click(chromedp.CSS("#mw-save")),
		chromedp.WaitVisible(chromedp.CSS("#windows tbody tr[data-id]"))); err != nil {
		t.Fatalf("create maintenance window: %v", err)
	}
	row := text(t, ctx, "#windows tbody")
	if !strings.Contains(row, "site=gs-nord") || !strings.Contains(row, "Switch-Firmware") || !strings.Contains(row, "FREQ=WEEKLY") {
		t.Errorf("maintenance list: %q", row)
	}
	screenshot(t, ctx, "maintenance")
	edit := eval[string](t, ctx, `document.querySelector("#windows tbody tr[data-id] a").href`)
	if err := chromedp.Do(ctx, chromedp.Navigate(edit), chromedp.WaitVisible(chromedp.CSS("#maintenance-form")),
		chromedp.SetValue(chromedp.CSS("#mw-reason"), "Firmware 17.9"), chromedp.Click(chromedp.CSS("#mw-save")),
		chromedp.WaitVisible(chromedp.CSS("#windows tbody tr[data-id]"))); err != nil {
		t.Fatalf("edit maintenance window: %v", err)
	}
	if row := text(t, ctx, "#windows tbody"); !strings.Contains(row, "Firmware 17.9") || strings.Contains(row, "Switch-Firmware") {
		t.Errorf("after edit: %q", row)
	}
	// A window for the other school is refused, also when posted directly.
	st := eval[int](t, ctx, `fetch("/maintenance", {method: "POST", body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value,
		site: "gs-sued", start: "2027-01-13T22:00", duration: "2h", repeat: "none"})}).then(r => r.status)`)
	if st != 404 && st != 403 {
		t.Errorf("maintenance for the other school: HTTP %d", st)
	}
	// Without the CSRF token even the own school is refused.
	st = eval[int](t, ctx, `fetch("/maintenance", {method: "POST", body: new URLSearchParams({site: "gs-nord", start: "2027-01-13T22:00", duration: "2h"})}).then(r => r.status)`)
	if st != 403 {
		t.Errorf("POST without CSRF token: HTTP %d, want 403", st)
	}
	// Logout ends the session.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#fleet-summary")),
		chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#username"))); err != nil {
		t.Fatal(err)
	}
	if got := eval[int](t, ctx, `fetch("/api/v1/sites").then(r => r.status)`); got != 401 {
		t.Errorf("API after logout: %d, want 401", got)
	}
}

func TestBrowserPlannerReadOnly(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)
	login(t, ctx, e.URL, "paul", pwPlanner)
	if !strings.Contains(text(t, ctx, "main"), "gs-sued") {
		t.Error("planner does not see all schools")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/maintenance"), chromedp.WaitVisible(chromedp.CSS("#windows"))); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#maintenance-form").length`); n != 0 {
		t.Error("planner gets a maintenance form")
	}
	st := eval[int](t, ctx, `fetch("/maintenance", {method: "POST", body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value,
		site: "gs-nord", start: "2027-01-13T22:00", duration: "2h", repeat: "none"})}).then(r => r.status)`)
	if st != 403 {
		t.Errorf("planner creating a maintenance window: HTTP %d, want 403", st)
	}
	if got := eval[int](t, ctx, `fetch("/admin/tokens").then(r => r.status)`); got != 403 {
		t.Errorf("planner on the tokens page: %d", got)
	}
}
