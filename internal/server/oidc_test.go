//go:build integration

package server_test

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/tenancy-dev/tenancy/internal/server"
)

// startOIDC runs a real OIDC issuer (discovery, JWKS, code flow with PKCE,
// signed ID tokens) and a server that signs in with it.
func startOIDC(t *testing.T) (*testServer, *mockoidc.MockOIDC) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	cfg := m.Config()
	s := start(t, server.Options{OIDC: &server.OIDCOptions{
		IssuerURL: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, DisplayName: "Mock OIDC",
	}})
	return s, m
}

func TestOIDCCodeFlow(t *testing.T) {
	s, m := startOIDC(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "1", Email: "oc-ann@example.com", EmailVerified: true, Groups: []string{"oc-team"}})
	workspace(t, "oc-anns", "oc-ann@example.com")

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(s.URL + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/" {
		t.Fatalf("after the code flow: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/me", nil)
	r := doWith(t, c, req).want(t, 200)
	var me struct {
		Name, Method string
		Groups       []string
	}
	r.json(t, &me)
	if me.Name != "oc-ann@example.com" || me.Method != "oidc" || strings.Join(me.Groups, ",") != "oc-team" {
		t.Fatalf("me = %+v", me)
	}
	// An OIDC user needs no User: their workspaces are theirs by name.
	req, _ = http.NewRequest("GET", s.URL+"/api/v1/workspaces", nil)
	if body := string(doWith(t, c, req).want(t, 200).Body); !strings.Contains(body, `"oc-anns"`) {
		t.Fatalf("the OIDC user's workspace is not listed: %s", body)
	}

	// A callback with a state the browser did not start is refused.
	resp, err = c.Get(s.URL + "/auth/oidc/callback?code=x&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("forged callback: %d", resp.StatusCode)
	}
}

func TestOIDCBearerTokens(t *testing.T) {
	s, m := startOIDC(t)
	cfg := m.Config()
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": cfg.Issuer, "aud": cfg.ClientID, "sub": "42", "email": "ob-bea@example.com", "email_verified": true,
			"groups": []string{"ob-team"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(c jwt.MapClaims) string {
		tok, err := m.Keypair.SignJWT(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(claims(nil))
	var me struct{ Name, Method string }
	s.call(t, "GET", "/api/v1/me", good, nil).want(t, 200).json(t, &me)
	if me.Name != "ob-bea@example.com" || me.Method != "oidc" {
		t.Fatalf("me = %+v", me)
	}
	// An OIDC user (no User object) makes API tokens, also with a token.
	var tok1, tok2 struct{ Token string }
	s.call(t, "POST", "/api/v1/tokens", good, map[string]string{"name": "one"}).want(t, 201).json(t, &tok1)
	s.call(t, "POST", "/api/v1/tokens", tok1.Token, map[string]string{"name": "two"}).want(t, 201).json(t, &tok2)
	var groups struct{ Groups []string }
	s.call(t, "GET", "/api/v1/me", tok2.Token, nil).want(t, 200).json(t, &groups)
	if strings.Join(groups.Groups, ",") != "ob-team" {
		t.Fatalf("the token's groups: %v", groups.Groups)
	}

	other, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	otherSigned, err := other.SignJWT(claims(nil))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for name, tok := range map[string]string{
		"wrong audience":  sign(claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"wrong issuer":    sign(claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/oidc" })),
		"expired":         sign(claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"unverified mail": sign(claims(func(c jwt.MapClaims) { c["email_verified"] = false })),
		"other key":       otherSigned,
		"tampered":        parts[0] + "." + strings.TrimRight(jwtPart(t, `{"iss":"`+cfg.Issuer+`","aud":"`+cfg.ClientID+`","email":"root@example.com","exp":9999999999}`), "=") + "." + parts[2],
		"alg none":        jwtPart(t, `{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".",
	} {
		t.Run(name, func(t *testing.T) {
			s.call(t, "GET", "/api/v1/me", tok, nil).want(t, 401)
		})
	}
}

func TestOIDCIssuerMustBeHTTPS(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://dex.example.com": true,
		"http://127.0.0.1:5556":   true,
		"http://localhost:5556":   true,
		"http://[::1]:5556":       true,
		"http://dex.example.com":  false,
		"http://10.0.0.1:5556":    false,
		"ftp://dex.example.com":   false,
		"not a url":               false,
	} {
		o := server.OIDCOptions{IssuerURL: url, ClientID: "tenancy"}
		if err := o.Validate(); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", url, err, ok)
		}
	}
}

func doWith(t *testing.T, c *http.Client, req *http.Request) *response {
	t.Helper()
	saved := http.DefaultClient
	http.DefaultClient = c
	defer func() { http.DefaultClient = saved }()
	return do(t, req)
}

func mockUser(email string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: email, Email: email, EmailVerified: true, Groups: []string{"oidc-users"}}
}
