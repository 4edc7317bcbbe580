package v1alpha1

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Is says whether s and o are the same subject, as RBAC compares them:
// kind and name, and the namespace of a ServiceAccount.
func (s Subject) Is(o Subject) bool {
	return s.Kind == o.Kind && s.Name == o.Name && (s.Kind != ServiceAccountKind || s.Namespace == o.Namespace)
}

// IsUser says whether s is the User name.
func (s Subject) IsUser(name string) bool { return s.Kind == UserKind && s.Name == name }

// Matches says whether s stands for the identity the API server
// authenticated as user, member of groups: that user, one of the groups,
// or the ServiceAccount whose user name it is.
func (s Subject) Matches(user string, groups []string) bool {
	switch s.Kind {
	case UserKind:
		return s.Name == user
	case GroupKind:
		return slices.Contains(groups, s.Name)
	case ServiceAccountKind:
		return user == "system:serviceaccount:"+s.Namespace+":"+s.Name
	}
	return false
}

// IsOwnedByUser says whether the owner of the workspace is User name.
func (ws *Workspace) IsOwnedByUser(name string) bool {
	return ws.Spec.Owner != nil && ws.Spec.Owner.IsUser(name)
}

// ContributorRole is the role of s among the workspace's contributors.
func (ws *Workspace) ContributorRole(s Subject) (ContributorRole, bool) {
	for _, c := range ws.Spec.Contributors {
		if c.Is(s) {
			return c.Role, true
		}
	}
	return "", false
}

// NamesUser says whether the workspace names User name, as owner or
// contributor.
func (ws *Workspace) NamesUser(name string) bool {
	_, contributes := ws.ContributorRole(Subject{Kind: UserKind, Name: name})
	return ws.IsOwnedByUser(name) || contributes
}

// Involves says whether the workspace names the identity (user, member of
// groups), or one of its groups, as owner or contributor.
func (ws *Workspace) Involves(user string, groups []string) bool {
	if ws.Spec.Owner != nil && ws.Spec.Owner.Matches(user, groups) {
		return true
	}
	return slices.ContainsFunc(ws.Spec.Contributors, func(c Contributor) bool { return c.Matches(user, groups) })
}

// IsDefault says whether the class is marked default (the annotation
// AnnotationIsDefaultClass "true", in the StorageClass style).
func (c *WorkspaceClass) IsDefault() bool {
	return c.Annotations[AnnotationIsDefaultClass] == "true"
}

// DefaultClass picks the class marked default that applies to a workspace
// naming none; with several, the oldest (then first by name), so the
// choice is stable. It is nil when no class is marked default.
func DefaultClass(classes []WorkspaceClass) *WorkspaceClass {
	var best *WorkspaceClass
	for i := range classes {
		c := &classes[i]
		if !c.IsDefault() {
			continue
		}
		if best == nil || c.CreationTimestamp.Before(&best.CreationTimestamp) ||
			c.CreationTimestamp.Equal(&best.CreationTimestamp) && strings.Compare(c.Name, best.Name) < 0 {
			best = c
		}
	}
	return best
}

// ResolveUser is the RBAC subjects the User subject s stands for, given
// its User object: nobody while it is disabled, else the user and the
// ServiceAccount of its token credentials.
func ResolveUser(s Subject, u *User) []rbacv1.Subject {
	if u.Spec.Disabled {
		return nil
	}
	out := []rbacv1.Subject{s.RBAC()}
	if sa := u.Status.ServiceAccount; sa != nil {
		out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name})
	}
	return out
}
