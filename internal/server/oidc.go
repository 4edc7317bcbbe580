package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// OIDCOptions configure sign-in through an OpenID Connect issuer.
type OIDCOptions struct {
	IssuerURL     string
	ClientID      string
	ClientSecret  string
	UsernameClaim string // default "email"
	GroupsClaim   string // default "groups"
	// DisplayName is what the sign-in button says ("Sign in with …");
	// the issuer's host when empty.
	DisplayName string
}

// Validate checks the options: an http:// issuer only on a loopback
// address (a local Dex, tests); anything else must be https://.
func (o *OIDCOptions) Validate() error {
	u, err := url.Parse(o.IssuerURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--oidc-issuer-url %q is not a URL (e.g. https://dex.example.com)", o.IssuerURL)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("--oidc-issuer-url %q: an http:// issuer is accepted only on a loopback address; use https://", o.IssuerURL)
		}
	default:
		return fmt.Errorf("--oidc-issuer-url %q must be an https:// URL", o.IssuerURL)
	}
	if o.ClientID == "" {
		return errors.New("--oidc-client-id is required with --oidc-issuer-url")
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// OIDC is a configured issuer.
type OIDC struct {
	opts     OIDCOptions
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

// NewOIDC discovers the issuer. publicURL is the server's own URL, for
// the callback.
func NewOIDC(ctx context.Context, o OIDCOptions, publicURL string) (*OIDC, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.UsernameClaim == "" {
		o.UsernameClaim = "email"
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}
	if o.DisplayName == "" {
		u, _ := url.Parse(o.IssuerURL)
		o.DisplayName = u.Host
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("OIDC issuer %s: %w", o.IssuerURL, err)
	}
	return &OIDC{
		opts:     o,
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: o.ClientID}),
		oauth: oauth2.Config{
			ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: strings.TrimRight(publicURL, "/") + "/auth/oidc/callback",
			Scopes:      []string{oidc.ScopeOpenID, "email", "profile", "groups"},
		},
	}, nil
}

// principal reads the configured claims of a verified ID token.
func (o *OIDC) principal(tok *oidc.IDToken) (*Principal, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, err
	}
	name, _ := claims[o.opts.UsernameClaim].(string)
	if name == "" || strings.ContainsAny(name, "/%:") || strings.HasPrefix(name, "system:") {
		return nil, fmt.Errorf("the ID token's claim %q is not a usable user name", o.opts.UsernameClaim)
	}
	if o.opts.UsernameClaim == "email" {
		if v, ok := claims["email_verified"].(bool); ok && !v {
			return nil, errors.New("the ID token's email is not verified")
		}
	}
	p := &Principal{Name: name, Method: MethodOIDC}
	switch g := claims[o.opts.GroupsClaim].(type) {
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok && s != "" && !strings.HasPrefix(s, "system:") {
				p.Groups = append(p.Groups, s)
			}
		}
	case string:
		if g != "" && !strings.HasPrefix(g, "system:") {
			p.Groups = []string{g}
		}
	}
	return p, nil
}

// verifyBearer verifies an ID token: signature, issuer, audience, expiry.
func (o *OIDC) verifyBearer(ctx context.Context, raw string) (*Principal, error) {
	tok, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	return o.principal(tok)
}

const cookieOIDC = "tenancy_oidc"

// GET /auth/oidc/login starts the authorization-code flow with PKCE.
func (s *server) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil {
		return errorf(CodeNotFound, "OIDC sign-in is not configured on this server")
	}
	state, nonce, verifier := randomHex(32), randomHex(32), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{
		Name: cookieOIDC, Value: state + "." + nonce + "." + verifier + "." + url.QueryEscape(safeNext(r.URL.Query().Get("next"))),
		Path: "/auth/oidc/", MaxAge: 600, HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, s.OIDC.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	return nil
}

// GET /auth/oidc/callback finishes it: the code is exchanged (with the
// PKCE verifier), the ID token verified (with the nonce), and a session
// starts.
func (s *server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil {
		return errorf(CodeNotFound, "OIDC sign-in is not configured on this server")
	}
	c, err := r.Cookie(cookieOIDC)
	if err != nil {
		return errorf(CodeUnauthenticated, "the sign-in took too long or started elsewhere: sign in again")
	}
	http.SetCookie(w, &http.Cookie{Name: cookieOIDC, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteLaxMode})
	parts := strings.SplitN(c.Value, ".", 4)
	q := r.URL.Query()
	if len(parts) != 4 || q.Get("state") == "" || q.Get("state") != parts[0] {
		return errorf(CodeUnauthenticated, "the sign-in's state does not match: sign in again")
	}
	if e := q.Get("error"); e != "" {
		return errorf(CodeUnauthenticated, "the identity provider refused the sign-in: %s", e)
	}
	ctx := r.Context()
	tok, err := s.OIDC.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		s.Log.Info("OIDC code exchange failed", "error", err.Error())
		return errorf(CodeUnauthenticated, "the identity provider did not accept the sign-in: sign in again")
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return errorf(CodeUnauthenticated, "the identity provider sent no ID token")
	}
	idt, err := s.OIDC.verifier.Verify(ctx, raw)
	if err != nil || idt.Nonce != parts[1] {
		return errorf(CodeUnauthenticated, "the ID token could not be verified: sign in again")
	}
	p, err := s.OIDC.principal(idt)
	if err != nil {
		return errorf(CodeUnauthenticated, "%s", err.Error())
	}
	if err := s.checkNotLockedOut(ctx, p.Name, false); err != nil {
		return err
	}
	session, cred, err := s.issue(ctx, passwords.CredentialSession, p, "", "", s.SessionTTL)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, session, cred.Expires)
	next, _ := url.QueryUnescape(parts[3])
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	return nil
}

// safeNext keeps a redirect target on this server.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
