package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/schulmon/schulmon/collector/enroll"
)

type enrollRow struct {
	enroll.Token
	State string
}

type enrollData struct {
	Tokens []enrollRow
	Sites  []string
	Secret string
	// CollectorURL is this collector as the browser reached it, for the
	// enroll command shown with a new token.
	CollectorURL string
}

// collectorURL is the collector's base URL as the client sees it. A
// proxy that terminates TLS says so in X-Forwarded-Proto; trusting it is
// harmless here, as it only changes the text shown to this client.
func collectorURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (u *UI) renderEnrollment(w http.ResponseWriter, r *http.Request, status int, errMsg, secret string) {
	if u.enroll == nil {
		u.fail(w, r, http.StatusServiceUnavailable, "enrollment tokens are not available")
		return
	}
	d := &enrollData{Secret: secret, CollectorURL: collectorURL(r)}
	list, err := u.enroll.List(r.Context())
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	now := u.now()
	for _, t := range list {
		d.Tokens = append(d.Tokens, enrollRow{Token: t, State: t.State(now)})
	}
	sites, err := u.dir.Sites(r.Context(), nil)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	for _, s := range sites {
		d.Sites = append(d.Sites, s.Name)
	}
	u.render(w, r, "enrollment.html", status, page{Nav: "admin", Title: tr(lang(r), "enrollment"), Error: errMsg, Data: d})
}

func (u *UI) enrollmentPage(w http.ResponseWriter, r *http.Request) {
	u.renderEnrollment(w, r, http.StatusOK, "", "")
}

func (u *UI) enrollmentCreate(w http.ResponseWriter, r *http.Request) {
	if u.enroll == nil {
		u.fail(w, r, http.StatusServiceUnavailable, "enrollment tokens are not available")
		return
	}
	s, err := u.dir.SiteByName(r.Context(), r.PostFormValue("site"))
	if err != nil {
		u.renderEnrollment(w, r, http.StatusBadRequest, err.Error(), "")
		return
	}
	ttl, err := time.ParseDuration(strings.TrimSpace(r.PostFormValue("ttl")))
	if err != nil {
		u.renderEnrollment(w, r, http.StatusBadRequest, "ttl: "+err.Error()+" (e.g. 24h)", "")
		return
	}
	uses := 0
	if v := strings.TrimSpace(r.PostFormValue("max_uses")); v != "" {
		if uses, err = strconv.Atoi(v); err != nil {
			u.renderEnrollment(w, r, http.StatusBadRequest, "max uses: give a whole number (0: unlimited until expiry)", "")
			return
		}
	}
	secret, t, err := u.enroll.Create(r.Context(), s, ttl, uses, strings.TrimSpace(r.PostFormValue("description")))
	if err != nil {
		u.renderEnrollment(w, r, http.StatusBadRequest, err.Error(), "")
		return
	}
	u.log.Info("enrollment token created", "by", sessionFrom(r).User.Name, "prefix", t.Prefix, "site", t.Site, "expires", t.ExpiresAt)
	u.renderEnrollment(w, r, http.StatusOK, "", secret)
}

func (u *UI) enrollmentRevoke(w http.ResponseWriter, r *http.Request) {
	if u.enroll == nil {
		u.fail(w, r, http.StatusServiceUnavailable, "enrollment tokens are not available")
		return
	}
	if err := u.enroll.Revoke(r.Context(), r.PathValue("id")); err != nil {
		u.renderEnrollment(w, r, http.StatusNotFound, err.Error(), "")
		return
	}
	u.log.Info("enrollment token revoked", "by", sessionFrom(r).User.Name, "token", r.PathValue("id"))
	u.renderEnrollment(w, r, http.StatusOK, "", "")
}
