package channels

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/alerting"
)

type contextT = context.Context

// Messages renders alerts as text in German, English or both.
type Messages struct {
	Lang      string // de, en, both
	PublicURL string // base URL of the web UI for links
}

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return l
}()

// Message is one rendered alert.
type Message struct {
	Subject string
	Text    string
	// Facts are label/value pairs for cards (Teams).
	Facts [][2]string
	Link  string
}

func fmtWhen(t time.Time, lang string) string {
	t = t.In(berlin)
	if lang == "de" {
		return t.Format("02.01.2006 15:04 Uhr")
	}
	return t.Format("2006-01-02 15:04 MST")
}

func fmtDur(sec float64, lang string) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	unit := map[string][3]string{"de": {"Std.", "Min.", "Sek."}, "en": {"h", "min", "s"}}[lang]
	switch {
	case h > 0:
		return fmt.Sprintf("%d %s %d %s", h, unit[0], m, unit[1])
	case m > 0:
		return fmt.Sprintf("%d %s %d %s", m, unit[1], s, unit[2])
	}
	return fmt.Sprintf("%d %s", s, unit[2])
}

var causeText = map[string]map[string]string{
	"de": {"heartbeat_lost": "kein Lebenszeichen des Agenten", "snmp_timeout": "SNMP-Abfrage ohne Antwort", "check_failed": "Prüfung fehlgeschlagen",
		"reboot": "Neustart", "trap": "SNMP-Trap", "parent_down": "übergeordnetes Gerät ausgefallen"},
	"en": {"heartbeat_lost": "no heartbeat from the agent", "snmp_timeout": "SNMP poll timed out", "check_failed": "check failed",
		"reboot": "reboot", "trap": "SNMP trap", "parent_down": "parent device down"},
}

func cause(c, lang string) string {
	if s, ok := causeText[lang][c]; ok {
		return s
	}
	return c
}

// what names the object: "Gerät switch-1 am Standort gs-nord (Moers)".
func what(a alerting.Alert, lang string) string {
	obj := a.Device
	if a.Check != "" {
		obj += " / " + a.Check
	}
	if lang == "de" {
		kind := "Gerät"
		if a.Check != "" {
			kind = "Dienst"
		}
		if obj == "" {
			return fmt.Sprintf("Standort %s (%s)", a.Site, a.Municipality)
		}
		return fmt.Sprintf("%s %s am Standort %s (%s)", kind, obj, a.Site, a.Municipality)
	}
	kind := "Device"
	if a.Check != "" {
		kind = "Service"
	}
	if obj == "" {
		return fmt.Sprintf("Site %s (%s)", a.Site, a.Municipality)
	}
	return fmt.Sprintf("%s %s at site %s (%s)", kind, obj, a.Site, a.Municipality)
}

func (m Messages) link(a alerting.Alert) string {
	if m.PublicURL == "" || a.Site == "" {
		return ""
	}
	u := strings.TrimRight(m.PublicURL, "/") + "/sites/" + url.PathEscape(a.Site)
	if a.Device != "" {
		u += "/devices/" + url.PathEscape(a.Device)
	}
	return u
}

