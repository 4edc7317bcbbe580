package config

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// TestControllerRolesLeaderElection: the shipped RBAC lets the controller
// take its leader election Lease in kube-system, and no other Lease but by
// creating it.
func TestControllerRolesLeaderElection(t *testing.T) {
	cr, roles, err := ControllerRoles()
	if err != nil {
		t.Fatal(err)
	}
	if cr.Name != "tenancy-controller" {
		t.Errorf("ClusterRole %q, want tenancy-controller", cr.Name)
	}
	for _, r := range cr.Rules {
		if slices.Contains(r.APIGroups, "coordination.k8s.io") {
			t.Errorf("the ClusterRole grants Leases cluster-wide: %v", r)
		}
	}
	var lease *rbacv1.Role
	for i := range roles {
		if roles[i].Namespace == "kube-system" {
			lease = &roles[i]
		}
	}
	if lease == nil {
		t.Fatalf("no Role in kube-system among %d Roles", len(roles))
	}
	allowed := func(verb, name string) bool {
		for _, r := range lease.Rules {
			if slices.Contains(r.APIGroups, "coordination.k8s.io") && slices.Contains(r.Resources, "leases") &&
				slices.Contains(r.Verbs, verb) && (len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
				return true
			}
		}
		return false
	}
	const own = "tenancy-controller.tenancy.dev"
	for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
		if !allowed(verb, own) {
			t.Errorf("may not %s its Lease %s", verb, own)
		}
	}
	for _, verb := range []string{"get", "update", "patch", "delete"} {
		if allowed(verb, "kube-controller-manager") {
			t.Errorf("may %s the Lease of kube-controller-manager", verb)
		}
	}
}
