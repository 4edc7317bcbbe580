package workspace

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Names of the RBAC objects in a workspace namespace.
const (
	ownerBindingPrefix = "tenancy:owner"
	ownerRulesName     = "tenancy:owner-rules"
	editorSAName       = "default-editor"
	viewerSAName       = "default-viewer"
	contributorsPrefix = "tenancy:contributor"
)

// rbacObjects are the RBAC objects of one workspace.
type rbacObjects struct {
	ServiceAccounts     []*corev1ac.ServiceAccountApplyConfiguration
	Roles               []*rbacv1ac.RoleApplyConfiguration
	RoleBindings        []*rbacv1ac.RoleBindingApplyConfiguration
	ClusterRoles        []*rbacv1ac.ClusterRoleApplyConfiguration
	ClusterRoleBindings []*rbacv1ac.ClusterRoleBindingApplyConfiguration
}

// SubjectResolver turns a declared subject into the RBAC subjects to bind:
// none for a disabled user (the declaration stays, the access does not),
// the user and its token ServiceAccount for a user who has one.
type SubjectResolver func(tenancyv1.Subject) []rbacv1.Subject

// desiredRBAC binds the owner to admin (plus the extra rules), each
// contributor to its role, and the default-editor/default-viewer
// ServiceAccounts to edit/view, each subject as resolve says.
func desiredRBAC(e effective, m objectMeta, resolve SubjectResolver) rbacObjects {
	var out rbacObjects
	ns := e.Name
	bind := func(name, clusterRole string, subjects ...rbacv1.Subject) {
		if len(subjects) == 0 {
			return
		}
		rb := rbacv1ac.RoleBinding(name, ns).WithLabels(m.labels()).WithOwnerReferences(m.ownerRef()).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(clusterRole))
		for _, s := range subjects {
			rb.WithSubjects(subjectAC(s))
		}
		out.RoleBindings = append(out.RoleBindings, rb)
	}

	plugins := pluginAnnotations(e.Plugins)
	for _, sa := range []struct{ name, role string }{{editorSAName, "edit"}, {viewerSAName, "view"}} {
		ac := corev1ac.ServiceAccount(sa.name, ns).WithLabels(m.labels()).WithOwnerReferences(m.ownerRef())
		if sa.name == editorSAName && len(plugins) > 0 {
			ac.WithAnnotations(plugins)
		}
		out.ServiceAccounts = append(out.ServiceAccounts, ac)
		bind("tenancy:"+sa.name, sa.role, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: sa.name, Namespace: ns})
	}

	var owner []rbacv1.Subject
	if e.Owner != nil {
		owner = resolve(*e.Owner)
	}
	if len(owner) > 0 {
		bind(ownerBindingName(e.OwnerRole), e.OwnerRole.ClusterRole(), owner...)
		if len(e.Rules) > 0 {
			out.Roles = append(out.Roles, rbacv1ac.Role(ownerRulesName, ns).WithLabels(m.labels()).
				WithOwnerReferences(m.ownerRef()).WithRules(policyRulesAC(e.Rules)...))
			out.RoleBindings = append(out.RoleBindings, rbacv1ac.RoleBinding(ownerRulesName, ns).
				WithLabels(m.labels()).WithOwnerReferences(m.ownerRef()).
				WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(ownerRulesName)).
				WithSubjects(subjectsAC(owner)...))
		}
		if len(e.ClusterRules) > 0 {
			name := clusterRulesName(e.Name)
			out.ClusterRoles = append(out.ClusterRoles, rbacv1ac.ClusterRole(name).WithLabels(m.labels()).
				WithOwnerReferences(m.ownerRef()).WithRules(policyRulesAC(e.ClusterRules)...))
			out.ClusterRoleBindings = append(out.ClusterRoleBindings, rbacv1ac.ClusterRoleBinding(name).
				WithLabels(m.labels()).WithOwnerReferences(m.ownerRef()).
				WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(name)).
				WithSubjects(subjectsAC(owner)...))
		}
	}

	// Only an admin owner may change contributors: sharing grants admin,
	// edit or view, more than an edit or workload-manager owner holds.
	readers, writers := slices.Clone(owner), []rbacv1.Subject(nil)
	if r := e.OwnerRole; r == "" || r == tenancyv1.OwnerRoleAdmin {
		writers = slices.Clone(owner)
	}
	for _, c := range e.Contributors {
		subjects := resolve(c.Subject)
		bind(contributorBindingName(c), string(c.Role), subjects...)
		readers = append(readers, subjects...)
		if c.Role == tenancyv1.RoleAdmin {
			writers = append(writers, subjects...)
		}
	}
	if sets.New(writers...).Equal(sets.New(readers...)) {
		// Every member may change the Workspace (the common case: only an
		// owner, or only admin contributors): one role and one binding
		// instead of two. Each ClusterRoleBinding costs every request the
		// API server authorizes, Tenancy's or not (bench/README.md).
		out.memberRole(e.Name, m, memberReaderName(e.Name), slices.Concat(readVerbs, writeVerbs), readers)
		return out
	}
	out.memberRole(e.Name, m, memberReaderName(e.Name), readVerbs, readers)
	out.memberRole(e.Name, m, memberWriterName(e.Name), writeVerbs, writers)
	return out
}

