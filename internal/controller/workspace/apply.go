package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// annotationApplied holds a hash of the configuration last applied to an
// object. When the cached object carries the hash of what is desired now and
// nobody else has written to it, the apply is skipped: at steady state the
// controller sends no requests, not even no-op patches.
const annotationApplied = "tenancy.dev/applied-hash"

// stampable is a typed apply configuration (…ApplyConfiguration).
type stampable[T any] interface {
	runtime.ApplyConfiguration
	WithAnnotations(map[string]string) T
	GetName() *string
	GetNamespace() *string
}

// apply server-side applies ac under the controller's field manager, unless
// live (read from the cache into the given empty object) is already exactly
// what ac describes.
func apply[T stampable[T]](ctx context.Context, c client.Client, ac T, live client.Object) error {
	raw, err := json.Marshal(ac)
	if err != nil {
		return fmt.Errorf("encode %T: %w", ac, err)
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:12])
	ac.WithAnnotations(map[string]string{annotationApplied: hash})

	key := client.ObjectKey{Name: deref(ac.GetName()), Namespace: deref(ac.GetNamespace())}
	switch err := c.Get(ctx, key, live); {
	case err == nil && upToDate(live, hash):
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("read %T %s: %w", live, key, err)
	}
	if err := c.Apply(ctx, ac, client.FieldOwner(tenancyv1.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", kindOf(live), key, err)
	}
	return nil
}

// upToDate is true when obj carries hash and only Tenancy has written its
// spec and metadata (another manager's write may have changed a field we
// set, so the apply must run to take it back).
func upToDate(obj client.Object, hash string) bool {
	if obj.GetAnnotations()[annotationApplied] != hash {
		return false
	}
	for _, mf := range obj.GetManagedFields() {
		if mf.Subresource == "" && mf.Manager != tenancyv1.FieldManager {
			return false
		}
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", obj)[1:]
}
