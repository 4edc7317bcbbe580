//go:build integration

package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Disabling a User takes their access away, everywhere, at once; enabling
// gives it back.
func TestDisabledUser(t *testing.T) {
	t.Parallel()
	const ns = "users-carol"
	createOrFail(t, &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{Name: "carol"}})
	createWorkspace(t, workspace(ns, "carol"))
	carol := userClient(t, "carol")
	waitReady(t, ns)
	eventuallyListPods(t, carol, "carol", ns)

	setDisabled(t, "carol", true)
	eventuallyDenied(t, "carol (disabled) listing pods", listPods(carol, ns))
	waitReady(t, ns) // a disabled owner is not an error

	setDisabled(t, "carol", false)
	eventuallyListPods(t, carol, "carol (enabled again)", ns)
}

// A User's token ServiceAccount is bound with the User, and loses access
// with them.
func TestUserServiceAccount(t *testing.T) {
	t.Parallel()
	const ns, saNS = "users-sam", "users-sam-tokens"
	createOrFail(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: saNS}})
	createOrFail(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sam", Namespace: saNS}})
	u := &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{Name: "sam"}}
	createOrFail(t, u)
	u.Status.ServiceAccount = &tenancyv1.ServiceAccountRef{Namespace: saNS, Name: "sam"}
	if err := admin.Status().Update(t.Context(), u); err != nil {
		t.Fatalf("set User sam status.serviceAccount: %v", err)
	}
	createWorkspace(t, workspace(ns, "sam"))
	waitReady(t, ns)

	token := serviceAccountClient(t, saNS, "sam")
	eventuallyListPods(t, token, "sam's ServiceAccount token", ns)
	eventuallyListPods(t, userClient(t, "sam"), "sam (certificate)", ns)

	setDisabled(t, "sam", true)
	eventuallyDenied(t, "sam's ServiceAccount token (user disabled) listing pods", listPods(token, ns))
}

func setDisabled(t *testing.T, name string, disabled bool) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := &tenancyv1.User{}
		if err := admin.Get(t.Context(), client.ObjectKey{Name: name}, u); err != nil {
			return err
		}
		u.Spec.Disabled = disabled
		return admin.Update(t.Context(), u)
	})
	if err != nil {
		t.Fatalf("set User %s spec.disabled=%t: %v", name, disabled, err)
	}
}
