package server

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Roles a caller has in a workspace.
const (
	RoleOwner = "owner"
)

var roleRank = map[string]int{RoleOwner: 4, string(tenancyv1.RoleAdmin): 3, string(tenancyv1.RoleEdit): 2, string(tenancyv1.RoleView): 1}

// roleOf is the caller's role in ws ("" if not a member): owner, or the
// highest contributor role given to them or one of their groups.
func roleOf(ws *tenancyv1.Workspace, p *Principal) string {
	matches := func(s tenancyv1.Subject) bool {
		switch s.Kind {
		case tenancyv1.UserKind:
			return s.Name == p.Name
		case tenancyv1.GroupKind:
			return p.inGroup(s.Name)
		}
		return false
	}
	if ws.Spec.Owner != nil && matches(*ws.Spec.Owner) {
		return RoleOwner
	}
	best := ""
	for _, c := range ws.Spec.Contributors {
		if matches(c.Subject) && roleRank[string(c.Role)] > roleRank[best] {
			best = string(c.Role)
		}
	}
	return best
}

type subjectJSON struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

type contributorJSON struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// usage is one quota entry, used against hard.
type usage struct {
	Used string `json:"used"`
	Hard string `json:"hard"`
	// Percent of hard used, for bars (0 when hard is 0 or unset).
	Percent int `json:"percent"`
}

type workspaceItem struct {
	Name    string       `json:"name"`
	Owner   *subjectJSON `json:"owner"`
	Role    string       `json:"role"`
	Ready   bool         `json:"ready"`
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message,omitempty"`
	Class   string       `json:"class,omitempty"`
	// Quota is CPU, memory and GPU requests, used against hard.
	Quota     map[string]usage `json:"quota"`
	Deleting  bool             `json:"deleting,omitempty"`
	CreatedAt metav1.Time      `json:"createdAt"`
}

// quotaKeys are the entries of Quota and the quota names they are read
// from, the first one present winning.
var quotaKeys = []struct {
	key   string
	names []corev1.ResourceName
}{
	{"cpu", []corev1.ResourceName{"requests.cpu", "cpu", "limits.cpu"}},
	{"memory", []corev1.ResourceName{"requests.memory", "memory", "limits.memory"}},
	{"gpu", []corev1.ResourceName{"requests.nvidia.com/gpu", "nvidia.com/gpu", "limits.nvidia.com/gpu"}},
}

func itemOf(ws *tenancyv1.Workspace, role string) workspaceItem {
	it := workspaceItem{Name: ws.Name, Role: role, Class: ws.Spec.Class, Quota: map[string]usage{}, Deleting: !ws.DeletionTimestamp.IsZero(), CreatedAt: ws.CreationTimestamp}
	if it.Class == "" {
		it.Class = ws.Status.Class
	}
	if ws.Spec.Owner != nil {
		it.Owner = &subjectJSON{Kind: string(ws.Spec.Owner.Kind), Name: ws.Spec.Owner.Name}
	}
	if c := meta.FindStatusCondition(ws.Status.Conditions, tenancyv1.ConditionReady); c != nil {
		it.Ready = c.Status == metav1.ConditionTrue && c.ObservedGeneration == ws.Generation
		switch {
		case it.Ready:
		case c.ObservedGeneration != ws.Generation:
			it.Reason = "Updating" // the controller has not seen the latest change yet
		default:
			it.Reason, it.Message = c.Reason, c.Message
		}
	} else {
		it.Reason = "Pending"
	}
	if q := ws.Status.Quota; q != nil {
		for _, k := range quotaKeys {
			for _, n := range k.names {
				hard, ok := q.Hard[n]
				if !ok {
					continue
				}
				used := q.Used[n]
				u := usage{Used: used.String(), Hard: hard.String()}
				if hard.Sign() > 0 {
					u.Percent = int(min(100, 100*used.AsApproximateFloat64()/hard.AsApproximateFloat64()+0.5))
				}
				it.Quota[k.key] = u
				break
			}
		}
	}
	return it
}

