package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// cookieSession is the browser's session cookie.
const cookieSession = "tenancy_session"

// handler is an HTTP handler whose error is rendered once, by writeError.
type handler func(w http.ResponseWriter, r *http.Request) error

// authenticate finds who made r. A request that carries no credential at
// all gets (nil, nil); one whose credential is bad gets errUnauthenticated.
func (s *server) authenticate(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	if s.AuthHeader != "" && r.Header.Get(s.AuthHeader) != "" {
		return s.fromProxyHeader(r)
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, errUnauthenticated
		}
		tok = strings.TrimSpace(tok)
		if _, _, _, ok := parseToken(tok); ok {
			return s.fromToken(ctx, tok, false)
		}
		if s.OIDC != nil {
			p, err := s.OIDC.verifyBearer(ctx, tok)
			if err != nil {
				return nil, errUnauthenticated
			}
			if err := s.checkNotLockedOut(ctx, p.Name, false); err != nil {
				return nil, err
			}
			return p, nil
		}
		return nil, errUnauthenticated
	}
	if c, err := r.Cookie(cookieSession); err == nil && c.Value != "" {
		p, err := s.fromToken(ctx, c.Value, true)
		if err != nil {
			return nil, err
		}
		if !p.Session {
			return nil, errUnauthenticated // API tokens do not go in cookies
		}
		return p, nil
	}
	return nil, nil
}

// fromToken verifies an opaque session or API token.
func (s *server) fromToken(ctx context.Context, tok string, cookie bool) (*Principal, error) {
	c, err := s.lookup(ctx, tok)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errUnauthenticated
	}
	p := &Principal{Name: c.User, Groups: c.Groups, Method: c.Method, Credential: c.secret.Name, Session: c.Kind == passwords.CredentialSession, Cookie: cookie}
	if c.Kind == passwords.CredentialToken {
		p.Method, p.Origin = MethodToken, c.Method
	}
	user, err := s.localUser(ctx, c.User)
	if err != nil {
		return nil, err
	}
	switch {
	case user != nil && (user.Spec.Disabled || string(user.UID) != c.uid):
		// Disabled, or not the User the credential was issued to (deleted
		// and made again; or made after an OIDC user's credential).
		return nil, errUnauthenticated
	case user == nil && c.uid != "":
		return nil, errUnauthenticated // the User is gone
	case user != nil:
		p.Groups = append([]string(nil), user.Spec.Groups...)
	case c.Method == MethodPassword:
		return nil, errUnauthenticated // the User is gone
	}
	if c.Method == MethodPassword && c.Kind == passwords.CredentialSession {
		// A changed password ends the sessions made with the old one.
		fp, err := s.passwordFingerprint(ctx, user)
		if err != nil {
			return nil, err
		}
		if fp == "" || fp != c.pwFP {
			return nil, errUnauthenticated
		}
	}
	if c.Kind == passwords.CredentialToken {
		s.touch(c)
	}
	return p, nil
}

