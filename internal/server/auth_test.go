//go:build integration

package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/server"
)

func TestLoginAndMe(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "li-alex", "ml-team")
	tok := s.login(t, "li-alex", pw)
	var me struct {
		Name   string
		Groups []string
		Method string
	}
	s.call(t, "GET", "/api/v1/me", tok, nil).want(t, 200).json(t, &me)
	if me.Name != "li-alex" || me.Method != "password" || len(me.Groups) != 1 || me.Groups[0] != "ml-team" {
		t.Fatalf("me = %+v", me)
	}

	// A wrong password and an unknown user get the same answer.
	wrong := s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "li-alex", "password": pw + "x"}).want(t, 401)
	unknown := s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "li-nobody", "password": pw}).want(t, 401)
	if string(wrong.Body) != string(unknown.Body) {
		t.Fatalf("a wrong password and an unknown user answer differently:\n%s\n%s", wrong.Body, unknown.Body)
	}
	if code, _ := wrong.errBody(t); code != "unauthenticated" {
		t.Fatalf("code %q", code)
	}
}

func TestStrictBodies(t *testing.T) {
	s := srv(t)
	r := s.call(t, "POST", "/api/v1/login", "", `{"username":"a","password":"b","remember":true}`).want(t, 400)
	if code, msg := r.errBody(t); code != "invalid" || !strings.Contains(msg, `"remember"`) {
		t.Fatalf("unknown field: %s %s", code, msg)
	}
	big := `{"username":"` + strings.Repeat("a", 1<<20) + `","password":"x"}`
	r = s.call(t, "POST", "/api/v1/login", "", big).want(t, 413)
	if code, _ := r.errBody(t); code != "too_large" {
		t.Fatalf("code %q", code)
	}
	s.call(t, "POST", "/api/v1/login", "", `{"username":"a"} {}`).want(t, 400)
	s.call(t, "POST", "/api/v1/login", "", `{"username":`).want(t, 400)
	r = s.call(t, "POST", "/api/v1/login", "", `{"username":1}`).want(t, 400)
	if _, msg := r.errBody(t); !strings.Contains(msg, "username") {
		t.Fatalf("a wrong type does not name the field: %s", msg)
	}
	// Not JSON.
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/login", strings.NewReader("username=a&password=b"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("form body: %d, want 415", resp.StatusCode)
	}
	s.call(t, "GET", "/api/v1/nothing-here", "", nil).want(t, 404)
	r = s.call(t, "DELETE", "/api/v1/me", "", nil).want(t, 405)
	if code, _ := r.errBody(t); code != "method_not_allowed" || r.Header.Get("Allow") != "GET" {
		t.Fatalf("405: %s, Allow %q", code, r.Header.Get("Allow"))
	}
}

func TestRefusedTokens(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "rt-bob")
	tok := s.login(t, "rt-bob", pw)
	tampered := tok[:len(tok)-1] + map[bool]string{true: "0", false: "1"}[tok[len(tok)-1] != '0']
	for name, h := range map[string]string{
		"none":         "",
		"not bearer":   "Basic cnQtYm9iOnB3",
		"malformed":    "Bearer tnt_zz",
		"tampered":     "Bearer " + tampered,
		"unknown id":   "Bearer tns_0123456789abcdef_" + strings.Repeat("a", 64),
		"alg none":     "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJydC1ib2IiLCJlbWFpbCI6InJ0LWJvYiJ9.",
		"empty bearer": "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+"/api/v1/me", nil)
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	s.call(t, "GET", "/api/v1/me", tok, nil).want(t, 200)
}

