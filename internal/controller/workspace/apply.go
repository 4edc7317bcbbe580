package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// AnnotationApplied holds a hash of the configuration last applied to an
// object. When the cached object carries the hash of what is desired now and
// nobody else has written to it, the apply is skipped: at steady state the
// controller sends no requests, not even no-op patches.
const AnnotationApplied = "tenancy.dev/applied-hash"

// stampable is a typed apply configuration (…ApplyConfiguration).
type stampable[T any] interface {
	runtime.ApplyConfiguration
	WithAnnotations(map[string]string) T
	GetName() *string
	GetNamespace() *string
}

// objects is how apply reaches the API server: cached reads and writes
// through the embedded client, and live reads (with the field sets of
// managed fields, which the cache drops) through live.
type objects struct {
	client.Client
	live client.Reader
}

// stamp puts the hash of ac on it, and returns the hash.
func stamp[T stampable[T]](ac T) (string, error) {
	raw, err := json.Marshal(ac)
	if err != nil {
		return "", fmt.Errorf("encode %T: %w", ac, err)
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:12])
	ac.WithAnnotations(map[string]string{AnnotationApplied: hash})
	return hash, nil
}

// apply makes the object ac describes exist as described, reading the
// current one from the cache into live (an empty object of its type):
//
//   - up to date (the hash of ac, and only Tenancy wrote it): nothing is sent;
//   - not in the cache: created, a cheaper request for the API server than
//     an apply. If something of that name is there after all (an object
//     Tenancy did not make, which the cache does not hold, or the cache is
//     behind), the create fails and the apply below takes it over;
//   - otherwise: server-side applied under the controller's field manager,
//     forced, so that another manager's change is taken back.
//
// Fields a create set belong to the controller's manager as an update, not
// an apply, and an apply would never remove them; so before the first
// apply of a created object its managed fields are moved to the apply
// (csaupgrade), and a field dropped from ac is then removed as it should.
func apply[T stampable[T]](ctx context.Context, c objects, ac T, live client.Object) error {
	hash, err := stamp(ac)
	if err != nil {
		return err
	}
	key := client.ObjectKey{Name: deref(ac.GetName()), Namespace: deref(ac.GetNamespace())}
	switch err := c.Get(ctx, key, live); {
	case err == nil && upToDate(live, hash):
		return nil
	case apierrors.IsNotFound(err):
		switch err := create(ctx, c, ac, live); {
		case err == nil:
			return nil
		case !apierrors.IsAlreadyExists(err):
			return fmt.Errorf("create %s %s: %w", kindOf(live), key, err)
		}
	case err != nil:
		return fmt.Errorf("read %T %s: %w", live, key, err)
	case createdByUs(live):
		if err := upgradeCreated(ctx, c, key, live); err != nil {
			return err
		}
	}
	if err := c.Apply(ctx, ac, client.FieldOwner(tenancyv1.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", kindOf(live), key, err)
	}
	return nil
}

// create POSTs the object ac describes, as an object of like's type.
func create(ctx context.Context, c client.Writer, ac runtime.ApplyConfiguration, like client.Object) error {
	raw, err := json.Marshal(ac)
	if err != nil {
		return fmt.Errorf("encode %T: %w", ac, err)
	}
	obj, ok := reflect.TypeAssert[client.Object](reflect.New(reflect.TypeOf(like).Elem()))
	if !ok {
		return fmt.Errorf("%T is not an object", like)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return fmt.Errorf("decode %T into %T: %w", ac, obj, err)
	}
	return c.Create(ctx, obj, client.FieldOwner(tenancyv1.FieldManager))
}

// createdByUs says whether the controller's manager holds fields of obj
// from an update (a create), not an apply.
func createdByUs(obj client.Object) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == tenancyv1.FieldManager && mf.Operation == metav1.ManagedFieldsOperationUpdate && mf.Subresource == "" {
			return true
		}
	}
	return false
}

// upgradeCreated moves the fields the controller's create set to its
// apply, on the live object (the cache keeps no field sets). The patch
// tests the resourceVersion, so a concurrent write makes it fail and the
// reconcile retry.
func upgradeCreated(ctx context.Context, c objects, key client.ObjectKey, like client.Object) error {
	obj, ok := reflect.TypeAssert[client.Object](reflect.New(reflect.TypeOf(like).Elem()))
	if !ok {
		return fmt.Errorf("%T is not an object", like)
	}
	if err := c.live.Get(ctx, key, obj); err != nil {
		return fmt.Errorf("read %s %s: %w", kindOf(like), key, err)
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(obj, sets.New(tenancyv1.FieldManager), tenancyv1.FieldManager)
	if err != nil || patch == nil {
		return err
	}
	if err := c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("move the managed fields of %s %s to the apply: %w", kindOf(like), key, err)
	}
	return nil
}

// upToDate is true when obj carries hash and only Tenancy has written its
// spec and metadata (another manager's write may have changed a field we
// set, so the apply must run to take it back).
func upToDate(obj client.Object, hash string) bool {
	if obj.GetAnnotations()[AnnotationApplied] != hash {
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
