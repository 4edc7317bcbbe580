package workspace

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenancy-dev/tenancy/internal/testutil"
)

// TestDesiredKinds checks the apiVersion and kind every builder sends, which
// the other tests leave out of their comparisons.
func TestDesiredKinds(t *testing.T) {
	ws := testutil.Workspace("ml").Owner("alex").Rules(readPods).ClusterRules(readNodes).
		Quota("requests.cpu", "8").Storage("10Gi").Obj()
	e, m := effectiveSpec(ws, nil), metaOf(ws)
	rbac := desiredRBAC(e, m, bindAsDeclared)

	tests := map[string]struct {
		ac   any
		want metav1.TypeMeta
	}{
		"Namespace":          {desiredNamespace(e, m), metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}},
		"ResourceQuota":      {desiredQuota(e, m), metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"}},
		"LimitRange":         {desiredLimitRange(e, m), metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"}},
		"NetworkPolicy":      {desiredNetworkPolicy(e, m), metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}},
		"PVC":                {desiredStorage(e, m), metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"}},
		"ServiceAccount":     {rbac.ServiceAccounts[0], metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}},
		"Role":               {rbac.Roles[0], metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}},
		"RoleBinding":        {rbac.RoleBindings[0], metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}},
		"ClusterRole":        {rbac.ClusterRoles[0], metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}},
		"ClusterRoleBinding": {rbac.ClusterRoleBindings[0], metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := decode[metav1.TypeMeta](t, tc.ac)
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("type mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