// localUser is the User name, or nil if there is none.
func (s *server) localUser(ctx context.Context, name string) (*tenancyv1.User, error) {
	if name == "" {
		return nil, nil
	}
	u := &tenancyv1.User{}
	if err := s.getCached(ctx, client.ObjectKey{Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return u, nil
}

// checkNotLockedOut refuses a person whose User is disabled (or, when
// mustExist, missing).
func (s *server) checkNotLockedOut(ctx context.Context, name string, mustExist bool) error {
	u, err := s.localUser(ctx, name)
	if err != nil {
		return err
	}
	if u == nil && mustExist || u != nil && u.Spec.Disabled {
		return errUnauthenticated
	}
	return nil
}

// passwordSecret is the User's password Secret, or nil if it has none.
func (s *server) passwordSecret(ctx context.Context, u *tenancyv1.User) (*corev1.Secret, error) {
	if u == nil || u.Spec.PasswordSecret == "" {
		return nil, nil
	}
	sec := &corev1.Secret{}
	if err := s.getCached(ctx, client.ObjectKey{Namespace: passwords.Namespace, Name: u.Spec.PasswordSecret}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	// The Secret must say it is this user's password: a User naming
	// somebody else's Secret signs in with nothing.
	if sec.Labels[tenancyv1.LabelUser] != u.Name || sec.Labels[passwords.LabelCredential] != passwords.CredentialPassword || len(sec.Data[passwords.KeyHash]) == 0 {
		return nil, nil
	}
	return sec, nil
}

func (s *server) passwordFingerprint(ctx context.Context, u *tenancyv1.User) (string, error) {
	sec, err := s.passwordSecret(ctx, u)
	if err != nil || sec == nil {
		return "", err
	}
	return passwords.Fingerprint(string(sec.Data[passwords.KeyHash])), nil
}

// fromProxyHeader trusts the header only from a configured proxy.
func (s *server) fromProxyHeader(r *http.Request) (*Principal, error) {
	addr := clientAddr(r)
	trusted := false
	for _, p := range s.TrustedProxies {
		if addr.IsValid() && p.Contains(addr) {
			trusted = true
		}
	}
	if !trusted {
		return nil, &Error{Code: CodeUnauthenticated, Message: "the " + s.AuthHeader + " header is accepted only from the configured proxies"}
	}
	name := strings.TrimSpace(strings.TrimPrefix(r.Header.Get(s.AuthHeader), s.AuthHeaderPrefix))
	if name == "" || strings.ContainsAny(name, "/%:") || strings.HasPrefix(name, "system:") {
		return nil, errUnauthenticated
	}
	p := &Principal{Name: name, Method: MethodHeader}
	if s.AuthGroupsHeader != "" {
		for g := range strings.SplitSeq(r.Header.Get(s.AuthGroupsHeader), ",") {
			if g = strings.TrimSpace(g); g != "" && !strings.HasPrefix(g, "system:") {
				p.Groups = append(p.Groups, g)
			}
		}
	}
	if err := s.checkNotLockedOut(r.Context(), name, false); err != nil {
		return nil, err
	}
	return p, nil
}

// clientAddr is the address the connection came from (never a header).
func clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// api wraps an API handler that needs a signed-in caller.
func (s *server) api(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err == nil && p == nil {
			err = errUnauthenticated
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r.WithContext(withPrincipal(r.Context(), p))); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// public wraps a handler that needs nobody signed in.
func (s *server) public(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// limiter counts failed logins per key within a window.
type limiter struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]*failures
}

type failures struct {
	n     int
	start time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, seen: map[string]*failures{}}
}

// blocked says how long key must wait, or 0.
func (l *limiter) blocked(key string, limit int, window time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.seen[key]
	if f == nil {
		return 0
	}
	left := window - l.now().Sub(f.start)
	if left <= 0 {
		delete(l.seen, key)
		return 0
	}
	if f.n >= limit {
		return left
	}
	return 0
}

func (l *limiter) fail(key string, window time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.seen[key]
	if f == nil || now.Sub(f.start) >= window {
		f = &failures{start: now}
		l.seen[key] = f
	}
	f.n++
	if len(l.seen) > 100000 { // bound the memory an attacker can make us use
		for k, v := range l.seen {
			if now.Sub(v.start) >= window {
				delete(l.seen, k)
			}
		}
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.seen, key)
}

// dummyHash makes a login for a user without a password cost as much as
// one with, so timing does not tell which users exist.
var dummyHash = sync.OnceValue(func() string {
	h, err := passwords.Hash(passwords.Generate())
	if err != nil {
		panic(err)
	}
	return h
})

// login checks a username and password and starts a session.
func (s *server) login(ctx context.Context, r *http.Request, username, password string) (string, *credential, error) {
	userKey, addrKey := "user:"+strings.ToLower(username), "addr:"+clientAddr(r).String()
	if d := s.limiter.blocked(userKey, s.LoginFailuresPerUser, s.LoginWindow); d > 0 {
		return "", nil, &Error{Code: CodeRateLimited, Message: "too many failed sign-ins for this user: try again later", retryAfter: d}
	}
	if d := s.limiter.blocked(addrKey, s.LoginFailuresPerAddress, s.LoginWindow); d > 0 {
		return "", nil, &Error{Code: CodeRateLimited, Message: "too many failed sign-ins from this address: try again later", retryAfter: d}
	}
	fail := func() (string, *credential, error) {
		s.limiter.fail(userKey, s.LoginWindow)
		s.limiter.fail(addrKey, s.LoginWindow)
		s.metrics.logins.WithLabelValues("failed").Inc()
		return "", nil, errBadLogin
	}
	if username == "" || password == "" || len(username) > 253 || len(password) > 1024 {
		return fail()
	}
	u, err := s.localUser(ctx, username)
	if err != nil {
		return "", nil, err
	}
	var sec *corev1.Secret
	if u != nil && !u.Spec.Disabled {
		if sec, err = s.passwordSecret(ctx, u); err != nil {
			return "", nil, err
		}
	}
	if sec == nil {
		_, _ = passwords.Verify(dummyHash(), password)
		return fail()
	}
	hash := string(sec.Data[passwords.KeyHash])
	ok, err := passwords.Verify(hash, password)
	if err != nil {
		s.Log.Error(err, "Unreadable password hash", "user", username, "secret", sec.Name)
		return fail()
	}
	if !ok {
		return fail()
	}
	s.limiter.reset(userKey)
	s.metrics.logins.WithLabelValues("ok").Inc()
	p := &Principal{Name: u.Name, Groups: u.Spec.Groups, Method: MethodPassword}
	return s.issue(ctx, passwords.CredentialSession, p, "", passwords.Fingerprint(hash), s.SessionTTL)
}

// setSessionCookie gives the browser its session.
func (s *server) setSessionCookie(w http.ResponseWriter, tok string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieSession, Value: tok, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteLaxMode,
	})
}

func (s *server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteLaxMode})
}
