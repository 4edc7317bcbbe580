package server

import (
	"context"
	"slices"
)

// Ways of signing in, as /api/v1/me reports them.
const (
	MethodPassword = "password" // a session from a local password
	MethodToken    = "token"    // a personal API token
	MethodOIDC     = "oidc"     // an OIDC session or ID token
	MethodHeader   = "header"   // a trusted proxy's header
)

// Principal is who a request is made by.
type Principal struct {
	Name   string
	Groups []string
	Method string
	// Credential is the session or token Secret the request came with;
	// empty for ID tokens and the proxy header.
	Credential string
	// Session says the credential is a login session (logout ends it).
	Session bool
	// Cookie says the credential came in the session cookie.
	Cookie bool
	// Origin is how the maker of an API token had signed in (password,
	// oidc, header); empty for other methods.
	Origin string
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// inGroup says whether p is in group g.
func (p *Principal) inGroup(g string) bool {
	return slices.Contains(p.Groups, g)
}
