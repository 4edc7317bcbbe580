package user

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// clusterAdminRole is Kubernetes' superuser ClusterRole.
const clusterAdminRole = "cluster-admin"

// userGroupFlags say which privileged groups the admin lets a user carry.
type userGroupFlags struct {
	AllowPrivileged []string
}

func (f *userGroupFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.AllowPrivileged, "allow-privileged-group", nil,
		"let the user's certificate carry this group although a ClusterRoleBinding binds it to cluster-admin or to a ClusterRole with a wildcard rule (repeatable)")
}

// validate checks that each allowed group is one of groups: a typo must not
// pass silently.
func (f *userGroupFlags) validate(groups []string) error {
	for _, g := range f.AllowPrivileged {
		if !slices.Contains(groups, g) {
			return fmt.Errorf("--allow-privileged-group %q: the user has no such group (groups: %s)", g, groupList(groups))
		}
	}
	return nil
}

func groupList(ss []string) string {
	if len(ss) == 0 {
		return "<none>"
	}
	return strings.Join(ss, ", ")
}

// userCheckGroups refuses groups that a ClusterRoleBinding binds to
// cluster-admin or to a ClusterRole with a wildcard rule, unless allowed:
// a certificate carrying such a group is a cluster admin, and Kubernetes
// cannot revoke it. It only reads.
func userCheckGroups(ctx context.Context, c client.Client, groups, allowed []string) error {
	var check []string
	for _, g := range groups {
		if !slices.Contains(allowed, g) {
			check = append(check, g)
		}
	}
	if len(check) == 0 {
		return nil
	}
	bindings := &rbacv1.ClusterRoleBindingList{}
	if err := c.List(ctx, bindings); err != nil {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("cannot check whether the groups %s are bound to cluster-admin (listing ClusterRoleBindings is forbidden): ask a cluster admin, or pass --allow-privileged-group for each: %w",
				strings.Join(check, ", "), err)
		}
		return fmt.Errorf("list ClusterRoleBindings: %w", err)
	}
	roles := map[string]*rbacv1.ClusterRole{}
	var found []string
	for _, b := range bindings.Items {
		if b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		for _, s := range b.Subjects {
			if s.Kind != rbacv1.GroupKind || !slices.Contains(check, s.Name) {
				continue
			}
			why, err := privilegedRole(ctx, c, roles, b.RoleRef.Name)
			if err != nil {
				return err
			}
			if why != "" {
				found = append(found, fmt.Sprintf("group %q is bound cluster-wide to %s by ClusterRoleBinding %s", s.Name, why, b.Name))
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	slices.Sort(found)
	return fmt.Errorf("%s: a certificate carrying it is a cluster admin and cannot be revoked; drop the group, or pass --allow-privileged-group NAME if that is what you want",
		strings.Join(slices.Compact(found), "; "))
}

// privilegedRole says why ClusterRole name is privileged ("" if it is not):
// it is cluster-admin, or has a rule with "*" as verb, resource or API group.
// A missing role is not privileged (yet); roles caches what was read.
func privilegedRole(ctx context.Context, c client.Client, roles map[string]*rbacv1.ClusterRole, name string) (string, error) {
	if name == clusterAdminRole {
		return "ClusterRole " + clusterAdminRole, nil
	}
	role, ok := roles[name]
	if !ok {
		role = &rbacv1.ClusterRole{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, role); err != nil {
			if !apierrors.IsNotFound(err) {
				return "", fmt.Errorf("read ClusterRole %s: %w", name, err)
			}
			role = nil
		}
		roles[name] = role
	}
	if role == nil {
		return "", nil
	}
	for _, r := range role.Rules {
		for _, f := range []struct {
			field  string
			values []string
		}{{"apiGroups", r.APIGroups}, {"resources", r.Resources}, {"verbs", r.Verbs}} {
			if slices.Contains(f.values, rbacv1.VerbAll) {
				return fmt.Sprintf("ClusterRole %s (a rule with %s: [\"*\"])", name, f.field), nil
			}
		}
	}
	return "", nil
}
