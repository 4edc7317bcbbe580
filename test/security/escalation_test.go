package security

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/install"
)

// TestNoEscalationThroughRules: a Tenancy admin (bound to tenancy:admin
// and nothing else) may not make itself, or anybody, more than it is
// through spec.rules or spec.clusterRules; it may grant what it holds.
// system:masters may grant anything.
func TestNoEscalationThroughRules(t *testing.T) {
	bind(t, "ws-admin", install.AdminRole)
	c := as(t, "ws-admin")
	all := rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}

	ws := workspace("esc-cluster", "ws-admin")
	ws.Spec.ClusterRules = []rbacv1.PolicyRule{all}
	refused(t, c, ws, "you may not grant in spec.clusterRules permissions you do not hold yourself")

	ws = workspace("esc-ns", "ws-admin")
	ws.Spec.Rules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}
	refused(t, c, ws, "resources: [secrets]")

	ws = workspace("esc-sub", "ws-admin")
	ws.Spec.ClusterRules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}}
	refused(t, c, ws, "spec.clusterRules")

	ws = workspace("esc-url", "ws-admin")
	ws.Spec.ClusterRules = []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	refused(t, c, ws, "nonResourceURLs: [/metrics]")

	// What it holds it may grant: everything on Tenancy's own API.
	held := workspace("esc-held", "ws-admin")
	held.Spec.ClusterRules = []rbacv1.PolicyRule{{APIGroups: []string{"tenancy.dev"}, Resources: []string{"workspaceclasses"}, ResourceNames: []string{"standard"}, Verbs: []string{"get"}}}
	if err := c.Create(context.Background(), held, client.DryRunAll); err != nil {
		t.Errorf("granting a right the requester holds was refused: %v", err)
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

	// The cluster's own admins hold everything and may grant it.
	root := workspace("esc-root", "someone")
	root.Spec.ClusterRules = []rbacv1.PolicyRule{all}
	if err := env.Admin.Create(context.Background(), root, client.DryRunAll); err != nil {
		t.Errorf("system:masters was refused: %v", err)
	}
}
