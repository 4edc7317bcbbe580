//go:build integration

package security

import (
	"context"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

// TestNoEscalationThroughRules: a Tenancy admin (bound to tenancy:admin
// and nothing else) may not make itself, or anybody, more than it is
// through spec.rules or spec.clusterRules. Granting takes what Kubernetes
// asks of whoever grants roles: escalate and bind. system:masters may
// grant anything.
func TestNoEscalationThroughRules(t *testing.T) {
	bind(t, "ws-admin", install.AdminRole)
	c := as(t, "ws-admin")
	all := rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}

	ws := workspace("esc-cluster", "ws-admin")
	ws.Spec.ClusterRules = []rbacv1.PolicyRule{all}
	refused(t, c, ws, "you may not grant the permissions of spec.clusterRules")

	ws = workspace("esc-ns", "ws-admin")
	ws.Spec.Rules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}
	refused(t, c, ws, "resources: [secrets]")

	ws = workspace("esc-url", "ws-admin")
	ws.Spec.ClusterRules = []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	refused(t, c, ws, "nonResourceURLs: [/metrics]")

	// An owner role: Tenancy's own ones are anybody's to name; another
	// ClusterRole only for whoever may bind it.
	role := workspace("esc-role", "ws-admin")
	role.Spec.OwnerRole = "cluster-admin"
	refused(t, c, role, "you may not name ClusterRole cluster-admin as spec.ownerRole: that takes bind on it")
	role.Spec.OwnerRole = tenancyv1.OwnerRoleWorkloadManager
	if err := c.Create(context.Background(), role.DeepCopy(), client.DryRunAll); err != nil {
		t.Errorf("ownerRole workload-manager was refused to a Tenancy admin: %v", err)
	}

	// An update that adds rules is checked like a create; one that leaves
	// them alone is not (the controller, holding none of them, patches
	// finalizers and status).
	plain := workspace("esc-update", "ws-admin")
	if err := c.Create(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, plain.Name)
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(plain), plain); err != nil {
		t.Fatal(err)
	}
	plain.Spec.ClusterRules = []rbacv1.PolicyRule{all}
	if err := c.Update(context.Background(), plain); err == nil {
		t.Error("an update adding clusterRules * was accepted")
	}

	// Who may escalate and bind cluster roles may grant cluster rules, as
	// in Kubernetes itself — but not namespaced ones without the same on
	// roles.
	granter := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "test:granter"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"escalate", "bind"},
	}}}
	if err := env.Admin.Create(context.Background(), granter); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Admin.Delete(context.Background(), granter) }()
	bind(t, "ws-admin", granter.Name)
	held := workspace("esc-held", "ws-admin")
	held.Spec.ClusterRules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}}
	testenv.Eventually(t, 30*time.Second, "cluster rules granted by a granter", func(ctx context.Context) error {
		return c.Create(ctx, held.DeepCopy(), client.DryRunAll)
	})
	ns := workspace("esc-ns-2", "ws-admin")
	ns.Spec.Rules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}
	refused(t, c, ns, "escalate and bind on roles in the workspace namespace")

	// The cluster's own admins hold everything and may grant it.
	root := workspace("esc-root", "someone")
	root.Spec.ClusterRules = []rbacv1.PolicyRule{all}
	if err := env.Admin.Create(context.Background(), root, client.DryRunAll); err != nil {
		t.Errorf("system:masters was refused: %v", err)
	}
}