func TestExpiry(t *testing.T) {
	c := &clock{}
	s := start(t, server.Options{SessionTTL: time.Hour, MaxTokenLifetime: 2 * time.Hour}, func(d *server.Deps) { d.Now = c.now })
	pw := addUser(t, "ex-tom")
	session := s.login(t, "ex-tom", pw)
	var tok struct{ Token string }
	s.call(t, "POST", "/api/v1/tokens", session, map[string]string{"name": "ci", "expiresIn": "90m"}).want(t, 201).json(t, &tok)
	r := s.call(t, "POST", "/api/v1/tokens", session, map[string]string{"name": "ci", "expiresIn": "3h"}).want(t, 400)
	if _, msg := r.errBody(t); !strings.Contains(msg, "expiresIn") {
		t.Fatalf("too long a token: %s", msg)
	}
	s.call(t, "POST", "/api/v1/tokens", session, map[string]string{"name": "ci", "expiresIn": "soon"}).want(t, 400)

	c.advance(61 * time.Minute) // the session is over, the token not yet
	s.call(t, "GET", "/api/v1/me", session, nil).want(t, 401)
	s.call(t, "GET", "/api/v1/me", tok.Token, nil).want(t, 200)
	c.advance(30 * time.Minute)
	s.call(t, "GET", "/api/v1/me", tok.Token, nil).want(t, 401)
}

func TestRateLimit(t *testing.T) {
	s := start(t, server.Options{LoginFailuresPerUser: 3, LoginFailuresPerAddress: 6, LoginWindow: time.Hour})
	pw := addUser(t, "rl-eve")
	for range 3 {
		s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "rl-eve", "password": "wrong-password-1"}).want(t, 401)
	}
	// Blocked now, even with the right password.
	r := s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "rl-eve", "password": pw}).want(t, 429)
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Per address: failures for other names add up.
	for i := range 3 {
		s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "rl-other" + strconv.Itoa(i), "password": "x"}).want(t, 401)
	}
	s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "rl-another", "password": "x"}).want(t, 429)
}

func TestLogout(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "lo-ann")
	a, b := s.login(t, "lo-ann", pw), s.login(t, "lo-ann", pw)
	s.call(t, "POST", "/api/v1/logout", a, nil).want(t, 204)
	s.call(t, "GET", "/api/v1/me", a, nil).want(t, 401)
	s.call(t, "GET", "/api/v1/me", b, nil).want(t, 200)
	c := s.login(t, "lo-ann", pw)
	s.call(t, "POST", "/api/v1/logout?all=true", c, nil).want(t, 204)
	s.call(t, "GET", "/api/v1/me", b, nil).want(t, 401)
	s.call(t, "GET", "/api/v1/me", c, nil).want(t, 401)
	s.call(t, "POST", "/api/v1/logout", "", nil).want(t, 401)
}

func TestTokens(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "tk-joe")
	pw2 := addUser(t, "tk-kim")
	session := s.login(t, "tk-joe", pw)
	var created struct {
		ID, Name, Token      string
		CreatedAt, ExpiresAt time.Time
	}
	s.call(t, "POST", "/api/v1/tokens", session, map[string]string{"name": "ci", "expiresIn": "720h"}).want(t, 201).json(t, &created)
	if created.Token == "" || created.ID == "" || created.Name != "ci" || created.ExpiresAt.Sub(created.CreatedAt) != 720*time.Hour {
		t.Fatalf("created %+v", created)
	}
	var me struct{ Name, Method string }
	s.call(t, "GET", "/api/v1/me", created.Token, nil).want(t, 200).json(t, &me)
	if me.Name != "tk-joe" || me.Method != "token" {
		t.Fatalf("me with the token: %+v", me)
	}
	// Listed with its last use, never with the secret.
	eventually(t, 10*time.Second, "token listed with its last use", func() (bool, string) {
		r := s.call(t, "GET", "/api/v1/tokens", session, nil).want(t, 200)
		var list struct {
			Items []struct {
				ID, Name   string
				LastUsedAt *time.Time
				Token      string
			}
		}
		r.json(t, &list)
		if strings.Contains(string(r.Body), created.Token[5:]) {
			t.Fatalf("the list shows the secret: %s", r.Body)
		}
		return len(list.Items) == 1 && list.Items[0].ID == created.ID && list.Items[0].LastUsedAt != nil, string(r.Body)
	})
	// Only a hash is stored.
	sec := &passwordsSecret{}
	sec.get(t, "token-"+created.ID)
	if strings.Contains(sec.dump, created.Token[21:]) {
		t.Fatal("the token's secret is stored in the cluster")
	}
	s.call(t, "POST", "/api/v1/tokens", session, map[string]string{"name": ""}).want(t, 400)
	s.call(t, "POST", "/api/v1/tokens", session, map[string]any{"name": "x", "scopes": []string{"all"}}).want(t, 400)

	// Somebody else cannot revoke it.
	other := s.login(t, "tk-kim", pw2)
	s.call(t, "DELETE", "/api/v1/tokens/"+created.ID, other, nil).want(t, 404)
	s.call(t, "GET", "/api/v1/me", created.Token, nil).want(t, 200)
	s.call(t, "DELETE", "/api/v1/tokens/"+created.ID, session, nil).want(t, 204)
	s.call(t, "GET", "/api/v1/me", created.Token, nil).want(t, 401) // at once
	s.call(t, "DELETE", "/api/v1/tokens/"+created.ID, session, nil).want(t, 404)
}

