// Package user keeps the self-serve grants of Tenancy Users in step with
// their User: a grant (`tenancy grant create-workspaces --user NAME`) is a
// set of ClusterRoleBindings, and while User NAME exists its bindings name
// the User (and its token ServiceAccount) only while it is enabled, and are
// owned by it, so that deleting the User deletes them.
//
// Grants of identities with no User object (an OIDC user, say) are left as
// they are: Tenancy knows nothing about such a person to follow.
package user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller/workspace"
)

// +kubebuilder:rbac:groups=tenancy.dev,resources=users,verbs=get;list;watch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterrolebindings;clusterroles,verbs=get;list;watch;update;patch

// Reconciler sets the subjects and owner of a User's grant bindings.
type Reconciler struct {
	client    client.Client // Users from the manager's cache; writes
	apiReader client.Reader // a User the cache has not seen yet
	grants    cache.Cache   // only the objects of grants
}

// SetupWithManager registers the controller. Grants are watched through a
// cache of their own (objects labelled tenancy.dev/grant), so this
// controller does not depend on how the manager's cache is filtered.
func SetupWithManager(mgr ctrl.Manager) error {
	hasGrant, err := labels.NewRequirement(tenancyv1.LabelGrant, selection.Exists, nil)
	if err != nil {
		return err
	}
	grants, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultLabelSelector: labels.NewSelector().Add(*hasGrant),
	})
	if err != nil {
		return fmt.Errorf("create the cache of grants: %w", err)
	}
	if err := mgr.Add(grants); err != nil {
		return err
	}
	r := &Reconciler{client: mgr.GetClient(), apiReader: mgr.GetAPIReader(), grants: grants}
	return ctrl.NewControllerManagedBy(mgr).
		Named("user-grants").
		For(&tenancyv1.User{}).
		WatchesRawSource(source.Kind(grants, &rbacv1.ClusterRoleBinding{},
			handler.TypedEnqueueRequestsFromMapFunc(userOfGrant[*rbacv1.ClusterRoleBinding]))).
		WatchesRawSource(source.Kind(grants, &rbacv1.ClusterRole{},
			handler.TypedEnqueueRequestsFromMapFunc(userOfGrant[*rbacv1.ClusterRole]))).
		Complete(r)
}

// userOfGrant maps an event of a grant object to the User it is for.
func userOfGrant[T client.Object](_ context.Context, obj T) []reconcile.Request {
	if s, ok := grantUser(obj); ok {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: s.Name}}}
	}
	return nil
}

// grantUser is the User subject a grant object is for.
func grantUser(obj metav1.Object) (tenancyv1.Subject, bool) {
	name, ok := strings.CutPrefix(obj.GetAnnotations()[tenancyv1.AnnotationGrantSubject], string(tenancyv1.UserKind)+"/")
	if !ok || name == "" || obj.GetLabels()[tenancyv1.LabelGrant] == "" {
		return tenancyv1.Subject{}, false
	}
	return tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: name}, true
}

// Reconcile brings the grant bindings of User req.Name in line with it.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	u := &tenancyv1.User{}
	if err := r.client.Get(ctx, req.NamespacedName, u); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// The cache may not have seen a User made a moment ago.
		if err := r.apiReader.Get(ctx, req.NamespacedName, u); err != nil {
			if !apierrors.IsNotFound(err) {
				return ctrl.Result{}, err
			}
			u = nil
		}
	}
	bindings := &rbacv1.ClusterRoleBindingList{}
	if err := r.grants.List(ctx, bindings); err != nil {
		return ctrl.Result{}, err
	}
	var errs []error
	for i := range bindings.Items {
		b := &bindings.Items[i]
		s, ok := grantUser(b)
		if !ok || s.Name != req.Name {
			continue
		}
		d := desiredGrant(b, s, u)
		if d.leave {
			continue
		}
		errs = append(errs, r.patchBinding(ctx, b, d))
		if d.owner != nil && b.RoleRef.Kind == "ClusterRole" {
			errs = append(errs, r.ownRole(ctx, b.RoleRef.Name, s, *d.owner))
		}
	}
	return ctrl.Result{}, errors.Join(errs...)
}

// grantState is what one grant binding must be.
type grantState struct {
	leave    bool // not ours to change: no User of that name was ever its owner
	subjects []rbacv1.Subject
	owner    *metav1.OwnerReference // added when missing; nil: leave the owners
}

// desiredGrant is the state of binding b of a grant to User subject s,
// given User u (nil when there is none). A binding owned by a User that is
// gone (or by an earlier User of that name) names nobody until garbage
// collection deletes it; a disabled or terminating User's bindings name
// nobody; an enabled User's name the User and its token ServiceAccount and
// are owned by it. With no User and no such owner, the binding is left be.
func desiredGrant(b *rbacv1.ClusterRoleBinding, s tenancyv1.Subject, u *tenancyv1.User) grantState {
	var owner *metav1.OwnerReference
	for i, ref := range b.OwnerReferences {
		if ref.Kind == "User" && ref.APIVersion == tenancyv1.GroupVersion.String() && ref.Name == s.Name {
			owner = &b.OwnerReferences[i]
		}
	}
	switch {
	case u == nil && owner == nil:
		return grantState{leave: true}
	case u == nil, owner != nil && owner.UID != u.UID, !u.DeletionTimestamp.IsZero():
		return grantState{}
	}
	st := grantState{subjects: workspace.ResolveUser(s, u)}
	if owner == nil {
		st.owner = userOwner(u)
	}
	return st
}

// userOwner is an owner reference to u. It does not block u's deletion:
// that would need the update right on users/finalizers, and nothing is
// gained by waiting for the grants.
func userOwner(u *tenancyv1.User) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: tenancyv1.GroupVersion.String(), Kind: "User", Name: u.Name, UID: u.UID}
}

// patchBinding sets b's subjects and owner to d, if they differ.
func (r *Reconciler) patchBinding(ctx context.Context, b *rbacv1.ClusterRoleBinding, d grantState) error {
	if slices.Equal(b.Subjects, d.subjects) && d.owner == nil {
		return nil
	}
	before := b.DeepCopy()
	b.Subjects = d.subjects
	if d.owner != nil {
		b.OwnerReferences = append(b.OwnerReferences, *d.owner)
	}
	if err := r.client.Patch(ctx, b, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}),
		client.FieldOwner(tenancyv1.FieldManager)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("set the subjects of grant ClusterRoleBinding %s: %w", b.Name, err)
	}
	return nil
}

// ownRole adds owner to the grant's ClusterRole name, so that garbage
// collection deletes it with the User. Roles that are not the same User's
// grant (tenancy:workspace-creator, say) are not touched.
func (r *Reconciler) ownRole(ctx context.Context, name string, s tenancyv1.Subject, owner metav1.OwnerReference) error {
	role := &rbacv1.ClusterRole{}
	if err := r.grants.Get(ctx, client.ObjectKey{Name: name}, role); err != nil {
		return client.IgnoreNotFound(err)
	}
	if got, ok := grantUser(role); !ok || got != s {
		return nil
	}
	for _, ref := range role.OwnerReferences {
		if ref.Kind == owner.Kind && ref.APIVersion == owner.APIVersion && ref.Name == owner.Name {
			return nil
		}
	}
	before := role.DeepCopy()
	role.OwnerReferences = append(role.OwnerReferences, owner)
	if err := r.client.Patch(ctx, role, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}),
		client.FieldOwner(tenancyv1.FieldManager)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("own grant ClusterRole %s: %w", name, err)
	}
	return nil
}