// readVerbs let members read their Workspace, writeVerbs change it.
var readVerbs, writeVerbs = []string{"get", "list", "watch"}, []string{"patch", "update"}

// memberRole adds a ClusterRole granting verbs on this one Workspace object
// (by resourceNames) and its binding to subjects; none when nobody is bound.
// Members thereby read their own Workspace with kubectl, the CLI or the
// server acting as them, and owners and admin contributors change its
// contributors (the self-serve policy keeps them to that field).
func (out *rbacObjects) memberRole(workspace string, m objectMeta, name string, verbs []string, subjects []rbacv1.Subject) {
	if len(subjects) == 0 {
		return
	}
	out.ClusterRoles = append(out.ClusterRoles, rbacv1ac.ClusterRole(name).WithLabels(m.labels()).
		WithOwnerReferences(m.ownerRef()).WithRules(rbacv1ac.PolicyRule().
		WithAPIGroups(tenancyv1.GroupVersion.Group).WithResources("workspaces").
		WithResourceNames(workspace).WithVerbs(verbs...)))
	out.ClusterRoleBindings = append(out.ClusterRoleBindings, rbacv1ac.ClusterRoleBinding(name).
		WithLabels(m.labels()).WithOwnerReferences(m.ownerRef()).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(name)).
		WithSubjects(subjectsAC(subjects)...))
}

// memberReaderName is the ClusterRole (and binding) letting every member
// of a workspace read its Workspace object, and change it too when every
// member may.
func memberReaderName(workspace string) string {
	return rbacName("tenancy", "workspace", workspace, "member")
}

// memberWriterName is the ClusterRole (and binding) letting the owner and
// admin contributors patch and update the Workspace object, when there are
// members who may not.
func memberWriterName(workspace string) string {
	return rbacName("tenancy", "workspace", workspace, "manager")
}

// ownerBindingName names the owner's RoleBinding after its role (roleRef
// is immutable, so a changed role is a new binding); the admin one keeps
// the name it always had.
func ownerBindingName(r tenancyv1.OwnerRole) string {
	if r == "" || r == tenancyv1.OwnerRoleAdmin {
		return ownerBindingPrefix
	}
	return rbacName(ownerBindingPrefix, string(r))
}

// clusterRulesName is the ClusterRole (and binding) holding a workspace
// owner's cluster-scoped rules.
func clusterRulesName(workspace string) string {
	return rbacName("tenancy", "workspace", workspace, "owner")
}

// contributorBindingName names a contributor's RoleBinding after its role
// and subject, so a role change replaces the binding (roleRef is immutable).
func contributorBindingName(c tenancyv1.Contributor) string {
	parts := []string{contributorsPrefix, string(c.Role), strings.ToLower(string(c.Kind))}
	if c.Kind == tenancyv1.ServiceAccountKind {
		parts = append(parts, c.Namespace)
	}
	return rbacName(append(parts, c.Name)...)
}

func subjectsAC(ss []rbacv1.Subject) []*rbacv1ac.SubjectApplyConfiguration {
	out := make([]*rbacv1ac.SubjectApplyConfiguration, 0, len(ss))
	for _, s := range ss {
		out = append(out, subjectAC(s))
	}
	return out
}

func subjectAC(s rbacv1.Subject) *rbacv1ac.SubjectApplyConfiguration {
	ac := rbacv1ac.Subject().WithKind(s.Kind).WithName(s.Name)
	if s.APIGroup != "" {
		ac.WithAPIGroup(s.APIGroup)
	}
	if s.Namespace != "" {
		ac.WithNamespace(s.Namespace)
	}
	return ac
}

func policyRulesAC(rules []rbacv1.PolicyRule) []*rbacv1ac.PolicyRuleApplyConfiguration {
	out := make([]*rbacv1ac.PolicyRuleApplyConfiguration, 0, len(rules))
	for _, r := range rules {
		ac := rbacv1ac.PolicyRule().WithVerbs(r.Verbs...)
		if r.APIGroups != nil {
			ac.WithAPIGroups(r.APIGroups...)
		}
		if r.Resources != nil {
			ac.WithResources(r.Resources...)
		}
		if r.ResourceNames != nil {
			ac.WithResourceNames(r.ResourceNames...)
		}
		if r.NonResourceURLs != nil {
			ac.WithNonResourceURLs(r.NonResourceURLs...)
		}
		out = append(out, ac)
	}
	return out
}
