package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/schulmon/schulmon/collector/tenancy"
)

// ParentSetter is the directory's side of setting a device's parent;
// *tenancy.Directory implements it.
type ParentSetter interface {
	SetParent(ctx context.Context, siteID int64, name, parent string) error
}

// ParentRequest is the body of PUT …/parent.
type ParentRequest struct {
	Parent string `json:"parent"`
}

// ParentResponse says what was stored and whether the running
// availability engine has applied it yet.
type ParentResponse struct {
	Site    string `json:"site"`
	Device  string `json:"device"`
	Parent  string `json:"parent"`
	Source  string `json:"source"`  // "manual", or "" after a DELETE (LLDP may apply again)
	Applied bool   `json:"applied"` // false: the collector applies it within a minute
}

// setParent serves PUT and DELETE /api/v1/sites/{site}/devices/{device}/parent:
// an operator sets the device a device depends on (its uplink router or
// access switch), or removes that setting so that LLDP decides again.
func (h *Handler) setParent(w http.ResponseWriter, r *http.Request) {
	p := tenancy.FromContext(r.Context())
	if !p.IsOperator() {
		Error(w, http.StatusForbidden, "only operators may change dependencies between devices")
		return
	}
	ps, ok := h.Dir.(ParentSetter)
	if !ok {
		Error(w, http.StatusNotImplemented, "this collector's directory cannot store parents")
		return
	}
	s, err := SiteFor(r.Context(), h.Dir, p, r.PathValue("site"))
	if err != nil {
		Error(w, http.StatusNotFound, err.Error())
		return
	}
	var req ParentRequest
	if r.Method == http.MethodPut {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Parent == "" {
			Error(w, http.StatusBadRequest, `send {"parent": "NAME"} with the name of a device of the same site (DELETE removes the parent)`)
			return
		}
	}
	dev := r.PathValue("device")
	if err := ps.SetParent(r.Context(), s.ID, dev, req.Parent); err != nil {
		switch {
		case errors.Is(err, tenancy.ErrNotFound):
			Error(w, http.StatusNotFound, err.Error())
		case errors.Is(err, tenancy.ErrInvalidParent):
			Error(w, http.StatusBadRequest, err.Error())
		default:
			Error(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	out := ParentResponse{Site: s.Name, Device: dev, Parent: req.Parent}
	if req.Parent != "" {
		out.Source = "manual"
	}
	if h.ParentsChanged != nil {
		out.Applied = h.ParentsChanged(r.Context()) == nil
	}
	WriteJSON(w, http.StatusOK, out)
}
