package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/schulmon/schulmon/collector/staffing"
	"github.com/schulmon/schulmon/collector/tenancy"
	"github.com/schulmon/schulmon/collector/users"
)

type usersData struct {
	Users []users.User
	Sites []string
	Roles []string
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request) {
	u.renderUsers(w, r, http.StatusOK, "", "")
}

func (u *UI) renderUsers(w http.ResponseWriter, r *http.Request, status int, errMsg, flash string) {
	d := &usersData{Roles: users.Roles}
	var err error
	if d.Users, err = u.deps.Users.List(r.Context()); err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	sites, err := u.dir.Sites(r.Context(), nil)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	for _, s := range sites {
		d.Sites = append(d.Sites, s.Name)
	}
	u.render(w, r, "users.html", status, page{Nav: "admin", Title: tr(lang(r), "users"), Error: errMsg, Flash: flash, Data: d})
}

func (u *UI) formSiteIDs(r *http.Request) ([]int64, error) {
	var ids []int64
	for _, n := range r.PostForm["sites"] {
		if n == "" {
			continue
		}
		s, err := u.dir.SiteByName(r.Context(), n)
		if err != nil {
			return nil, err
		}
		ids = append(ids, s.ID)
	}
	return ids, nil
}

func (u *UI) usersAdd(w http.ResponseWriter, r *http.Request) {
	ids, err := u.formSiteIDs(r)
	if err != nil {
		u.renderUsers(w, r, http.StatusBadRequest, err.Error(), "")
		return
	}
	role := r.PostFormValue("role")
	if role != tenancy.RoleSchoolAdmin {
		ids = nil
	}
	nu, err := u.deps.Users.Add(r.Context(), strings.TrimSpace(r.PostFormValue("name")), role, r.PostFormValue("password"), ids)
	if err != nil {
		u.renderUsers(w, r, http.StatusBadRequest, err.Error(), "")
		return
	}
	u.log.Info("web user added", "by", sessionFrom(r).User.Name, "user", nu.Name, "role", nu.Role)
	u.renderUsers(w, r, http.StatusOK, "", fmt.Sprintf(tr(lang(r), "user_added"), nu.Name))
}

func (u *UI) usersSetRole(w http.ResponseWriter, r *http.Request) {
	ids, err := u.formSiteIDs(r)
	if err != nil {
		u.renderUsers(w, r, http.StatusBadRequest, err.Error(), "")
		return
	}
	role := r.PostFormValue("role")
	if role != tenancy.RoleSchoolAdmin {
		ids = nil
	}
	if err := u.deps.Users.SetRole(r.Context(), r.PathValue("name"), role, ids); err != nil {
		status := http.StatusBadRequest
		if isNotFound(err) {
			status = http.StatusNotFound
		}
		u.renderUsers(w, r, status, err.Error(), "")
		return
	}
	u.log.Info("web user role changed", "by", sessionFrom(r).User.Name, "user", r.PathValue("name"), "role", role)
	u.renderUsers(w, r, http.StatusOK, "", tr(lang(r), "saved"))
}

func (u *UI) usersSetPassword(w http.ResponseWriter, r *http.Request) {
	if err := u.deps.Users.SetPassword(r.Context(), r.PathValue("name"), r.PostFormValue("password")); err != nil {
		u.renderUsers(w, r, http.StatusBadRequest, err.Error(), "")
		return
	}
	u.log.Info("web user password reset", "by", sessionFrom(r).User.Name, "user", r.PathValue("name"))
	u.renderUsers(w, r, http.StatusOK, "", tr(lang(r), "password_changed"))
}

func (u *UI) usersDelete(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("name") == sessionFrom(r).User.Name {
		u.renderUsers(w, r, http.StatusBadRequest, tr(lang(r), "cannot_delete_self"), "")
		return
	}
	if err := u.deps.Users.Delete(r.Context(), r.PathValue("name")); err != nil {
		u.renderUsers(w, r, http.StatusNotFound, err.Error(), "")
		return
	}
	u.log.Info("web user deleted", "by", sessionFrom(r).User.Name, "user", r.PathValue("name"))
	u.renderUsers(w, r, http.StatusOK, "", tr(lang(r), "saved"))
}

