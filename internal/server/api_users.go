package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// The admin endpoints call Kubernetes as the caller: they work exactly when
// RBAC lets the caller manage users.tenancy.dev. The server writes a
// password hash (with its own identity) only after the caller's own write
// of the User has been accepted.

type userItem struct {
	Name        string      `json:"name"`
	Groups      []string    `json:"groups"`
	Disabled    bool        `json:"disabled"`
	HasPassword bool        `json:"hasPassword"`
	CreatedAt   metav1.Time `json:"createdAt"`
}

func userItemOf(u *tenancyv1.User) userItem {
	g := append([]string{}, u.Spec.Groups...)
	return userItem{Name: u.Name, Groups: g, Disabled: u.Spec.Disabled, HasPassword: u.Spec.PasswordSecret != "", CreatedAt: u.CreationTimestamp}
}

// GET /api/v1/users
func (s *server) apiListUsers(w http.ResponseWriter, r *http.Request) error {
	items, err := s.listUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf[userItem]{Items: items})
	return nil
}

func (s *server) listUsers(ctx context.Context) ([]userItem, error) {
	list := &tenancyv1.UserList{}
	if err := s.AsUser.List(ctx, list); err != nil {
		return nil, err
	}
	items := []userItem{}
	for i := range list.Items {
		items = append(items, userItemOf(&list.Items[i]))
	}
	slices.SortFunc(items, func(a, b userItem) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}

type createUserRequest struct {
	Name     string   `json:"name"`
	Groups   []string `json:"groups,omitempty"`
	Password string   `json:"password,omitempty"`
}

type createUserResponse struct {
	Name string `json:"name"`
	// Password is the generated password, shown this once; empty when the
	// request gave one.
	Password string `json:"password,omitempty"`
}

func validateUserName(name string) error {
	if name == "" {
		return errorf(CodeInvalid, "name: give the user a name, e.g. \"alex\"")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || len(name) > 63 {
		return errorf(CodeInvalid, "name: %q is not a valid user name: use at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	}
	return nil
}

// POST /api/v1/users
func (s *server) apiCreateUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	resp, err := s.createUser(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/users/"+resp.Name)
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (s *server) createUser(ctx context.Context, req createUserRequest) (*createUserResponse, error) {
	if err := validateUserName(req.Name); err != nil {
		return nil, err
	}
	for i, g := range req.Groups {
		if g == "" || len(g) > 253 || strings.HasPrefix(g, "system:") || strings.ContainsAny(g, "/%") {
			return nil, errorf(CodeInvalid, "groups[%d]: %q is not a group name (1-253 characters, no '/' or '%%', not starting with 'system:')", i, g)
		}
	}
	resp := &createUserResponse{Name: req.Name}
	pw := req.Password
	if pw == "" {
		pw = passwords.Generate()
		resp.Password = pw
	} else if err := passwords.Check(req.Name, pw); err != nil {
		return nil, errorf(CodeInvalid, "%s", err.Error())
	}
	u := &tenancyv1.User{
		ObjectMeta: metav1.ObjectMeta{Name: req.Name, Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}},
		Spec:       tenancyv1.UserSpec{Groups: req.Groups, PasswordSecret: passwords.SecretName(req.Name)},
	}
	if err := s.AsUser.Create(ctx, u, client.FieldOwner(FieldManager)); err != nil {
		return nil, err
	}
	if err := passwords.Set(ctx, s.Own, req.Name, pw); err != nil {
		return nil, err
	}
	return resp, nil
}

type patchUserRequest struct {
	Disabled *bool `json:"disabled"`
}

// PATCH /api/v1/users/{name}
func (s *server) apiPatchUser(w http.ResponseWriter, r *http.Request) error {
	var req patchUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Disabled == nil {
		return errorf(CodeInvalid, "disabled: say true or false")
	}
	u, err := s.setDisabled(r.Context(), r.PathValue("name"), *req.Disabled)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userItemOf(u))
	return nil
}

func (s *server) setDisabled(ctx context.Context, name string, disabled bool) (*tenancyv1.User, error) {
	if err := validateUserName(name); err != nil {
		return nil, errorf(CodeNotFound, "user %q not found", name)
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"disabled": disabled}})
	if err != nil {
		return nil, err
	}
	u := &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := s.AsUser.Patch(ctx, u, client.RawPatch("application/merge-patch+json", patch), client.FieldOwner(FieldManager)); err != nil {
		return nil, err
	}
	return u, nil
}

// DELETE /api/v1/users/{name}
func (s *server) apiDeleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteUser(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) deleteUser(ctx context.Context, name string) error {
	if err := validateUserName(name); err != nil {
		return errorf(CodeNotFound, "user %q not found", name)
	}
	if err := s.AsUser.Delete(ctx, &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		return err
	}
	// The caller was allowed to delete the User: its credentials go too.
	return passwords.DeleteAll(ctx, s.Own, name)
}