// GET /api/v1/workspaces: the caller's workspaces, from the cache;
// ?all=true: every workspace, for those RBAC lets list them.
func (s *server) apiListWorkspaces(w http.ResponseWriter, r *http.Request) error {
	items, err := s.listWorkspaces(r.Context(), r.URL.Query().Get("all") == "true")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf[workspaceItem]{Items: items})
	return nil
}

func (s *server) listWorkspaces(ctx context.Context, all bool) ([]workspaceItem, error) {
	p := principalFrom(ctx)
	if all {
		may, err := s.can(ctx, check{verb: "list", resource: "workspaces"})
		if err != nil {
			return nil, err
		}
		if !may[0] {
			return nil, errorf(CodeForbidden, "workspaces.tenancy.dev is forbidden: User %q cannot list resource \"workspaces\" in API group \"tenancy.dev\" at the cluster scope", p.Name)
		}
	}
	// From the cache, through the member index: the caller's user name
	// and each of their groups.
	var found []tenancyv1.Workspace
	if all {
		list := &tenancyv1.WorkspaceList{}
		if err := s.Cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		found = list.Items
	} else {
		keys := []string{string(tenancyv1.UserKind) + "/" + p.Name}
		for _, g := range p.Groups {
			keys = append(keys, string(tenancyv1.GroupKind)+"/"+g)
		}
		for _, k := range keys {
			list := &tenancyv1.WorkspaceList{}
			if err := s.Cache.List(ctx, list, client.MatchingFields{memberIndex: k}, client.UnsafeDisableDeepCopy); err != nil {
				return nil, err
			}
			found = append(found, list.Items...)
		}
	}
	items := []workspaceItem{}
	seen := map[string]bool{}
	for i := range found {
		ws := &found[i]
		role := roleOf(ws, p)
		if role == "" && !all || seen[ws.Name] {
			continue
		}
		seen[ws.Name] = true
		items = append(items, itemOf(ws, role))
	}
	slices.SortFunc(items, func(a, b workspaceItem) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}

type createWorkspaceRequest struct {
	Name         string            `json:"name"`
	Class        string            `json:"class,omitempty"`
	Contributors []contributorJSON `json:"contributors,omitempty"`
}

func validateWorkspaceName(name string) error {
	if name == "" {
		return errorf(CodeInvalid, "name: give the workspace a name, e.g. \"vision-team\"")
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return errorf(CodeInvalid, "name: %q is not a valid workspace name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

func toContributor(field string, c contributorJSON) (tenancyv1.Contributor, error) {
	out := tenancyv1.Contributor{Role: tenancyv1.ContributorRole(c.Role)}
	switch c.Kind {
	case "User", "Group":
		out.Kind = tenancyv1.SubjectKind(c.Kind)
	default:
		return out, errorf(CodeInvalid, "%s.kind: %q is not User or Group", field, c.Kind)
	}
	out.Name = c.Name
	if c.Name == "" || len(c.Name) > 253 || strings.ContainsAny(c.Name, "/%:") || strings.TrimSpace(c.Name) != c.Name {
		return out, errorf(CodeInvalid, "%s.name: %q is not a user or group name (1-253 characters, no '/', '%%' or ':')", field, c.Name)
	}
	switch out.Role {
	case tenancyv1.RoleAdmin, tenancyv1.RoleEdit, tenancyv1.RoleView:
	default:
		return out, errorf(CodeInvalid, "%s.role: %q is not admin, edit or view", field, c.Role)
	}
	return out, nil
}

// POST /api/v1/workspaces creates a workspace owned by the caller, as the
// caller: the self-serve policy decides.
func (s *server) apiCreateWorkspace(w http.ResponseWriter, r *http.Request) error {
	var req createWorkspaceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ws, err := s.createWorkspace(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/workspaces/"+ws.Name)
	writeJSON(w, http.StatusCreated, itemOf(ws, RoleOwner))
	return nil
}

func (s *server) createWorkspace(ctx context.Context, req createWorkspaceRequest) (*tenancyv1.Workspace, error) {
	p := principalFrom(ctx)
	if err := validateWorkspaceName(req.Name); err != nil {
		return nil, err
	}
	if errs := validation.IsDNS1123Subdomain(req.Class); req.Class != "" && len(errs) > 0 {
		return nil, errorf(CodeInvalid, "class: %q is not a WorkspaceClass name", req.Class)
	}
	if req.Class == "" {
		// The policy asks self-serve workspaces to name their class: the
		// default one, as the CLI does, when the caller names none.
		classes := &tenancyv1.WorkspaceClassList{}
		if err := s.AsUser.List(ctx, classes); err == nil {
			if d := tenancyv1.DefaultClass(classes.Items); d != nil {
				req.Class = d.Name
			}
		}
	}
	ws := &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: req.Name},
		Spec: tenancyv1.WorkspaceSpec{
			Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: p.Name},
			Class: req.Class,
		},
	}
	for i, c := range req.Contributors {
		con, err := toContributor("contributors["+itoa(i)+"]", c)
		if err != nil {
			return nil, err
		}
		ws.Spec.Contributors = append(ws.Spec.Contributors, con)
	}
	if err := s.AsUser.Create(ctx, ws, client.FieldOwner(FieldManager)); err != nil {
		return nil, err
	}
	return ws, nil
}

type limitRangeJSON struct {
	Default        map[string]string `json:"default,omitempty"`
	DefaultRequest map[string]string `json:"defaultRequest,omitempty"`
	Max            map[string]string `json:"max,omitempty"`
	Min            map[string]string `json:"min,omitempty"`
}

type conditionJSON struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

type workspaceDetail struct {
	workspaceItem
	Namespace     string            `json:"namespace"`
	ResourceQuota quotaDetail       `json:"resourceQuota"`
	LimitRange    *limitRangeJSON   `json:"limitRange,omitempty"`
	Contributors  []contributorJSON `json:"contributors"`
	Conditions    []conditionJSON   `json:"conditions"`
	May           mayWorkspace      `json:"may"`
}

type quotaDetail struct {
	Hard map[string]string `json:"hard"`
	Used map[string]string `json:"used"`
}

type mayWorkspace struct {
	Share  bool `json:"share"`
	Delete bool `json:"delete"`
}

func stringsOf(l corev1.ResourceList) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		out[string(k)] = v.String()
	}
	return out
}