func TestChangePasswordEndsSessions(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "cp-sam")
	a, b := s.login(t, "cp-sam", pw), s.login(t, "cp-sam", pw)
	r := s.call(t, "POST", "/api/v1/password", a, map[string]string{"current": pw, "new": "short"}).want(t, 400)
	if _, msg := r.errBody(t); !strings.Contains(msg, "new password") || !strings.Contains(msg, "12") {
		t.Fatalf("weak password: %s", msg)
	}
	s.call(t, "POST", "/api/v1/password", a, map[string]string{"current": pw, "new": "cp-sam"}).want(t, 400)
	s.call(t, "POST", "/api/v1/password", a, map[string]string{"current": "not-the-password", "new": "a-much-longer-password"}).want(t, 403)
	s.call(t, "POST", "/api/v1/password", a, map[string]string{"current": pw, "new": "a-much-longer-password"}).want(t, 204)
	for _, tok := range []string{a, b} {
		s.call(t, "GET", "/api/v1/me", tok, nil).want(t, 401)
	}
	s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "cp-sam", "password": pw}).want(t, 401)
	s.login(t, "cp-sam", "a-much-longer-password")
}

func TestLockout(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "lk-dan")
	session := s.login(t, "lk-dan", pw)
	var tok struct{ Token string }
	s.call(t, "POST", "/api/v1/tokens", session, map[string]string{"name": "ci"}).want(t, 201).json(t, &tok)

	setDisabled(t, "lk-dan", true)
	eventually(t, 5*time.Second, "a disabled user's session, token and password refused", func() (bool, string) {
		a := s.call(t, "GET", "/api/v1/me", session, nil).Status
		b := s.call(t, "GET", "/api/v1/me", tok.Token, nil).Status
		c := s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "lk-dan", "password": pw}).Status
		return a == 401 && b == 401 && c == 401, strconv.Itoa(a) + " " + strconv.Itoa(b) + " " + strconv.Itoa(c)
	})
	setDisabled(t, "lk-dan", false)
	eventually(t, 5*time.Second, "enabled again", func() (bool, string) {
		return s.call(t, "GET", "/api/v1/me", session, nil).Status == 200, ""
	})
	if err := env.Admin.Delete(context.Background(), &tenancyv1.User{ObjectMeta: objectMeta("lk-dan")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a deleted user's session and token refused", func() (bool, string) {
		a := s.call(t, "GET", "/api/v1/me", session, nil).Status
		b := s.call(t, "GET", "/api/v1/me", tok.Token, nil).Status
		return a == 401 && b == 401, strconv.Itoa(a) + " " + strconv.Itoa(b)
	})
	// Made again under the same name (the password Secret is still there):
	// the old sessions and tokens were the old User's, and stay refused.
	again := &tenancyv1.User{ObjectMeta: objectMeta("lk-dan"), Spec: tenancyv1.UserSpec{PasswordSecret: passwords.SecretName("lk-dan")}}
	if err := env.Admin.Create(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	s.login(t, "lk-dan", pw) // the cache has the new User
	for _, old := range []string{session, tok.Token} {
		s.call(t, "GET", "/api/v1/me", old, nil).want(t, 401)
	}
}