// one renders the alert in one language.
func one(a alerting.Alert, lang string) (subject, text string) {
	w := what(a, lang)
	short := a.Site + "/" + a.Device
	if a.Check != "" {
		short += "/" + a.Check
	}
	de := lang == "de"
	switch a.Kind {
	case alerting.KindDeviceDown:
		if de {
			subject = fmt.Sprintf("AUSFALL: %s (%s)", short, a.Municipality)
			text = fmt.Sprintf("%s ist seit %s ausgefallen. Ursache: %s.", w, fmtWhen(a.Start, lang), cause(a.Cause, lang))
			if n := len(a.AffectedChildren); n > 0 {
				text += fmt.Sprintf(" %d abhängige Geräte sind dadurch nicht erreichbar: %s.", n, strings.Join(a.AffectedChildren, ", "))
			}
		} else {
			subject = fmt.Sprintf("DOWN: %s (%s)", short, a.Municipality)
			text = fmt.Sprintf("%s is down since %s. Cause: %s.", w, fmtWhen(a.Start, lang), cause(a.Cause, lang))
			if n := len(a.AffectedChildren); n > 0 {
				text += fmt.Sprintf(" %d dependent devices are unreachable because of it: %s.", n, strings.Join(a.AffectedChildren, ", "))
			}
		}
	case alerting.KindDeviceRecovered:
		if de {
			subject = fmt.Sprintf("WIEDER ERREICHBAR: %s (%s)", short, a.Municipality)
			text = fmt.Sprintf("%s ist wieder erreichbar, nach %s Ausfall (seit %s).", w, fmtDur(a.DurationSeconds, lang), fmtWhen(a.Start, lang))
		} else {
			subject = fmt.Sprintf("RECOVERED: %s (%s)", short, a.Municipality)
			text = fmt.Sprintf("%s is up again after %s of downtime (since %s).", w, fmtDur(a.DurationSeconds, lang), fmtWhen(a.Start, lang))
		}
	case alerting.KindOutageRevoked:
		if de {
			subject = fmt.Sprintf("ENTWARNUNG: %s (%s)", short, a.Municipality)
			text = fmt.Sprintf("%s war doch nicht ausgefallen: nachgelieferte Daten des Agenten belegen, dass es seit %s erreichbar war.", w, fmtWhen(a.Start, lang))
		} else {
			subject = fmt.Sprintf("ALL CLEAR: %s (%s)", short, a.Municipality)
			text = fmt.Sprintf("%s was not down after all: data replayed by its agent shows it was up since %s.", w, fmtWhen(a.Start, lang))
		}
	case alerting.KindBurnRate:
		br := a.BurnRate
		if br == nil {
			br = &alerting.BurnRate{}
		}
		if de {
			subject = fmt.Sprintf("FEHLERBUDGET: %s verbraucht %.1f× zu schnell", short, br.Factor)
			text = fmt.Sprintf("%s verbraucht sein Fehlerbudget (Ziel %s %%) zu schnell: %.1f-fach über %s und %.1f-fach über %s (Schwelle %.1f×, bezogen auf 30 Tage).",
				w, br.TargetPercent, br.LongRate, br.LongWindow, br.ShortRate, br.ShortWindow, br.Factor)
		} else {
			subject = fmt.Sprintf("ERROR BUDGET: %s burning %.1f× too fast", short, br.Factor)
			text = fmt.Sprintf("%s burns its error budget (target %s %%) too fast: %.1f× over %s and %.1f× over %s (threshold %.1f×, relative to 30 days).",
				w, br.TargetPercent, br.LongRate, br.LongWindow, br.ShortRate, br.ShortWindow, br.Factor)
		}
	case alerting.KindBurnRateResolved:
		if de {
			subject = fmt.Sprintf("FEHLERBUDGET OK: %s", short)
			text = fmt.Sprintf("%s verbraucht sein Fehlerbudget wieder im erlaubten Tempo.", w)
		} else {
			subject = fmt.Sprintf("ERROR BUDGET OK: %s", short)
			text = fmt.Sprintf("%s is back below the error budget burn-rate threshold.", w)
		}
	default:
		subject, text = a.Summary, a.Summary
	}
	return subject, text
}

// Render renders an alert in the configured language(s).
func (m Messages) Render(a alerting.Alert) Message {
	lang := m.Lang
	if lang == "" {
		lang = "de"
	}
	var msg Message
	switch lang {
	case "both":
		sde, tde := one(a, "de")
		_, ten := one(a, "en")
		msg.Subject, msg.Text = sde, tde+"\n\n"+ten
	default:
		msg.Subject, msg.Text = one(a, lang)
	}
	msg.Subject = "[schulmon] " + msg.Subject
	msg.Link = m.link(a)
	l := lang
	if l == "both" {
		l = "de"
	}
	labels := map[string][6]string{
		"de": {"Schulträger", "Standort", "Gerät", "Klasse", "Schwere", "Zeit"},
		"en": {"Municipality", "Site", "Device", "Class", "Severity", "Time"},
	}[l]
	for i, v := range []string{a.Municipality, a.Site, a.Device, a.Class, a.Severity, fmtWhen(a.At, l)} {
		if v != "" {
			msg.Facts = append(msg.Facts, [2]string{labels[i], v})
		}
	}
	return msg
}
