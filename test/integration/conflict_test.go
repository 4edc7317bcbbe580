//go:build integration

package integration

import (
	"context"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// A namespace that is not Tenancy's is never adopted, changed or deleted.
func TestNamespaceConflict(t *testing.T) {
	t.Parallel()
	const ns = "taken"
	createOrFail(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "finance"}}})
	createOrFail(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: ns}, Data: map[string]string{"k": "v"}})
	before, err := adminCS.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	createWorkspace(t, workspace(ns, "tara"))
	got := waitCondition(t, ns, tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonNamespaceConflict)
	t.Logf("Ready=False %s: %s", tenancyv1.ReasonNamespaceConflict, got.Condition(tenancyv1.ConditionReady).Message)

	after, err := adminCS.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before.Labels, after.Labels) || !maps.Equal(before.Annotations, after.Annotations) {
		t.Errorf("namespace changed: labels %v annotations %v, was labels %v annotations %v",
			after.Labels, after.Annotations, before.Labels, before.Annotations)
	}
	if len(after.OwnerReferences) > 0 {
		t.Errorf("namespace got owner references %v", after.OwnerReferences)
	}
	rbs, err := adminCS.RbacV1().RoleBindings(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range rbs.Items {
		t.Errorf("RoleBinding %s created in somebody else's namespace (subjects %v)", rb.Name, rb.Subjects)
	}
	if rqs, err := adminCS.CoreV1().ResourceQuotas(ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(rqs.Items) > 0 {
		t.Errorf("ResourceQuotas in somebody else's namespace: %v (err %v)", rqs, err)
	}
	if nps, err := adminCS.NetworkingV1().NetworkPolicies(ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(nps.Items) > 0 {
		t.Errorf("NetworkPolicies in somebody else's namespace: %v (err %v)", nps, err)
	}

	// Deleting the Workspace lets it go and leaves the namespace alone.
	if err := admin.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	eventually(t, deleteTimeout, "Workspace "+ns+" deleted", func(ctx context.Context) error {
		return gone(getWorkspace(ctx, ns))
	})
	after, err = adminCS.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		t.Fatalf("namespace %s was deleted with the Workspace that never owned it", ns)
	case err != nil:
		t.Fatal(err)
	case after.DeletionTimestamp != nil:
		t.Errorf("namespace %s is being deleted with the Workspace that never owned it", ns)
	}
	if _, err := adminCS.CoreV1().ConfigMaps(ns).Get(t.Context(), "ledger", metav1.GetOptions{}); err != nil {
		t.Errorf("ConfigMap %s/ledger: %v", ns, err)
	}
}
