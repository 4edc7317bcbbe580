//go:build integration

package user_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// bindGroup binds group to ClusterRole role with a ClusterRoleBinding
// named name, removed when the test ends.
func bindGroup(t *testing.T, name, group, role string) {
	t.Helper()
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}},
	}
	if err := admin.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), b) })
}

// TestPrivilegedGroups: a certificate group bound cluster-wide to
// cluster-admin or to a ClusterRole with a wildcard rule is refused, from
// --group and from the user file, before anything is made, unless the
// admin names it with --allow-privileged-group; `user kubeconfig` checks
// the groups again, as they are bound when the certificate is issued.
func TestPrivilegedGroups(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	star := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test:sec-star-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}}},
	}
	if err := admin.Create(ctx, star); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), star) })
	// As kubeadm binds kubeadm:cluster-admins.
	bindGroup(t, "test:sec-ops-admins", "sec-ops-admins", "cluster-admin")
	bindGroup(t, "test:sec-star-readers", "sec-star-readers", star.Name)
	bindGroup(t, "test:sec-readers", "sec-readers", "view")
	writeFile(t, dir, "star.yaml", "groups: [sec-readers, sec-star-readers]\n")

	tests := map[string]struct {
		user string
		args []string
		want []string
	}{
		"bound to cluster-admin": {"sec1", []string{"--group", "sec-ops-admins"}, []string{
			`error: group "sec-ops-admins" is bound cluster-wide to ClusterRole cluster-admin by ClusterRoleBinding test:sec-ops-admins: `,
			"--allow-privileged-group NAME"}},
		"a wildcard role, from the user file": {"sec2", []string{"--config", "star.yaml"}, []string{
			`error: group "sec-star-readers" is bound cluster-wide to ClusterRole test:sec-star-reader (a rule with apiGroups: ["*"]) by ClusterRoleBinding test:sec-star-readers`}},
		"allowing another group": {"sec3", []string{"--group", "sec-ops-admins", "--allow-privileged-group", "sec-readers"}, []string{
			`error: --allow-privileged-group "sec-readers": the user has no such group (groups: sec-ops-admins)`}},
		"system:masters": {"sec4", []string{"--group", "system:masters", "--allow-privileged-group", "system:masters"}, []string{
			`error: --group: group "system:masters": groups starting with "system:" are Kubernetes' own`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := tenancy(t, dir, append([]string{"user", "add", tc.user}, tc.args...)...)
			mustFail(t, r, tc.want...)
			if r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r)
			}
			nothingRefersTo(t, tc.user, tc.user)
			noFile(t, filepath.Join(dir, tc.user+".kubeconfig"))
		})
	}

	// A harmless group passes; a privileged one when the admin says so.
	mustSucceed(t, tenancy(t, dir, "user", "add", "sec5", "--group", "sec-readers"), "Workspace sec5 is Ready\n")
	if o := clientCert(t, filepath.Join(dir, "sec5.kubeconfig")).Subject.Organization; !slices.Equal(o, []string{"sec-readers"}) {
		t.Errorf("sec5's certificate groups %v", o)
	}
	mustSucceed(t, tenancy(t, dir, "user", "add", "sec6", "--group", "sec-ops-admins", "--allow-privileged-group", "sec-ops-admins"))
	mustSucceed(t, kubectl(t, filepath.Join(dir, "sec6.kubeconfig"), "", "auth", "can-i", "create", "clusterrolebindings"), "yes")
	mustSucceed(t, tenancy(t, dir, "user", "delete", "sec6"))

	// sec5's group becomes privileged: a new certificate needs the admin's word.
	bindGroup(t, "test:sec-readers-admin", "sec-readers", "cluster-admin")
	r := tenancy(t, dir, "user", "kubeconfig", "sec5", "--kubeconfig-out", "sec5-new.kubeconfig")
	mustFail(t, r, `error: group "sec-readers" is bound cluster-wide to ClusterRole cluster-admin by ClusterRoleBinding test:sec-readers-admin`)
	noFile(t, filepath.Join(dir, "sec5-new.kubeconfig"))
	mustSucceed(t, tenancy(t, dir, "user", "kubeconfig", "sec5", "--kubeconfig-out", "sec5-new.kubeconfig", "--allow-privileged-group", "sec-readers"))
	// A token carries no groups: nothing to check.
	mustSucceed(t, tenancy(t, dir, "user", "kubeconfig", "sec5", "--credential", "token", "--kubeconfig-out", "sec5-token.kubeconfig"))
	mustSucceed(t, tenancy(t, dir, "user", "delete", "sec5"))
}
