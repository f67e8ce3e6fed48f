package tenancy

import "context"

// Principal is who a request acts for: an API token or a web user.
type Principal struct {
	Name     string
	Role     string
	TokenID  int64
	UserID   int64
	AllSites bool    // operators and planners
	SiteIDs  []int64 // otherwise: the sites it may read
	// WriteSite is the one site an agent token writes to; nil for others.
	WriteSite *Site
}

// CanReadSite reports whether p may see the site with that id.
func (p *Principal) CanReadSite(id int64) bool {
	if p == nil {
		return false
	}
	if p.AllSites {
		return true
	}
	for _, s := range p.SiteIDs {
		if s == id {
			return true
		}
	}
	return false
}

// CanManageSite reports whether p may change things of a site (maintenance
// windows, attributes): operators everywhere, school admins on their sites.
func (p *Principal) CanManageSite(id int64) bool {
	if p == nil {
		return false
	}
	switch p.Role {
	case RoleOperator:
		return true
	case RoleSchoolAdmin:
		return p.CanReadSite(id)
	}
	return false
}

// IsOperator reports whether p has the operator role.
func (p *Principal) IsOperator() bool { return p != nil && p.Role == RoleOperator }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's principal, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
