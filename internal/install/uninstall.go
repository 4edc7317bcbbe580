package install

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// UninstallOptions say what Uninstall does with workspaces.
type UninstallOptions struct {
	// KeepNamespaces orphans every Workspace's namespace (and whatever
	// else a Workspace owns): they stay, with their content, and nothing
	// of Tenancy's will touch them again.
	KeepNamespaces bool
	// DeleteWorkspaces deletes every Workspace (and so its namespace)
	// first, while the controller still runs to clean up after them.
	DeleteWorkspaces bool
	// Timeout bounds each wait; 5 minutes when 0.
	Timeout time.Duration
	// Progress is told what is done; nil says nothing.
	Progress func(format string, args ...any)
}

// ErrWorkspacesExist is returned (wrapped, naming them) when workspaces
// exist and neither KeepNamespaces nor DeleteWorkspaces says what to do
// with them.
var ErrWorkspacesExist = errors.New("workspaces exist")

// Left is what Uninstall left in the cluster.
type Left struct {
	// Namespaces kept for workspaces (KeepNamespaces).
	Namespaces []string
	// Objects still labelled app.kubernetes.io/managed-by=tenancy (other
	// than Namespaces), as "Kind name".
	Objects []string
}

// installedKinds are the kinds `tenancy install` creates, in the order
// Uninstall deletes them: what runs first, the API last, the namespace
// that holds the credentials at the very end.
var installedKinds = []schema.GroupVersionKind{
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Version: "v1", Kind: "Service"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingAdmissionPolicyBinding"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingAdmissionPolicy"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicyBinding"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicy"},
	// admissionKinds ends here.
	{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Version: "v1", Kind: "ServiceAccount"},
	{Version: "v1", Kind: "Namespace"},
}

// admissionKinds are the first kinds of installedKinds: what runs, and the
// admission policies.
const admissionKinds = 7

// Uninstall takes out of the cluster everything `tenancy install` put in
// (the objects labelled app.kubernetes.io/component=install, and the
// system namespace with the credentials in it) and every cluster-wide
// grant Tenancy made, and waits until it is gone. Workspaces it handles as o says; while any exist and o says
// nothing, it refuses and changes nothing.
func Uninstall(ctx context.Context, c client.Client, o UninstallOptions) (*Left, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	say := o.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	if o.KeepNamespaces && o.DeleteWorkspaces {
		return nil, errors.New("--keep-namespaces and --delete-workspaces exclude each other: choose one")
	}
	workspaces, err := listWorkspaces(ctx, c)
	if err != nil {
		return nil, err
	}
	if len(workspaces) > 0 && !o.KeepNamespaces && !o.DeleteWorkspaces {
		names := make([]string, 0, len(workspaces))
		for _, ws := range workspaces {
			names = append(names, ws.Name)
		}
		shown := names
		if len(shown) > 10 {
			shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(names)-10))
		}
		return nil, fmt.Errorf("%w (%d: %s): nothing was uninstalled. Say what to do with them: --keep-namespaces keeps their namespaces and content, "+
			"--delete-workspaces deletes them and their namespaces", ErrWorkspacesExist, len(names), strings.Join(shown, ", "))
	}
	left := &Left{}
	if o.DeleteWorkspaces && len(workspaces) > 0 {
		say("Deleting %d workspaces and their namespaces", len(workspaces))
		for i := range workspaces {
			ws := &workspaces[i]
			if err := c.Delete(ctx, ws, client.Preconditions{UID: &ws.UID}); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("delete Workspace %s: %w", ws.Name, err)
			}
		}
		if err := waitWorkspacesGone(ctx, c, o.Timeout, "the controller removes a deleted workspace's namespace first: is it running? 'kubectl -n tenancy-system get pods'"); err != nil {
			return nil, err
		}
	}
	// Stop the controller before anything else: it must not act on what
	// is taken away, nor put finalizers back on workspaces being orphaned.
	say("Stopping the controller and the server")
	for _, name := range []string{ControllerName, ServerName} {
		if err := deleteNamed(ctx, c, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, SystemNamespace, name); err != nil {
			return nil, err
		}
	}
	if err := waitPodsGone(ctx, c, o.Timeout, ControllerName, ServerName); err != nil {
		return nil, err
	}
	// The admission policies go before workspaces are orphaned: the
	// self-serve policy refuses the garbage collector the removal of its
	// orphan finalizer from a workspace it does not own.
	say("Deleting what 'tenancy install' installed")
	deleted, err := deleteInstalled(ctx, c, installedKinds[:admissionKinds])
	if err != nil {
		return nil, err
	}
	if err := waitGone(ctx, c, o.Timeout, deleted); err != nil {
		return nil, err
	}
	if o.KeepNamespaces && len(workspaces) > 0 {
		say("Orphaning %d workspaces: their namespaces stay", len(workspaces))
		for i := range workspaces {
			if ns, err := orphan(ctx, c, &workspaces[i]); err != nil {
				return nil, err
			} else if ns != "" {
				left.Namespaces = append(left.Namespaces, ns)
			}
		}
		if err := waitWorkspacesGone(ctx, c, o.Timeout, "the garbage collector (kube-controller-manager) removes the owner references first"); err != nil {
			return nil, err
		}
	}
	if deleted, err = deleteInstalled(ctx, c, installedKinds[admissionKinds:]); err != nil {
		return nil, err
	}
	if err := waitGone(ctx, c, o.Timeout, deleted); err != nil {
		return nil, err
	}
	objs, err := leftovers(ctx, c, left.Namespaces)
	if err != nil {
		return nil, err
	}
	left.Objects = objs
	return left, nil
}

