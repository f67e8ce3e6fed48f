package channels_test

import (
	"strings"
	"testing"

	"github.com/schulmon/schulmon/collector/alerting"
	"github.com/schulmon/schulmon/collector/alerting/channels"
)

func TestRenderKinds(t *testing.T) {
	down := downAlert(1, "gs-nord", "sw-1")
	burn := alerting.Alert{Key: "burn:1:fast:1", Kind: alerting.KindBurnRate, Status: alerting.StatusFiring, Severity: "critical", Municipality: "Moers",
		Site: "gs-nord", Device: "srv-1", At: t0, Start: t0, BurnRate: &alerting.BurnRate{Rule: "fast", Factor: 14.4, LongWindow: "1h0m0s", ShortWindow: "5m0s",
			LongRate: 20.5, ShortRate: 31, TargetPercent: "99.9800", BudgetPeriod: "30d"}}
	burnOK := burn
	burnOK.Kind, burnOK.Status, burnOK.Severity = alerting.KindBurnRateResolved, alerting.StatusResolved, "info"
	revoked := down
	revoked.Kind, revoked.Status = alerting.KindOutageRevoked, alerting.StatusResolved
	check := down
	check.Check, check.Device = "https-portal", "srv-1"
	for _, c := range []struct {
		a        alerting.Alert
		lang     string
		subject  string
		contains string
	}{
		{down, "de", "[schulmon] AUSFALL: gs-nord/sw-1 (Moers)", "2 abhängige Geräte sind dadurch nicht erreichbar: ap-1, ap-2"},
		{down, "en", "[schulmon] DOWN: gs-nord/sw-1 (Moers)", "is down since 2026-11-04 09:15 CET. Cause: SNMP poll timed out"},
		{recovered(down), "de", "[schulmon] WIEDER ERREICHBAR: gs-nord/sw-1 (Moers)", "nach 17 Min. 0 Sek. Ausfall"},
		{recovered(down), "en", "[schulmon] RECOVERED: gs-nord/sw-1 (Moers)", "after 17 min 0 s of downtime"},
		{revoked, "de", "[schulmon] ENTWARNUNG: gs-nord/sw-1 (Moers)", "nachgelieferte Daten"},
		{burn, "de", "[schulmon] FEHLERBUDGET: gs-nord/srv-1 verbraucht 14.4× zu schnell", "20.5-fach über 1h0m0s und 31.0-fach über 5m0s"},
		{burn, "en", "[schulmon] ERROR BUDGET: gs-nord/srv-1 burning 14.4× too fast", "target 99.9800 %"},
		{burnOK, "de", "[schulmon] FEHLERBUDGET OK: gs-nord/srv-1", "wieder im erlaubten Tempo"},
		{check, "de", "[schulmon] AUSFALL: gs-nord/srv-1/https-portal (Moers)", "Dienst srv-1 / https-portal am Standort gs-nord"},
		{down, "both", "[schulmon] AUSFALL: gs-nord/sw-1 (Moers)", "Device sw-1 at site gs-nord (Moers) is down"},
	} {
		m := channels.Messages{Lang: c.lang, PublicURL: "https://m.example/"}.Render(c.a)
		if m.Subject != c.subject || !strings.Contains(m.Text, c.contains) {
			t.Errorf("%s/%s:\nsubject %q\ntext %q\nwant subject %q containing %q", c.a.Kind, c.lang, m.Subject, m.Text, c.subject, c.contains)
		}
		if m.Link != "https://m.example/sites/gs-nord/devices/"+c.a.Device {
			t.Errorf("link %q", m.Link)
		}
	}
}

func TestRouteMatches(t *testing.T) {
	a := downAlert(1, "gs-nord", "sw-1")
	a.Severity = "warning"
	for _, c := range []struct {
		r    channels.Route
		want bool
	}{
		{channels.Route{}, true},
		{channels.Route{Municipalities: []string{"Moers"}}, true},
		{channels.Route{Municipalities: []string{"Kamp-Lintfort"}}, false},
		{channels.Route{Sites: []string{"gs-sued", "gs-nord"}}, true},
		{channels.Route{Sites: []string{"gs-sued"}}, false},
		{channels.Route{MinSeverity: "warning"}, true},
		{channels.Route{MinSeverity: "critical"}, false},
	} {
		if got := c.r.Matches(a); got != c.want {
			t.Errorf("%+v: %v", c.r, got)
		}
	}
	// A recovery (severity info) passes a min_severity route.
	if !(channels.Route{MinSeverity: "critical"}).Matches(recovered(a)) {
		t.Error("recovery filtered by min_severity")
	}
}