func setDisabled(t *testing.T, name string, disabled bool) {
	t.Helper()
	u := &tenancyv1.User{}
	if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, u); err != nil {
		t.Fatal(err)
	}
	u.Spec.Disabled = disabled
	if err := env.Admin.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func TestSecurityHeadersAndCSRF(t *testing.T) {
	s := srv(t)
	r := s.call(t, "GET", "/login", "", nil).want(t, 200)
	for h, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "frame-ancestors 'none'",
	} {
		if !strings.Contains(r.Header.Get(h), want) {
			t.Errorf("%s: %q, want %q in it", h, r.Header.Get(h), want)
		}
	}
	req, _ := http.NewRequest("POST", s.URL+"/login", strings.NewReader("username=a&password=b"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site form post: %d, want 403", resp.StatusCode)
	}
}

func TestSignedOutPagesGoToSignIn(t *testing.T) {
	s := srv(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/", "/account", "/admin", "/workspaces/x", "/no-such-page"} {
		resp, err := noFollow.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || !strings.HasPrefix(loc, "/login") {
			t.Errorf("%s: %d to %q, want 303 to /login", p, resp.StatusCode, loc)
		}
	}
	// The session cookie is HttpOnly and SameSite=Lax.
	pw := addUser(t, "ck-ida")
	resp, err := noFollow.PostForm(s.URL+"/login", map[string][]string{"username": {"ck-ida"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	c := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != 303 || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Secure") {
		t.Fatalf("form login: %d, cookie %q", resp.StatusCode, c)
	}
}

func TestHeaderAuth(t *testing.T) {
	trusted := start(t, server.Options{AuthHeader: "kubeflow-userid", AuthGroupsHeader: "kubeflow-groups", AuthHeaderPrefix: "accounts.google.com:",
		TrustedProxies: prefixes("127.0.0.1/32")})
	req, _ := http.NewRequest("GET", trusted.URL+"/api/v1/me", nil)
	req.Header.Set("kubeflow-userid", "accounts.google.com:hd-user@example.com")
	req.Header.Set("kubeflow-groups", "team-a, team-b")
	r := do(t, req).want(t, 200)
	var me struct {
		Name, Method string
		Groups       []string
	}
	r.json(t, &me)
	if me.Name != "hd-user@example.com" || me.Method != "header" || strings.Join(me.Groups, ",") != "team-a,team-b" {
		t.Fatalf("me = %+v", me)
	}
	untrusted := start(t, server.Options{AuthHeader: "kubeflow-userid", TrustedProxies: prefixes("10.9.9.9/32")})
	req, _ = http.NewRequest("GET", untrusted.URL+"/api/v1/me", nil)
	req.Header.Set("kubeflow-userid", "hd-user@example.com")
	do(t, req).want(t, 401)
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	s := srv(t)
	var doc struct {
		Paths map[string]map[string]any
	}
	s.call(t, "GET", "/api/v1/openapi.json", "", nil).want(t, 200).json(t, &doc)
	for _, route := range server.APIRoutes() {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("openapi.json does not describe %s", route)
		}
	}
	if len(doc.Paths) < 10 {
		t.Fatalf("only %d paths", len(doc.Paths))
	}
	_ = install.CreatorRole
	_ = passwords.Namespace
}
