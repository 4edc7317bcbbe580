//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// A default class gives its quota to workspaces naming no class; a
// workspace overrides single entries.
//
// Not parallel: a default class applies to every workspace naming no class,
// so it must not meet the other tests' workspaces. Go runs the parallel
// tests after this one, and the test ends once the controller has taken the
// class's quota away again.
func TestDefaultClass(t *testing.T) {
	class := &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "class-default",
			Annotations: map[string]string{tenancyv1.AnnotationIsDefaultClass: "true"},
		},
		Spec: tenancyv1.WorkspaceClassSpec{ResourceQuota: &corev1.ResourceQuotaSpec{
			Hard: resources("requests.cpu", "7", "requests.memory", "7Gi", "pods", "17"),
		}},
	}
	createOrFail(t, class)
	createWorkspace(t, workspace("class-plain", "cleo"))
	override := workspace("class-override", "cleo")
	override.Spec.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: resources("requests.cpu", "3")}
	createWorkspace(t, override)

	waitQuotaSpec(t, "class-plain", resources("requests.cpu", "7", "requests.memory", "7Gi", "pods", "17"))
	waitQuotaSpec(t, "class-override", resources("requests.cpu", "3", "requests.memory", "7Gi", "pods", "17"))
	for _, name := range []string{"class-plain", "class-override"} {
		if ws := waitReady(t, name); ws.Status.Class != class.Name {
			t.Errorf("Workspace %s status.class = %q, want the default class %q", name, ws.Status.Class, class.Name)
		}
	}

	// The class's change reaches both.
	updateClass(t, class.Name, func(c *tenancyv1.WorkspaceClass) {
		c.Spec.ResourceQuota.Hard["pods"] = resources("pods", "27")["pods"]
	})
	waitQuotaSpec(t, "class-plain", resources("requests.cpu", "7", "requests.memory", "7Gi", "pods", "27"))
	waitQuotaSpec(t, "class-override", resources("requests.cpu", "3", "requests.memory", "7Gi", "pods", "27"))

	// Without a default class, what it gave goes.
	if err := admin.Delete(t.Context(), class); err != nil {
		t.Fatal(err)
	}
	eventually(t, timeout, "ResourceQuota class-plain/tenancy removed with the default class", func(ctx context.Context) error {
		_, err := adminCS.CoreV1().ResourceQuotas("class-plain").Get(ctx, "tenancy", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %v)", err)
	})
	waitQuotaSpec(t, "class-override", resources("requests.cpu", "3"))
}

// A workspace naming a class that does not exist waits for it, and follows
// the class's changes.
func TestNamedClass(t *testing.T) {
	t.Parallel()
	const ns, className = "class-late-ws", "class-late"
	ws := workspace(ns, "cleo")
	ws.Spec.Class = className
	createWorkspace(t, ws)

	got := waitCondition(t, ns, tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonClassNotFound)
	if msg := got.Condition(tenancyv1.ConditionReady).Message; !strings.Contains(msg, className) {
		t.Errorf("Ready message %q does not name the missing class %q", msg, className)
	}

	createOrFail(t, &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{Name: className},
		Spec: tenancyv1.WorkspaceClassSpec{ResourceQuota: &corev1.ResourceQuotaSpec{
			Hard: resources("requests.cpu", "2", "requests.nvidia.com/gpu", "1"),
		}},
	})
	if got := waitReady(t, ns); got.Status.Class != className {
		t.Errorf("status.class = %q, want %q", got.Status.Class, className)
	}
	waitQuotaSpec(t, ns, resources("requests.cpu", "2", "requests.nvidia.com/gpu", "1"))

	updateClass(t, className, func(c *tenancyv1.WorkspaceClass) {
		c.Spec.ResourceQuota.Hard["requests.cpu"] = resources("requests.cpu", "4")["requests.cpu"]
	})
	waitQuotaSpec(t, ns, resources("requests.cpu", "4", "requests.nvidia.com/gpu", "1"))
	waitGPUs(t, ns, "0/1")
}

func updateClass(t *testing.T, name string, mutate func(*tenancyv1.WorkspaceClass)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c := &tenancyv1.WorkspaceClass{}
		if err := admin.Get(t.Context(), client.ObjectKey{Name: name}, c); err != nil {
			return err
		}
		mutate(c)
		return admin.Update(t.Context(), c)
	})
	if err != nil {
		t.Fatalf("update WorkspaceClass %s: %v", name, err)
	}
}