func contributorsOf(ws *tenancyv1.Workspace) []contributorJSON {
	out := []contributorJSON{}
	for _, c := range ws.Spec.Contributors {
		out = append(out, contributorJSON{Kind: string(c.Kind), Name: c.Name, Role: string(c.Role)})
	}
	return out
}

// getWorkspace reads a workspace as the caller: Kubernetes says 403 or
// 404 for one they may not see.
func (s *server) getWorkspace(ctx context.Context, name string) (*tenancyv1.Workspace, error) {
	if err := validateWorkspaceName(name); err != nil {
		return nil, errorf(CodeNotFound, "workspace %q not found", name)
	}
	ws := &tenancyv1.Workspace{}
	if err := s.AsUser.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
		return nil, err
	}
	return ws, nil
}

// GET /api/v1/workspaces/{ws}
func (s *server) apiGetWorkspace(w http.ResponseWriter, r *http.Request) error {
	d, err := s.workspaceDetail(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *server) workspaceDetail(ctx context.Context, name string) (*workspaceDetail, error) {
	ws, err := s.getWorkspace(ctx, name)
	if err != nil {
		return nil, err
	}
	p := principalFrom(ctx)
	d := &workspaceDetail{
		workspaceItem: itemOf(ws, roleOf(ws, p)),
		Namespace:     ws.Name,
		Contributors:  contributorsOf(ws),
		ResourceQuota: quotaDetail{Hard: map[string]string{}, Used: map[string]string{}},
		Conditions:    []conditionJSON{},
	}
	if ws.Status.Namespace != "" {
		d.Namespace = ws.Status.Namespace
	}
	if q := ws.Status.Quota; q != nil {
		d.ResourceQuota = quotaDetail{Hard: stringsOf(q.Hard), Used: stringsOf(q.Used)}
	}
	for _, c := range ws.Status.Conditions {
		d.Conditions = append(d.Conditions, conditionJSON{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	// The limit range as the caller may read it in the namespace.
	lr := &corev1.LimitRange{}
	switch err := s.AsUser.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: "tenancy"}, lr); {
	case err == nil:
		for _, it := range lr.Spec.Limits {
			if it.Type == corev1.LimitTypeContainer {
				d.LimitRange = &limitRangeJSON{Default: stringsOf(it.Default), DefaultRequest: stringsOf(it.DefaultRequest), Max: stringsOf(it.Max), Min: stringsOf(it.Min)}
			}
		}
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
	default:
		return nil, err
	}
	may, err := s.can(ctx, check{verb: "update", resource: "workspaces", name: ws.Name}, check{verb: "delete", resource: "workspaces", name: ws.Name})
	if err != nil {
		return nil, err
	}
	d.May = mayWorkspace{Share: may[0], Delete: may[1]}
	return d, nil
}

// DELETE /api/v1/workspaces/{ws}
func (s *server) apiDeleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteWorkspace(r.Context(), r.PathValue("ws")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *server) deleteWorkspace(ctx context.Context, name string) error {
	if err := validateWorkspaceName(name); err != nil {
		return errorf(CodeNotFound, "workspace %q not found", name)
	}
	return s.AsUser.Delete(ctx, &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// GET /api/v1/workspaces/{ws}/contributors
func (s *server) apiListContributors(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.getWorkspace(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf[contributorJSON]{Items: contributorsOf(ws)})
	return nil
}

type roleRequest struct {
	Role string `json:"role"`
}

// PUT /api/v1/workspaces/{ws}/contributors/{kind}/{name}
func (s *server) apiPutContributor(w http.ResponseWriter, r *http.Request) error {
	var req roleRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	c, err := toContributor("contributor", contributorJSON{Kind: r.PathValue("kind"), Name: r.PathValue("name"), Role: req.Role})
	if err != nil {
		return err
	}
	ws, err := s.setContributor(r.Context(), r.PathValue("ws"), c, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf[contributorJSON]{Items: contributorsOf(ws)})
	return nil
}

// DELETE /api/v1/workspaces/{ws}/contributors/{kind}/{name}
func (s *server) apiDeleteContributor(w http.ResponseWriter, r *http.Request) error {
	c, err := toContributor("contributor", contributorJSON{Kind: r.PathValue("kind"), Name: r.PathValue("name"), Role: "view"})
	if err != nil {
		return err
	}
	if _, err := s.setContributor(r.Context(), r.PathValue("ws"), c, true); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setContributor adds, changes or (remove) removes a contributor, as the
// caller, retrying on conflicts.
func (s *server) setContributor(ctx context.Context, name string, c tenancyv1.Contributor, remove bool) (*tenancyv1.Workspace, error) {
	var ws *tenancyv1.Workspace
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		if ws, err = s.getWorkspace(ctx, name); err != nil {
			return err
		}
		if o := ws.Spec.Owner; !remove && o != nil && o.Kind == c.Kind && o.Name == c.Name {
			return errorf(CodeInvalid, "%s %s owns workspace %s: the owner cannot also be a contributor", c.Kind, c.Name, name)
		}
		var out []tenancyv1.Contributor
		found := false
		for _, x := range ws.Spec.Contributors {
			if x.Kind == c.Kind && x.Name == c.Name && x.Namespace == "" {
				found = true
				if remove {
					continue
				}
				x.Role = c.Role
			}
			out = append(out, x)
		}
		if !found && remove {
			return errorf(CodeNotFound, "workspace %s is not shared with %s %s", name, c.Kind, c.Name)
		}
		if !found {
			out = append(out, c)
		}
		ws.Spec.Contributors = out
		return s.AsUser.Update(ctx, ws, client.FieldOwner(FieldManager))
	})
	return ws, err
}

func itoa(i int) string { return strconv.Itoa(i) }
