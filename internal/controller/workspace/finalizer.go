package workspace

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// removeFinalizer takes Tenancy's finalizer off ws with a JSON patch that
// first tests the list it replaces: if anybody changed the finalizers since
// ws was read (from the cache), the API server refuses the patch and the
// next reconcile reads again, so no other finalizer is ever dropped.
func removeFinalizer(ctx context.Context, c client.Client, ws *tenancyv1.Workspace) error {
	i := slices.Index(ws.Finalizers, tenancyv1.Finalizer)
	if i < 0 {
		return nil
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/finalizers", "value": ws.Finalizers},
		{"op": "remove", "path": "/metadata/finalizers/" + strconv.Itoa(i)},
	})
	if err != nil {
		return err
	}
	return c.Patch(ctx, ws, client.RawPatch(types.JSONPatchType, patch))
}