// deleteInstalled deletes the objects of kinds that install made (and the
// system namespace, and Tenancy's cluster-wide grants), returning them.
func deleteInstalled(ctx context.Context, c client.Client, kinds []schema.GroupVersionKind) ([]*unstructured.Unstructured, error) {
	var deleted []*unstructured.Unstructured
	for _, gvk := range kinds {
		sel := installedSelector()
		if gvk.Kind == "ClusterRole" || gvk.Kind == "ClusterRoleBinding" {
			// Every cluster-wide grant Tenancy made goes too: those of
			// workspaces (their members' rights on their Workspace, their
			// clusterRules) and users, which are gone. What is inside a
			// namespace kept stays, with the namespace.
			sel = client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}
		}
		objs, err := listLabelled(ctx, c, gvk, sel)
		if err != nil {
			return nil, err
		}
		if gvk.Kind == "Namespace" {
			// The system namespace holds the credentials, whoever made it.
			objs = append(objs, namespaceObject(SystemNamespace))
		}
		for _, u := range objs {
			if err := c.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("delete %s %s: %w", gvk.Kind, objectName(u), err)
			}
			deleted = append(deleted, u)
		}
	}
	return deleted, nil
}

func listWorkspaces(ctx context.Context, c client.Client) ([]tenancyv1.Workspace, error) {
	list := &tenancyv1.WorkspaceList{}
	if err := c.List(ctx, list); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil // no CRD: no workspaces
		}
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return list.Items, nil
}

// orphan deletes ws but leaves what it owns: its finalizer (whose cleanup
// deletes the namespace) is taken off with a patch that tests the list it
// replaces, and the delete orphans the dependents, whose owner references
// the garbage collector removes. The namespace keeps its labels, but with no
// owner reference a later install's controller never touches it (see
// docs/design/security.md, item 5). It returns the namespace kept.
func orphan(ctx context.Context, c client.Client, ws *tenancyv1.Workspace) (string, error) {
	if i := slices.Index(ws.Finalizers, tenancyv1.Finalizer); i >= 0 {
		patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`, i, tenancyv1.Finalizer, i)
		if err := c.Patch(ctx, ws, client.RawPatch(types.JSONPatchType, []byte(patch))); err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("take the finalizer off Workspace %s: %w", ws.Name, err)
		}
	}
	if err := c.Delete(ctx, ws, client.PropagationPolicy(metav1.DeletePropagationOrphan), client.Preconditions{UID: &ws.UID}); err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("delete Workspace %s (orphaning its namespace): %w", ws.Name, err)
	}
	return ws.Status.Namespace, nil
}

func namespaceObject(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	u.SetName(name)
	return u
}

func installedSelector() client.MatchingLabels {
	return client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelComponent: tenancyv1.ComponentInstall}
}

func listLabelled(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, sel client.MatchingLabels) ([]*unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := c.List(ctx, list, sel); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
	}
	out := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		u := &list.Items[i]
		u.SetGroupVersionKind(gvk)
		out = append(out, u)
	}
	return out, nil
}

func deleteNamed(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, namespace, name string) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(namespace)
	u.SetName(name)
	if err := c.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
		return fmt.Errorf("delete %s %s: %w", gvk.Kind, objectName(u), err)
	}
	return nil
}

func waitWorkspacesGone(ctx context.Context, c client.Client, timeout time.Duration, hint string) error {
	var n int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ws, err := listWorkspaces(ctx, c)
		if err != nil {
			return false, err
		}
		n = len(ws)
		return n == 0, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%d workspaces are still there after %s (%s); nothing else was uninstalled yet, run it again once they are gone", n, timeout, hint)
	}
	return err
}

func waitPodsGone(ctx context.Context, c client.Client, timeout time.Duration, names ...string) error {
	var left []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		left = nil
		for _, name := range names {
			pods := &corev1.PodList{}
			if err := c.List(ctx, pods, client.InNamespace(SystemNamespace), client.MatchingLabels{LabelName: name}); err != nil {
				return false, err
			}
			for _, p := range pods.Items {
				left = append(left, p.Name)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("pods %s did not stop within %s", strings.Join(left, ", "), timeout)
	}
	return err
}

func waitGone(ctx context.Context, c client.Client, timeout time.Duration, objs []*unstructured.Unstructured) error {
	var still string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, u := range objs {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(u.GroupVersionKind())
			err := c.Get(ctx, client.ObjectKey{Namespace: u.GetNamespace(), Name: u.GetName()}, cur)
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				continue
			}
			if err == nil && cur.GetUID() != u.GetUID() && u.GetUID() != "" {
				continue // made again since, by somebody else
			}
			still = u.GetKind() + " " + objectName(u)
			return false, nil
		}
		return true, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s is still there after %s (a finalizer holds it? 'kubectl get -o yaml' shows)", still, timeout)
	}
	return err
}

// leftovers are the objects still labelled as Tenancy's, but the
// namespaces kept on purpose and what is in them.
func leftovers(ctx context.Context, c client.Client, kept []string) ([]string, error) {
	var out []string
	for _, gvk := range installedKinds {
		objs, err := listLabelled(ctx, c, gvk, client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue})
		if err != nil {
			return nil, err
		}
		for _, u := range objs {
			if gvk.Kind == "Namespace" && slices.Contains(kept, u.GetName()) || slices.Contains(kept, u.GetNamespace()) {
				continue // kept on purpose, with what is in them
			}
			out = append(out, gvk.Kind+" "+objectName(u))
		}
	}
	slices.Sort(out)
	return out, nil
}
