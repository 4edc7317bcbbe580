package server

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tenancy-dev/tenancy/internal/passwords"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// POST /api/v1/login
func (s *server) apiLogin(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	tok, c, err := s.login(r.Context(), r, req.Username, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, loginResponse{Token: tok, ExpiresAt: c.Expires})
	return nil
}

// POST /api/v1/logout ends the session or token the request came with;
// ?all=true ends every session of the caller.
func (s *server) apiLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.logout(r, r.URL.Query().Get("all") == "true"); err != nil {
		return err
	}
	if principalFrom(r.Context()).Cookie {
		s.clearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) logout(r *http.Request, everywhere bool) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	if everywhere {
		list, err := s.credentials(ctx, p, passwords.CredentialSession, true)
		if err != nil {
			return err
		}
		for _, c := range list {
			if err := s.revoke(ctx, c); err != nil {
				return err
			}
		}
	}
	if p.Credential == "" {
		return nil // an ID token or the proxy header: nothing of ours to end
	}
	return s.revoke(ctx, &credential{secret: secretRef(p.Credential)})
}

type meResponse struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
	Method string   `json:"method"`
	// May says what the caller may do, as RBAC answers for them.
	May mayMe `json:"may"`
}

type mayMe struct {
	CreateWorkspaces  bool `json:"createWorkspaces"`
	ManageUsers       bool `json:"manageUsers"`
	ListAllWorkspaces bool `json:"listAllWorkspaces"`
	ChangePassword    bool `json:"changePassword"`
}

// GET /api/v1/me
func (s *server) apiMe(w http.ResponseWriter, r *http.Request) error {
	me, err := s.me(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

func (s *server) me(r *http.Request) (*meResponse, error) {
	ctx := r.Context()
	p := principalFrom(ctx)
	may, err := s.can(ctx,
		check{verb: "create", resource: "workspaces"},
		check{verb: "create", resource: "users"},
		check{verb: "list", resource: "workspaces"},
	)
	if err != nil {
		return nil, err
	}
	u, err := s.localUser(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	groups := append([]string{}, p.Groups...)
	slices.Sort(groups)
	return &meResponse{Name: p.Name, Groups: groups, Method: p.Method, May: mayMe{
		CreateWorkspaces: may[0], ManageUsers: may[1], ListAllWorkspaces: may[2],
		ChangePassword: u != nil && u.Spec.PasswordSecret != "",
	}}, nil
}

type tokenRequest struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expiresIn"`
}

type tokenInfo struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  time.Time  `json:"expiresAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	Token      string     `json:"token,omitempty"`
}

func infoOf(c *credential) tokenInfo {
	return tokenInfo{ID: c.ID, Name: c.Name, CreatedAt: c.Created.UTC(), ExpiresAt: c.Expires.UTC(), LastUsedAt: c.Used}
}

// POST /api/v1/tokens
func (s *server) apiCreateToken(w http.ResponseWriter, r *http.Request) error {
	var req tokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	info, err := s.createToken(r, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (s *server) createToken(r *http.Request, req tokenRequest) (*tokenInfo, error) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		return nil, errorf(CodeInvalid, "name: give the token a name of 1 to 100 characters, e.g. \"ci\"")
	}
	ttl := min(DefaultTokenLifetime, s.MaxTokenLifetime)
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil {
			return nil, errorf(CodeInvalid, "expiresIn: %q is not a duration (e.g. \"720h\" for 30 days)", req.ExpiresIn)
		}
		if d < time.Minute {
			return nil, errorf(CodeInvalid, "expiresIn: %s is too short: at least 1m", d)
		}
		if d > s.MaxTokenLifetime {
			return nil, errorf(CodeInvalid, "expiresIn: %s is longer than the longest a token may live here (%s)", d, s.MaxTokenLifetime)
		}
		ttl = d
	}
	p := principalFrom(r.Context())
	// A token made with a token, or with a proxy header, records how its
	// maker signed in; the token itself always reports "token".
	tok, c, err := s.issue(r.Context(), passwords.CredentialToken, &Principal{Name: p.Name, Groups: p.Groups, Method: methodOfOrigin(p)}, req.Name, "", ttl)
	if err != nil {
		return nil, err
	}
	info := infoOf(c)
	info.Token = tok
	return &info, nil
}

// methodOfOrigin is how the person signed in before any token: "password"
// ties a token to a User (deleting the User ends it), "oidc" or "header"
// to a name the issuer or proxy vouched for.
func methodOfOrigin(p *Principal) string {
	if p.Method == MethodToken {
		return p.Origin
	}
	return p.Method
}

type listOf[T any] struct {
	Items []T `json:"items"`
}

// GET /api/v1/tokens
func (s *server) apiListTokens(w http.ResponseWriter, r *http.Request) error {
	items, err := s.listTokens(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf[tokenInfo]{Items: items})
	return nil
}

func (s *server) listTokens(r *http.Request) ([]tokenInfo, error) {
	list, err := s.credentials(r.Context(), principalFrom(r.Context()), passwords.CredentialToken, false)
	if err != nil {
		return nil, err
	}
	items := []tokenInfo{}
	for _, c := range list {
		if s.Now().Before(c.Expires) {
			items = append(items, infoOf(c))
		}
	}
	slices.SortFunc(items, func(a, b tokenInfo) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return items, nil
}

// DELETE /api/v1/tokens/{id}
func (s *server) apiDeleteToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteToken(r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) deleteToken(r *http.Request, id string) error {
	list, err := s.credentials(r.Context(), principalFrom(r.Context()), passwords.CredentialToken, true)
	if err != nil {
		return err
	}
	for _, c := range list {
		if c.ID == id {
			return s.revoke(r.Context(), c)
		}
	}
	return errorf(CodeNotFound, "you have no token %q (GET /api/v1/tokens lists yours)", id)
}

type passwordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// POST /api/v1/password changes the caller's own password; every session
// ends, this one too.
func (s *server) apiChangePassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := s.changePassword(r, req); err != nil {
		return err
	}
	if principalFrom(r.Context()).Cookie {
		s.clearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) changePassword(r *http.Request, req passwordRequest) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	u, err := s.localUser(ctx, p.Name)
	if err != nil {
		return err
	}
	if u == nil || u.Spec.PasswordSecret == "" {
		return errorf(CodeConflict, "you sign in without a Tenancy password (%s): there is none to change", p.Method)
	}
	sec, err := s.passwordSecret(ctx, u)
	if err != nil {
		return err
	}
	if sec == nil {
		return errorf(CodeConflict, "your password is not set up: ask an admin to run 'tenancy user passwd %s'", p.Name)
	}
	if ok, err := passwords.Verify(string(sec.Data[passwords.KeyHash]), req.Current); err != nil || !ok {
		return errorf(CodeForbidden, "current: this is not your current password")
	}
	if err := passwords.Check(p.Name, req.New); err != nil {
		return errorf(CodeInvalid, "new %s", err.Error())
	}
	sessions, err := s.credentials(ctx, p, passwords.CredentialSession, true)
	if err != nil {
		return err
	}
	if err := passwords.Set(ctx, s.Own, p.Name, req.New); err != nil {
		return err
	}
	// Set deleted them; refuse them here at once, before the cache knows.
	for _, c := range sessions {
		if err := s.revoke(ctx, c); err != nil {
			return err
		}
	}
	return nil
}
