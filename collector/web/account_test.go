package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// tabTo presses Tab until the element with id has the focus (at most max
// times), as someone without a mouse would.
func tabTo(t *testing.T, ctx context.Context, id string, max int) {
	t.Helper()
	for i := 0; i < max; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if eval[string](t, ctx, `document.activeElement.id`) == id {
			return
		}
	}
	t.Fatalf("%d Tabs do not reach #%s (focus on %q)", max, id, eval[string](t, ctx, `document.activeElement.outerHTML.slice(0, 120)`))
}

// typeKeys types s into the focused element and ends with Enter.
func typeKeys(t *testing.T, ctx context.Context, s string, enter bool) {
	t.Helper()
	if enter {
		s += kb.Enter
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(s)); err != nil {
		t.Fatal(err)
	}
}

func logout(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#username"))); err != nil {
		t.Fatalf("log out: %v", err)
	}
}

// TestBrowserAccountAndAdmin: a keyboard-only login and form submit, the
// own password change, an operator creating a school admin who then sees
// only that school, the report's municipality and class filters, and the
// planner's printable page.
func TestBrowserAccountAndAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)

	// Keyboard only: Tab to the user name, type, Tab, type, Enter.
	navigate(t, ctx, e.URL+"/login", "#username")
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`)); err != nil {
		t.Fatal(err)
	}
	tabTo(t, ctx, "username", 8)
	typeKeys(t, ctx, "anna", false)
	tabTo(t, ctx, "password", 1)
	typeKeys(t, ctx, pwAnna, true)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#fleet-summary"))); err != nil {
		t.Fatalf("keyboard login: %v", err)
	}

	// Password change, the form sent with Enter from its last field.
	const newPw = "anna-neues-passwort-7"
	navigate(t, ctx, e.URL+"/account", "#old")
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS("#old"))); err != nil {
		t.Fatal(err)
	}
	typeKeys(t, ctx, pwAnna, false)
	tabTo(t, ctx, "new", 1)
	typeKeys(t, ctx, newPw, false)
	tabTo(t, ctx, "repeat", 1)
	typeKeys(t, ctx, newPw, true)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".flash"))); err != nil {
		t.Fatalf("password change: %v", err)
	}
	if s := text(t, ctx, ".flash"); s != "Passwort geändert." {
		t.Errorf("after the change: %q", s)
	}
	// The session that changed it goes on; the old password is dead.
	navigate(t, ctx, e.URL+"/", "#fleet-summary")
	logout(t, ctx)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#username"), "anna"), chromedp.SendKeys(chromedp.CSS("#password"), pwAnna),
		chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitVisible(chromedp.CSS(".error"))); err != nil {
		t.Fatal(err)
	}
	login(t, ctx, e.URL, "anna", newPw)
	logout(t, ctx)

	// The operator creates a school admin for gs-sued.
	login(t, ctx, e.URL, "olga", pwOperator)
	navigate(t, ctx, e.URL+"/admin/users", "#add-user")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#nu-name"), "bert"), chromedp.SetValue(chromedp.CSS("#nu-role"), "school_admin"),
		chromedp.Evaluate[chromedp.Void](`Array.from(document.getElementById("nu-sites").options).forEach(o => o.selected = o.value === "gs-sued")`),
		chromedp.SendKeys(chromedp.CSS("#nu-password"), "bert-passwort-12"), chromedp.Submit(chromedp.CSS("#nu-name")),
		chromedp.WaitVisible(chromedp.CSS(`#users tr[data-user="bert"]`))); err != nil {
		t.Fatalf("create user: %v", err)
	}
	if c := rowCells(t, ctx, `#users tr[data-user="bert"]`); c[2] != "gs-sued" || !strings.Contains(c[1], "Schul") {
		t.Errorf("new user's row: %q", c)
	}

	// Report filters: municipality, then class (per object).
	navigate(t, ctx, e.URL+"/reports/availability?period=rolling-30d&group_by=site", "#report-table")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#municipality"), "Moers"), chromedp.Submit(chromedp.CSS("#municipality")),
		chromedp.WaitVisible(chromedp.CSS("#report-table"))); err != nil {
		t.Fatal(err)
	}
	if names := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#report-table tbody th")).map(c => c.textContent.trim())`); len(names) != 1 || !strings.HasPrefix(names[0], "gs-nord ") {
		t.Errorf("report for Moers: %q", names)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#municipality"), ""), chromedp.SetValue(chromedp.CSS("#class"), "printer"),
		chromedp.SetValue(chromedp.CSS("#group_by"), "object"), chromedp.Submit(chromedp.CSS("#class")), chromedp.WaitVisible(chromedp.CSS("#report-table"))); err != nil {
		t.Fatal(err)
	}
	rs := rows(t, ctx, "#report-table tbody tr")
	if len(rs) != 3 || !hasRow(rs, "gs-nord/drucker-gs-nord|") || !hasRow(rs, "gs-sued/drucker-gs-sued|") || !hasRow(rs, "gs-nord/kopierer-gs-nord|") {
		t.Errorf("printers in the report: %q", rs)
	}
	for _, r := range rs {
		if c := strings.Split(r, "|"); len(c) < 2 || c[1] != "printer" {
			t.Errorf("class filter printer shows %q", r)
		}
	}
	// The planner's printable page: no header, no scenario form.
	navigate(t, ctx, e.URL+"/planner?print=1", "#methods-table")
	if v := eval[string](t, ctx, `getComputedStyle(document.querySelector("header")).display + " " + getComputedStyle(document.getElementById("scenario-form")).display`); v != "none none" {
		t.Errorf("printable planner: header and form display %q", v)
	}
	if eval[int](t, ctx, `document.querySelectorAll("body.print #methods-table tbody tr").length`) < 3 {
		t.Error("printable planner has no methods table")
	}
	screenshot(t, ctx, "planner-print")
	navigate(t, ctx, e.URL+"/", "#fleet-summary")
	logout(t, ctx)

	// The new school admin sees gs-sued, not gs-nord.
	login(t, ctx, e.URL, "bert", "bert-passwort-12")
	if s := text(t, ctx, "main"); !strings.Contains(s, "gs-sued") || strings.Contains(s, "gs-nord") {
		t.Errorf("bert's fleet page:\n%s", s)
	}
}
