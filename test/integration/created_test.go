//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// The controller creates (POST) the objects of a new workspace rather than
// applying them; a later change of the spec that drops a field must still
// drop it from the object, as an apply from the start would have. The
// namespace is made in one write with all its labels.
func TestCreatedObjectsFollowTheSpec(t *testing.T) {
	t.Parallel()
	const ns = "created-cara"
	ws := workspace(ns, "cara")
	ws.Spec.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: resources("requests.cpu", "4", "requests.memory", "8Gi")}
	createWorkspace(t, ws)
	waitReady(t, ns)

	nsObj := &corev1.Namespace{}
	if err := admin.Get(t.Context(), client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	if got := nsObj.Labels["pod-security.kubernetes.io/enforce"]; got == "" {
		t.Errorf("namespace %s has no pod-security label from its create: labels %v", ns, nsObj.Labels)
	}

	updateWorkspace(t, ns, func(ws *tenancyv1.Workspace) {
		ws.Spec.ResourceQuota.Hard = resources("requests.cpu", "2")
	})
	eventually(t, timeout, "the quota loses requests.memory and has requests.cpu 2", func(ctx context.Context) error {
		q := &corev1.ResourceQuota{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tenancy"}, q); err != nil {
			return err
		}
		cpu := q.Spec.Hard["requests.cpu"]
		if _, ok := q.Spec.Hard["requests.memory"]; ok || cpu.String() != "2" {
			return fmt.Errorf("spec.hard %v", q.Spec.Hard)
		}
		for _, mf := range q.ManagedFields {
			if mf.Manager == tenancyv1.FieldManager && mf.Operation == metav1.ManagedFieldsOperationUpdate && mf.Subresource == "" {
				return fmt.Errorf("the controller still holds fields of its create: %v", mf)
			}
		}
		return nil
	})
	waitReady(t, ns)
}

// PodsReady turns True once kube-controller-manager has made the
// namespace's default ServiceAccount, beside Ready.
func TestPodsReady(t *testing.T) {
	t.Parallel()
	const ns = "pods-ready-dan"
	createWorkspace(t, workspace(ns, "dan"))
	waitCondition(t, ns, tenancyv1.ConditionPodsReady, metav1.ConditionTrue, tenancyv1.ReasonReconciled)
	sa := &corev1.ServiceAccount{}
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "default"}, sa); err != nil {
		t.Errorf("PodsReady is True but the default ServiceAccount: %v", err)
	}
}
