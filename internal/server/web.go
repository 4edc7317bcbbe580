package server

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// page wraps a UI handler: the signed-out go to the sign-in page, and
// errors are rendered as pages.
func (s *server) page(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		var e *Error
		if p == nil && (err == nil || errors.As(err, &e) && e.Code == CodeUnauthenticated) {
			if err != nil {
				s.clearSessionCookie(w)
			}
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/"
			}
			target := "/login"
			if next != "/" {
				target += "?next=" + url.QueryEscape(next)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r = r.WithContext(withPrincipal(r.Context(), p))
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// notices are the messages a redirect may ask for (?done=…): fixed texts,
// so that a link cannot put words in the server's mouth.
var notices = map[string]string{
	"shared":       "Shared.",
	"unshared":     "Access removed.",
	"deleted":      "Workspace deletion started: the namespace and everything in it are being removed.",
	"revoked":      "Token revoked.",
	"disabled":     "User disabled: their sign-ins, sessions and tokens stop working.",
	"enabled":      "User enabled.",
	"user-deleted": "User deleted.",
	"created":      "Workspace created. It is being set up and will be Ready in a few seconds.",
}

func (s *server) base(r *http.Request, title, active string) (*pageData, error) {
	me, err := s.me(r)
	if err != nil {
		return nil, err
	}
	return &pageData{Title: title, Me: me, Active: active, Notice: notices[r.URL.Query().Get("done")]}, nil
}

// GET /login
func (s *server) pageLogin(w http.ResponseWriter, r *http.Request) error {
	if p, err := s.authenticate(r); err == nil && p != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	s.render(w, http.StatusOK, "login", s.loginData(r, ""))
	return nil
}

func (s *server) loginData(r *http.Request, username string) *pageData {
	d := &pageData{Title: "Sign in", Next: safeNext(r.FormValue("next")), Username: username}
	if s.OIDC != nil {
		d.OIDCName = s.OIDC.opts.DisplayName
	}
	return d
}

// POST /login: the form's fields are username and password.
func (s *server) formLogin(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	tok, c, err := s.login(r.Context(), r, username, r.PostFormValue("password"))
	if err != nil {
		e, internal := asError(err)
		if internal {
			return err
		}
		if e.retryAfter > 0 {
			w.Header().Set("Retry-After", itoa(int(e.retryAfter/time.Second)+1))
		}
		d := s.loginData(r, username)
		d.Error = e.Message
		s.render(w, e.Status(), "login", d)
		return nil
	}
	s.setSessionCookie(w, tok, c.Expires)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// POST /logout
func (s *server) formLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.logout(r, false); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// GET /: my workspaces.
func (s *server) pageHome(w http.ResponseWriter, r *http.Request) error {
	d, err := s.base(r, "My workspaces", "home")
	if err != nil {
		return err
	}
	if d.Workspaces, err = s.listWorkspaces(r.Context(), false); err != nil {
		return err
	}
	s.render(w, http.StatusOK, "home", d)
	return nil
}

// classes are the WorkspaceClasses the caller may create workspaces of:
// those RBAC lets them "use".
func (s *server) classes(r *http.Request) ([]classOption, error) {
	list := &tenancyv1.WorkspaceClassList{}
	if err := s.AsUser.List(r.Context(), list); err != nil {
		return nil, err
	}
	var out []classOption
	for _, c := range list.Items {
		may, err := s.can(r.Context(), check{verb: "use", resource: "workspaceclasses", name: c.Name})
		if err != nil {
			return nil, err
		}
		def := c.IsDefault()
		if !may[0] {
			continue
		}
		o := classOption{Name: c.Name, Default: def}
		if q := c.Spec.ResourceQuota; q != nil {
			var parts []string
			for _, k := range quotaKeys {
				for _, n := range k.names {
					if v, ok := q.Hard[n]; ok {
						parts = append(parts, v.String()+" "+map[string]string{"cpu": "CPU", "memory": "memory", "gpu": "GPU"}[k.key])
						break
					}
				}
			}
			o.Summary = strings.Join(parts, " · ")
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b classOption) int {
		if a.Default != b.Default {
			if a.Default {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// GET /workspaces/new
func (s *server) pageNewWorkspace(w http.ResponseWriter, r *http.Request) error {
	d, err := s.base(r, "New workspace", "home")
	if err != nil {
		return err
	}
	if d.Classes, err = s.classes(r); err != nil {
		return err
	}
	s.render(w, http.StatusOK, "new", d)
	return nil
}

// POST /workspaces/new: fields name and class.
func (s *server) formNewWorkspace(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	_, err := s.createWorkspace(r.Context(), createWorkspaceRequest{Name: name, Class: r.PostFormValue("class")})
	if err != nil {
		e, internal := asError(err)
		if internal {
			return err
		}
		d, derr := s.base(r, "New workspace", "home")
		if derr != nil {
			return derr
		}
		if d.Classes, derr = s.classes(r); derr != nil {
			return derr
		}
		d.Name, d.Error = name, e.Message
		s.render(w, e.Status(), "new", d)
		return nil
	}
	http.Redirect(w, r, "/workspaces/"+name+"?done=created", http.StatusSeeOther)
	return nil
}

// GET /workspaces/{ws}
func (s *server) pageWorkspace(w http.ResponseWriter, r *http.Request) error {
	d, err := s.base(r, r.PathValue("ws"), "home")
	if err != nil {
		return err
	}
	if d.Workspace, err = s.workspaceDetail(r.Context(), r.PathValue("ws")); err != nil {
		return err
	}
	if e := r.URL.Query().Get("error"); e != "" {
		d.Error = e
	}
	s.render(w, http.StatusOK, "workspace", d)
	return nil
}

// workspaceFormError shows the workspace page with an error.
func (s *server) workspaceFormError(w http.ResponseWriter, r *http.Request, err error) error {
	e, internal := asError(err)
	if internal {
		return err
	}
	d, derr := s.base(r, r.PathValue("ws"), "home")
	if derr != nil {
		return derr
	}
	if d.Workspace, derr = s.workspaceDetail(r.Context(), r.PathValue("ws")); derr != nil {
		return err
	}
	d.Error = e.Message
	s.render(w, e.Status(), "workspace", d)
	return nil
}

// POST /workspaces/{ws}/share: fields kind, name and role.
func (s *server) formShare(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	c, err := toContributor("contributor", contributorJSON{Kind: r.PostFormValue("kind"), Name: strings.TrimSpace(r.PostFormValue("name")), Role: r.PostFormValue("role")})
	if err == nil {
		_, err = s.setContributor(r.Context(), r.PathValue("ws"), c, false)
	}
	if err != nil {
		return s.workspaceFormError(w, r, err)
	}
	http.Redirect(w, r, "/workspaces/"+r.PathValue("ws")+"?done=shared", http.StatusSeeOther)
	return nil
}

// POST /workspaces/{ws}/unshare: fields kind and name.
func (s *server) formUnshare(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	c, err := toContributor("contributor", contributorJSON{Kind: r.PostFormValue("kind"), Name: r.PostFormValue("name"), Role: "view"})
	if err == nil {
		_, err = s.setContributor(r.Context(), r.PathValue("ws"), c, true)
	}
	if err != nil {
		return s.workspaceFormError(w, r, err)
	}
	http.Redirect(w, r, "/workspaces/"+r.PathValue("ws")+"?done=unshared", http.StatusSeeOther)
	return nil
}

// POST /workspaces/{ws}/delete
func (s *server) formDeleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteWorkspace(r.Context(), r.PathValue("ws")); err != nil {
		return s.workspaceFormError(w, r, err)
	}
	http.Redirect(w, r, "/?done=deleted", http.StatusSeeOther)
	return nil
}

func (s *server) accountData(r *http.Request) (*pageData, error) {
	d, err := s.base(r, "Account & tokens", "account")
	if err != nil {
		return nil, err
	}
	if d.Tokens, err = s.listTokens(r); err != nil {
		return nil, err
	}
	return d, nil
}

// GET /account
func (s *server) pageAccount(w http.ResponseWriter, r *http.Request) error {
	d, err := s.accountData(r)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "account", d)
	return nil
}

func (s *server) accountError(w http.ResponseWriter, r *http.Request, err error) error {
	e, internal := asError(err)
	if internal {
		return err
	}
	d, derr := s.accountData(r)
	if derr != nil {
		return derr
	}
	d.Error = e.Message
	s.render(w, e.Status(), "account", d)
	return nil
}

// POST /account/tokens: fields name and expiresIn. The token is shown in
// this response only.
func (s *server) formCreateToken(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	info, err := s.createToken(r, tokenRequest{Name: r.PostFormValue("name"), ExpiresIn: r.PostFormValue("expiresIn")})
	if err != nil {
		return s.accountError(w, r, err)
	}
	d, err := s.accountData(r)
	if err != nil {
		return err
	}
	d.Secret, d.SecretWhat = info.Token, "Token "+info.Name
	found := false
	for _, t := range d.Tokens {
		found = found || t.ID == info.ID
	}
	if !found {
		info.Token = ""
		d.Tokens = append([]tokenInfo{*info}, d.Tokens...)
	}
	s.render(w, http.StatusCreated, "account", d)
	return nil
}

// POST /account/tokens/{id}/revoke
func (s *server) formRevokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteToken(r, r.PathValue("id")); err != nil {
		return s.accountError(w, r, err)
	}
	http.Redirect(w, r, "/account?done=revoked", http.StatusSeeOther)
	return nil
}

// POST /account/password: fields current, new and confirm. Every session
// ends, so the browser signs in again.
func (s *server) formChangePassword(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	if r.PostFormValue("new") != r.PostFormValue("confirm") {
		return s.accountError(w, r, errorf(CodeInvalid, "confirm: the two new passwords differ"))
	}
	if err := s.changePassword(r, passwordRequest{Current: r.PostFormValue("current"), New: r.PostFormValue("new")}); err != nil {
		return s.accountError(w, r, err)
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// POST /account/signout-everywhere
func (s *server) formSignOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	if err := s.logout(r, true); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *server) adminData(r *http.Request) (*pageData, error) {
	d, err := s.base(r, "Admin", "admin")
	if err != nil {
		return nil, err
	}
	if !d.Me.May.ManageUsers {
		return nil, errorf(CodeForbidden, "only those RBAC lets manage users.tenancy.dev may use the admin pages")
	}
	if d.Users, err = s.listUsers(r.Context()); err != nil {
		return nil, err
	}
	if d.Me.May.ListAllWorkspaces {
		if d.Workspaces, err = s.listWorkspaces(r.Context(), true); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// GET /admin
func (s *server) pageAdmin(w http.ResponseWriter, r *http.Request) error {
	d, err := s.adminData(r)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "admin", d)
	return nil
}

func (s *server) adminError(w http.ResponseWriter, r *http.Request, err error) error {
	e, internal := asError(err)
	if internal {
		return err
	}
	d, derr := s.adminData(r)
	if derr != nil {
		return derr
	}
	d.Error = e.Message
	s.render(w, e.Status(), "admin", d)
	return nil
}

// POST /admin/users: fields name and groups (comma-separated). The
// generated password is shown in this response only.
func (s *server) formAddUser(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	var groups []string
	for g := range strings.SplitSeq(r.PostFormValue("groups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	resp, err := s.createUser(r.Context(), createUserRequest{Name: strings.TrimSpace(r.PostFormValue("name")), Groups: groups})
	if err != nil {
		return s.adminError(w, r, err)
	}
	d, err := s.adminData(r)
	if err != nil {
		return err
	}
	d.Secret, d.SecretWhat = resp.Password, "Password of "+resp.Name
	if !containsUser(d.Users, resp.Name) {
		d.Users = append(d.Users, userItem{Name: resp.Name, Groups: groups, HasPassword: true})
	}
	s.render(w, http.StatusCreated, "admin", d)
	return nil
}

func containsUser(us []userItem, name string) bool {
	for _, u := range us {
		if u.Name == name {
			return true
		}
	}
	return false
}

// POST /admin/users/{name}/disable: field disabled (true or false).
func (s *server) formDisableUser(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	disable := r.PostFormValue("disabled") != "false"
	if _, err := s.setDisabled(r.Context(), r.PathValue("name"), disable); err != nil {
		return s.adminError(w, r, err)
	}
	done := "disabled"
	if !disable {
		done = "enabled"
	}
	http.Redirect(w, r, "/admin?done="+done, http.StatusSeeOther)
	return nil
}

// POST /admin/users/{name}/delete
func (s *server) formDeleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteUser(r.Context(), r.PathValue("name")); err != nil {
		return s.adminError(w, r, err)
	}
	http.Redirect(w, r, "/admin?done=user-deleted", http.StatusSeeOther)
	return nil
}
