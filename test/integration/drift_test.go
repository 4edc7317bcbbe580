//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// What somebody else deletes or changes is put back; what the spec no
// longer asks for is pruned.
func TestDriftIsRepaired(t *testing.T) {
	t.Parallel()
	const ns = "drift"
	ws := workspace(ns, "dora")
	ws.Spec.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: resources("requests.cpu", "4")}
	ws.Spec.Rules = []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list"}}}
	createWorkspace(t, ws)
	waitReady(t, ns)
	rbac, core, netv1 := adminCS.RbacV1(), adminCS.CoreV1(), adminCS.NetworkingV1()

	t.Run("owner RoleBinding deleted", func(t *testing.T) {
		old, err := rbac.RoleBindings(ns).Get(t.Context(), "tenancy:owner", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := rbac.RoleBindings(ns).Delete(t.Context(), old.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, timeout, "RoleBinding tenancy:owner recreated", func(ctx context.Context) error {
			rb, err := rbac.RoleBindings(ns).Get(ctx, "tenancy:owner", metav1.GetOptions{})
			switch {
			case err != nil:
				return err
			case rb.UID == old.UID:
				return errors.New("still the deleted one")
			case rb.RoleRef.Name != "admin" || len(rb.Subjects) != 1 || rb.Subjects[0].Name != "dora":
				return fmt.Errorf("recreated as roleRef %v subjects %v, want admin for dora", rb.RoleRef, rb.Subjects)
			}
			return nil
		})
	})

	t.Run("ResourceQuota edited", func(t *testing.T) {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			rq, err := core.ResourceQuotas(ns).Get(t.Context(), "tenancy", metav1.GetOptions{})
			if err != nil {
				return err
			}
			rq.Spec.Hard["requests.cpu"] = resources("requests.cpu", "99")["requests.cpu"]
			_, err = core.ResourceQuotas(ns).Update(t.Context(), rq, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		waitQuotaSpec(t, ns, resources("requests.cpu", "4"))
	})

	t.Run("NetworkPolicy deleted", func(t *testing.T) {
		old, err := netv1.NetworkPolicies(ns).Get(t.Context(), "tenancy-isolation", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := netv1.NetworkPolicies(ns).Delete(t.Context(), old.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, timeout, "NetworkPolicy tenancy-isolation recreated", func(ctx context.Context) error {
			np, err := netv1.NetworkPolicies(ns).Get(ctx, "tenancy-isolation", metav1.GetOptions{})
			if err == nil && np.UID == old.UID {
				return errors.New("still the deleted one")
			}
			return err
		})
	})

	t.Run("rules removed", func(t *testing.T) {
		if _, err := rbac.Roles(ns).Get(t.Context(), "tenancy:owner-rules", metav1.GetOptions{}); err != nil {
			t.Fatalf("Role for spec.rules: %v", err)
		}
		updateWorkspace(t, ns, func(ws *tenancyv1.Workspace) { ws.Spec.Rules = nil })
		eventually(t, timeout, "Role and RoleBinding tenancy:owner-rules pruned", func(ctx context.Context) error {
			return errors.Join(
				gone(rbac.Roles(ns).Get(ctx, "tenancy:owner-rules", metav1.GetOptions{})),
				gone(rbac.RoleBindings(ns).Get(ctx, "tenancy:owner-rules", metav1.GetOptions{})))
		})
	})

	t.Run("network isolation off", func(t *testing.T) {
		updateWorkspace(t, ns, func(ws *tenancyv1.Workspace) { ws.Spec.NetworkIsolation = new(false) })
		eventually(t, timeout, "NetworkPolicy tenancy-isolation pruned", func(ctx context.Context) error {
			return gone(netv1.NetworkPolicies(ns).Get(ctx, "tenancy-isolation", metav1.GetOptions{}))
		})
		waitReady(t, ns)
	})
}

// gone turns a Get's result into nil when the object is not found.
func gone[T interface{ GetUID() types.UID }](obj T, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%T still exists (uid %s)", obj, obj.GetUID())
}
