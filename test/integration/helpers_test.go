//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

const (
	// timeout bounds waiting for the controller, and for the API server's
	// authorizer and admission caches, to catch up with a change.
	timeout = 30 * time.Second
	// deleteTimeout bounds a workspace deletion: the namespace controller
	// empties and removes the namespace, then the finalizer lets go.
	deleteTimeout = 90 * time.Second
	pollInterval  = 200 * time.Millisecond
)

// eventually polls f until it returns nil, failing the test with what and
// f's last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		last = f(ctx)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: still not so after %s: %v", what, timeout, last)
	}
}

// userClient is a clientset authenticating as user in groups with a
// client certificate from the cluster CA: no rights but RBAC's.
func userClient(t *testing.T, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	cfg, err := cluster.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return clientsetFor(t, cfg)
}

// serviceAccountClient is a clientset authenticating as the ServiceAccount
// with a bound token from the TokenRequest API.
func serviceAccountClient(t *testing.T, namespace, name string) kubernetes.Interface {
	t.Helper()
	tr, err := adminCS.CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	return clientsetFor(t, &rest.Config{
		Host:            cluster.Host(),
		TLSClientConfig: rest.TLSClientConfig{CAData: cluster.CAData()},
		BearerToken:     tr.Status.Token,
		QPS:             100,
		Burst:           200,
	})
}

func clientsetFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// createWorkspace creates ws as admin and deletes it when the test ends
// (without waiting: deletion is tested on its own).
func createWorkspace(t *testing.T, ws *tenancyv1.Workspace) {
	t.Helper()
	if err := admin.Create(t.Context(), ws); err != nil {
		t.Fatalf("create Workspace %s: %v", ws.Name, err)
	}
	t.Cleanup(func() { deleteQuietly(t, ws) })
}

// deleteQuietly deletes obj at cleanup, reporting only unexpected errors.
func deleteQuietly(t *testing.T, obj client.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("cleanup: delete %T %s: %v", obj, obj.GetName(), err)
	}
}

// createOrFail creates obj as admin and deletes it when the test ends.
func createOrFail(t *testing.T, obj client.Object) {
	t.Helper()
	if err := admin.Create(t.Context(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() { deleteQuietly(t, obj) })
}

func getWorkspace(ctx context.Context, name string) (*tenancyv1.Workspace, error) {
	ws := &tenancyv1.Workspace{}
	return ws, admin.Get(ctx, client.ObjectKey{Name: name}, ws)
}

// updateWorkspace changes the Workspace's spec as admin, retrying on
// conflicts with the controller's writes.
func updateWorkspace(t *testing.T, name string, mutate func(*tenancyv1.Workspace)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ws, err := getWorkspace(t.Context(), name)
		if err != nil {
			return err
		}
		mutate(ws)
		return admin.Update(t.Context(), ws)
	})
	if err != nil {
		t.Fatalf("update Workspace %s: %v", name, err)
	}
}

// waitReady waits until the Workspace is Ready for its current generation.
func waitReady(t *testing.T, name string) *tenancyv1.Workspace {
	t.Helper()
	return waitCondition(t, name, tenancyv1.ConditionReady, metav1.ConditionTrue, tenancyv1.ReasonReconciled)
}

// waitCondition waits until the Workspace's condition has status and
// reason, observed at the current generation, and returns the Workspace.
func waitCondition(t *testing.T, name, condType string, status metav1.ConditionStatus, reason string) *tenancyv1.Workspace {
	t.Helper()
	var ws *tenancyv1.Workspace
	eventually(t, timeout, fmt.Sprintf("Workspace %s %s=%s (%s)", name, condType, status, reason), func(ctx context.Context) error {
		var err error
		if ws, err = getWorkspace(ctx, name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(ws.Status.Conditions, condType)
		switch {
		case c == nil:
			return fmt.Errorf("no %s condition; conditions: %s", condType, conditions(ws))
		case c.ObservedGeneration != ws.Generation:
			return fmt.Errorf("%s observed generation %d, workspace is at %d", condType, c.ObservedGeneration, ws.Generation)
		case c.Status != status || c.Reason != reason:
			return fmt.Errorf("%s=%s reason %s: %q; conditions: %s", condType, c.Status, c.Reason, c.Message, conditions(ws))
		}
		return nil
	})
	return ws
}

// waitWorkspace waits until check accepts the workspace.
func waitWorkspace(t *testing.T, name, what string, check func(*tenancyv1.Workspace) error) *tenancyv1.Workspace {
	t.Helper()
	var ws *tenancyv1.Workspace
	eventually(t, timeout, "Workspace "+name+": "+what, func(ctx context.Context) error {
		var err error
		if ws, err = getWorkspace(ctx, name); err != nil {
			return err
		}
		return check(ws)
	})
	return ws
}

// conditions prints the conditions in a failure message.
func conditions(ws *tenancyv1.Workspace) string {
	var b strings.Builder
	for _, c := range ws.Status.Conditions {
		fmt.Fprintf(&b, "[%s=%s %s gen %d: %s] ", c.Type, c.Status, c.Reason, c.ObservedGeneration, c.Message)
	}
	return b.String()
}

// owner is a User owner subject.
func owner(name string) *tenancyv1.Subject {
	return &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: name}
}

func workspace(name string, ownerName string) *tenancyv1.Workspace {
	return &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       tenancyv1.WorkspaceSpec{Owner: owner(ownerName)},
	}
}

// pod is a minimal pod, admissible under the baseline pod security level.
func pod(name string, res corev1.ResourceRequirements) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10", Resources: res}},
		},
	}
}

// createPod creates a pod as cs in ns.
func createPod(ctx context.Context, cs kubernetes.Interface, ns string, p *corev1.Pod) (*corev1.Pod, error) {
	return cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
}

// eventuallyCreatePod polls until cs can create the pod: RBAC reaches the
// API server's authorizer, and a new namespace its "default"
// ServiceAccount, a moment after the controller wrote them.
func eventuallyCreatePod(t *testing.T, cs kubernetes.Interface, who, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	var out *corev1.Pod
	eventually(t, timeout, fmt.Sprintf("%s can create pod %s/%s", who, ns, p.Name), func(ctx context.Context) error {
		var err error
		out, err = createPod(ctx, cs, ns, p.DeepCopy())
		return err
	})
	return out
}

// eventuallyListPods polls until cs can list pods in ns.
func eventuallyListPods(t *testing.T, cs kubernetes.Interface, who, ns string) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%s can list pods in %s", who, ns), func(ctx context.Context) error {
		_, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err
	})
}

// eventuallyDenied polls until op is refused by RBAC.
func eventuallyDenied(t *testing.T, what string, op func(ctx context.Context) error) {
	t.Helper()
	eventually(t, timeout, what+" is refused by RBAC", func(ctx context.Context) error {
		err := op(ctx)
		if deniedByRBAC(err) {
			return nil
		}
		if err == nil {
			return fmt.Errorf("allowed")
		}
		return fmt.Errorf("not an RBAC refusal: %w", err)
	})
}

// denied asserts that err is an RBAC refusal.
func denied(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: allowed, want Forbidden", what)
	case !deniedByRBAC(err):
		t.Errorf("%s: want Forbidden by RBAC, got %v", what, err)
	}
}

// deniedByRBAC tells the authorizer's Forbidden ("User "x" cannot create
// resource …") from admission's (quota, missing ServiceAccount).
func deniedByRBAC(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), " cannot ")
}

// listPods is cs listing pods in ns, for eventuallyDenied.
func listPods(cs kubernetes.Interface, ns string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err
	}
}