type tokensData struct {
	Tokens []tenancy.Token
	Sites  []string
	Secret string
}

func (u *UI) renderTokens(w http.ResponseWriter, r *http.Request, status int, errMsg, secret string) {
	d := &tokensData{Secret: secret}
	var err error
	if d.Tokens, err = u.dir.Tokens(r.Context()); err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	sites, err := u.dir.Sites(r.Context(), nil)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	for _, s := range sites {
		d.Sites = append(d.Sites, s.Name)
	}
	u.render(w, r, "tokens.html", status, page{Nav: "admin", Title: tr(lang(r), "tokens"), Error: errMsg, Data: d})
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request) {
	u.renderTokens(w, r, http.StatusOK, "", "")
}

func (u *UI) tokensCreate(w http.ResponseWriter, r *http.Request) {
	role := r.PostFormValue("role")
	var site *tenancy.Site
	if role == tenancy.RoleAgent {
		s, err := u.dir.SiteByName(r.Context(), r.PostFormValue("site"))
		if err != nil {
			u.renderTokens(w, r, http.StatusBadRequest, err.Error(), "")
			return
		}
		site = &s
	}
	secret, t, err := u.dir.CreateToken(r.Context(), role, site, strings.TrimSpace(r.PostFormValue("description")))
	if err != nil {
		u.renderTokens(w, r, http.StatusBadRequest, err.Error(), "")
		return
	}
	u.log.Info("token created", "by", sessionFrom(r).User.Name, "prefix", t.Prefix, "role", t.Role, "site", t.Site)
	u.renderTokens(w, r, http.StatusOK, "", secret)
}

func (u *UI) tokensRevoke(w http.ResponseWriter, r *http.Request) {
	if err := u.dir.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		u.renderTokens(w, r, http.StatusNotFound, err.Error(), "")
		return
	}
	u.log.Info("token revoked", "by", sessionFrom(r).User.Name, "token", r.PathValue("id"))
	u.renderTokens(w, r, http.StatusOK, "", "")
}

type inventoryData struct {
	Imported, Rows int
	File           string
}

func (u *UI) inventoryPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, "inventory.html", http.StatusOK, page{Nav: "admin", Title: tr(lang(r), "inventory"), Data: &inventoryData{}})
}

func (u *UI) inventoryImport(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	u.mu.Lock()
	h := u.staffing
	u.mu.Unlock()
	fail := func(status int, msg string) {
		u.render(w, r, "inventory.html", status, page{Nav: "admin", Title: tr(l, "inventory"), Error: msg, Data: &inventoryData{}})
	}
	if h == nil {
		fail(http.StatusServiceUnavailable, "staffing is not available")
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		fail(http.StatusBadRequest, tr(l, "choose_csv"))
		return
	}
	defer f.Close()
	rows, err := staffing.ParseCSV(f)
	if err != nil {
		fail(http.StatusBadRequest, fmt.Sprintf("%s: %v", fh.Filename, err))
		return
	}
	n, err := h.Store.ImportDevices(r.Context(), rows, fh.Filename, r.PostFormValue("append") != "1", h.Store.TenancyResolver())
	if err != nil {
		fail(http.StatusBadRequest, fmt.Sprintf("%s: %v", fh.Filename, err))
		return
	}
	u.log.Info("inventory imported", "by", sessionFrom(r).User.Name, "file", fh.Filename, "devices", n, "rows", len(rows))
	u.render(w, r, "inventory.html", http.StatusOK, page{Nav: "admin", Title: tr(l, "inventory"), Flash: fmt.Sprintf(tr(l, "imported"), n, len(rows), fh.Filename),
		Data: &inventoryData{Imported: n, Rows: len(rows), File: fh.Filename}})
}
