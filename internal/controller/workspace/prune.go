package workspace

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// prune deletes the objects of the given kind that carry the workspace's
// label and whose name is not in keep. namespace is "" for cluster-scoped
// kinds.
func prune(ctx context.Context, c client.Client, list client.ObjectList, workspace, namespace string, keep sets.Set[string]) error {
	opts := clusterObjectsOf(workspace)
	if namespace != "" {
		// The cache indexes namespaced objects by namespace already.
		opts = []client.ListOption{client.MatchingLabels{
			tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue,
			tenancyv1.LabelWorkspace: workspace,
		}, client.InNamespace(namespace)}
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return fmt.Errorf("list %T: %w", list, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	var errs []error
	for _, it := range items {
		obj := it.(client.Object)
		if keep.Has(obj.GetName()) || !obj.GetDeletionTimestamp().IsZero() {
			continue
		}
		if err := c.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("prune %s %s/%s: %w", kindOf(obj), obj.GetNamespace(), obj.GetName(), err))
		}
	}
	return errors.Join(errs...)
}
