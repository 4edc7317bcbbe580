//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Deleting a Workspace leaves nothing of it anywhere in the cluster.
func TestDeletionLeavesNothing(t *testing.T) {
	t.Parallel()
	const ns = "doomed"
	ws := workspace(ns, "dan")
	ws.Spec.Rules = []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list"}}}
	ws.Spec.ClusterRules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}}}
	ws.Spec.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: resources("requests.cpu", "2")}
	ws.Spec.Contributors = []tenancyv1.Contributor{
		{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "dina"}, Role: tenancyv1.RoleEdit},
		{Subject: tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: "doom-readers"}, Role: tenancyv1.RoleView},
		{Subject: tenancyv1.Subject{Kind: tenancyv1.ServiceAccountKind, Namespace: "default", Name: "doom-bot"}, Role: tenancyv1.RoleAdmin},
	}
	createWorkspace(t, ws)
	ready := waitReady(t, ns)

	// The sweep finds the workspace's objects while it lives, so that
	// finding none afterwards means something.
	before, err := labelledObjects(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"v1/namespaces " + ns,
		"rbac.authorization.k8s.io/v1/clusterroles tenancy:workspace:" + ns + ":owner",
		"rbac.authorization.k8s.io/v1/clusterrolebindings tenancy:workspace:" + ns + ":owner",
		"rbac.authorization.k8s.io/v1/rolebindings " + ns + "/tenancy:owner",
		"rbac.authorization.k8s.io/v1/roles " + ns + "/tenancy:owner-rules",
		"v1/resourcequotas " + ns + "/tenancy",
	} {
		if !slices.Contains(before, want) {
			t.Errorf("before deletion, the sweep does not find %s; it found:\n%s", want, strings.Join(before, "\n"))
		}
	}

	if err := admin.Delete(t.Context(), ready); err != nil {
		t.Fatal(err)
	}
	eventually(t, deleteTimeout, "Workspace "+ns+" deleted", func(ctx context.Context) error {
		return gone(getWorkspace(ctx, ns))
	})
	eventually(t, timeout, "namespace "+ns+" deleted", func(ctx context.Context) error {
		return gone(adminCS.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}))
	})
	left, err := labelledObjects(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("after deletion, objects labelled %s=%s remain:\n%s", tenancyv1.LabelWorkspace, ns, strings.Join(left, "\n"))
	}
}

// labelledObjects lists, across every listable resource of every group
// version the API server serves, the objects labelled as the workspace's,
// as "<group/version>/<resource> [<namespace>/]<name>".
func labelledObjects(ctx context.Context, workspace string) ([]string, error) {
	dyn, err := dynamic.NewForConfig(cluster.Config())
	if err != nil {
		return nil, err
	}
	_, lists, err := adminCS.Discovery().ServerGroupsAndResources()
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	sel := metav1.ListOptions{LabelSelector: tenancyv1.LabelWorkspace + "=" + workspace}
	var found []string
	var errs []error
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(r.Name)).List(ctx, sel)
			if err != nil {
				errs = append(errs, fmt.Errorf("list %s %s: %w", l.GroupVersion, r.Name, err))
				continue
			}
			for _, it := range items.Items {
				name := it.GetName()
				if it.GetNamespace() != "" {
					name = it.GetNamespace() + "/" + name
				}
				found = append(found, l.GroupVersion+"/"+r.Name+" "+name)
			}
		}
	}
	return found, errors.Join(errs...)
}
