// Package workspace reconciles Workspaces: from a Workspace and its
// WorkspaceClass it server-side applies the namespace, RBAC, quota, limit
// range, network policy, storage and mesh policy, prunes what is no longer
// desired, and reports one condition per part.
package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// +kubebuilder:rbac:groups=tenancy.dev,resources=workspaces,verbs=get;list;watch;update;patch;manage
// +kubebuilder:rbac:groups=tenancy.dev,resources=workspaces/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tenancy.dev,resources=workspaces/finalizers,verbs=update
// +kubebuilder:rbac:groups=tenancy.dev,resources=workspaceclasses;users,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces;serviceaccounts;resourcequotas;limitranges;persistentvolumeclaims,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete;deletecollection;bind;escalate
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// APIDetector says whether an API (Istio's AuthorizationPolicy,
// MutatingAdmissionPolicy) is served.
type APIDetector interface {
	Installed(ctx context.Context) bool
}

// WithMutatingPolicies reports, in the AdmissionDefaults condition, whether
// d says the cluster has MutatingAdmissionPolicy, which puts the finalizer
// on Workspaces at creation; without it the controller adds it after.
func WithMutatingPolicies(d APIDetector) Option { return func(r *Reconciler) { r.mutating = d } }

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithConcurrency sets how many workspaces are reconciled at once.
func WithConcurrency(n int) Option { return func(r *Reconciler) { r.concurrency = n } }

// DefaultGatewayPrincipal is the identity of Istio's ingress gateway in a
// default install, the one Kubeflow trusts to set the user header.
const DefaultGatewayPrincipal = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"

// WithIstio turns on Istio AuthorizationPolicies where d says Istio is
// installed; header is the request header carrying the user's name
// (kubeflow-userid when empty), honoured only from the mesh identities
// gatewayPrincipals (DefaultGatewayPrincipal when empty).
func WithIstio(d APIDetector, header string, gatewayPrincipals ...string) Option {
	return func(r *Reconciler) {
		r.istio = d
		if header != "" {
			r.userHeader = header
		}
		if len(gatewayPrincipals) > 0 {
			r.gatewayPrincipals = gatewayPrincipals
		}
	}
}

// Reconciler reconciles Workspaces.
type Reconciler struct {
	client    client.Client // reads from the cache of managed objects
	apiReader client.Reader // reads around the cache: namespaces Tenancy does not manage
	objs      objects       // client and apiReader, for apply
	// owned is the cache of the objects the controller makes, which
	// client reads them from; its sources tell which workspace to
	// reconcile when one changes.
	owned OwnedObjects
	// defaultSAs holds the namespaces' default ServiceAccounts, for
	// PodsReady; nil leaves PodsReady out.
	defaultSAs  DefaultServiceAccounts
	concurrency int
	istio       APIDetector
	mutating    APIDetector
	userHeader  string
	// gatewayPrincipals may set userHeader.
	gatewayPrincipals []string
}

// New returns a Reconciler. apiReader must read from the API server, not
// from the cache, which holds only Tenancy's own objects.
func New(c client.Client, apiReader client.Reader, opts ...Option) *Reconciler {
	r := &Reconciler{
		client:            c,
		apiReader:         apiReader,
		concurrency:       4,
		userHeader:        "kubeflow-userid",
		gatewayPrincipals: []string{DefaultGatewayPrincipal},
	}
	for _, o := range opts {
		o(r)
	}
	r.objs = objects{Client: c, live: apiReader}
	return r
}

// OwnedObjects is the cache of the objects the controller makes
// (objcache.Cache), which the Reconciler's client reads them from.
type OwnedObjects interface {
	// Source is the source of requests for the controlling owners of kind
	// owner of obj's kind.
	Source(obj client.Object, owner schema.GroupKind) (source.Source, error)
}

// WithOwnedObjects watches the objects the controller makes in c: the
// client given to New must read them from c.
func WithOwnedObjects(c OwnedObjects) Option {
	return func(r *Reconciler) { r.owned = c }
}

// DefaultServiceAccounts is a cache of the namespaces' default
// ServiceAccounts (objcache.Cache).
type DefaultServiceAccounts interface {
	client.Reader
	// NamespaceSource is the source of requests named after the
	// namespace of each object of obj's kind.
	NamespaceSource(obj client.Object) (source.Source, error)
}

// WithDefaultServiceAccounts reports, in the PodsReady condition, whether
// the workspace's namespace has its default ServiceAccount, watched in c.
func WithDefaultServiceAccounts(c DefaultServiceAccounts) Option {
	return func(r *Reconciler) { r.defaultSAs = c }
}

// ManagedObjects are the kinds the controller creates. The manager's cache
// must hold only those carrying the managed-by label (see cmd wiring).
func ManagedObjects() []client.Object {
	return []client.Object{
		&corev1.Namespace{}, &corev1.ServiceAccount{}, &corev1.ResourceQuota{}, &corev1.LimitRange{},
		&corev1.PersistentVolumeClaim{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}, &rbacv1.ClusterRole{},
		&rbacv1.ClusterRoleBinding{}, &networkingv1.NetworkPolicy{},
	}
}

// SetupWithManager registers the controller: it watches Workspaces, every
// kind it manages (through the owner reference) and WorkspaceClasses.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &tenancyv1.Workspace{}, ownerIndex, indexOwner); err != nil {
		return fmt.Errorf("index workspaces by owner: %w", err)
	}
	if r.owned == nil {
		return errors.New("the workspace controller needs the cache of the objects it makes (WithOwnedObjects)")
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&tenancyv1.Workspace{}).
		Watches(&tenancyv1.WorkspaceClass{}, handler.EnqueueRequestsFromMapFunc(r.workspacesOfClass)).
		Watches(&tenancyv1.User{}, handler.EnqueueRequestsFromMapFunc(r.workspacesOfUser)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.concurrency})
	owner := tenancyv1.GroupVersion.WithKind("Workspace").GroupKind()
	for _, o := range ManagedObjects() {
		src, err := r.owned.Source(o, owner)
		if err != nil {
			return err
		}
		b = b.WatchesRawSource(src)
	}
	if r.defaultSAs != nil {
		// A namespace's default ServiceAccount tells its workspace (of the
		// same name) that pods can start.
		src, err := r.defaultSAs.NamespaceSource(&corev1.ServiceAccount{})
		if err != nil {
			return err
		}
		b = b.WatchesRawSource(src)
	}
	return b.Complete(r)
}

// Reconcile brings one Workspace's objects to their desired state.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	ws := &tenancyv1.Workspace{}
	if err := r.client.Get(ctx, req.NamespacedName, ws); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.sweep(ctx, req.Name)
		}
		return ctrl.Result{}, err
	}
	if !ws.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, ws)
	}
	// The finalizer is added at admission (MutatingAdmissionPolicy
	// tenancy-workspace-defaults) where the cluster has it; this patch is
	// the fallback for clusters without.
	if !controllerutil.ContainsFinalizer(ws, tenancyv1.Finalizer) {
		before := ws.DeepCopy()
		controllerutil.AddFinalizer(ws, tenancyv1.Finalizer)
		if err := r.client.Patch(ctx, ws, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	st := newStatus(ws)
	class, err := r.class(ctx, ws)
	if err != nil {
		if _, ok := errors.AsType[classNotFoundError](err); !ok {
			return ctrl.Result{}, err
		}
		st.blocked(tenancyv1.ReasonClassNotFound, err.Error())
		return ctrl.Result{}, r.writeStatus(ctx, ws, st)
	}
	if class != nil {
		st.status.Class = class.Name
	}
	e := effectiveSpec(ws, class)
	m := objectMeta{WorkspaceName: ws.Name, WorkspaceUID: ws.UID}

	firstProvisioning := ws.Status.Namespace == ""
	if firstProvisioning {
		if msg, err := r.overOwnerLimit(ctx, ws, class); err != nil {
			return ctrl.Result{}, err
		} else if msg != "" {
			st.blocked(tenancyv1.ReasonOwnerLimitExceeded, msg)
			return ctrl.Result{RequeueAfter: blockedRetry}, r.writeStatus(ctx, ws, st)
		}
	}

	switch wait, err := r.ensureNamespace(ctx, e, m); {
	case err != nil:
		st.part(tenancyv1.ConditionNamespace, err)
		return ctrl.Result{}, errors.Join(err, r.writeStatus(ctx, ws, st))
	case wait != nil:
		// Neither a foreign namespace nor one still terminating sends an
		// event the controller sees: look again soon.
		st.blocked(wait.reason, wait.message)
		return ctrl.Result{RequeueAfter: blockedRetry}, r.writeStatus(ctx, ws, st)
	}
	st.part(tenancyv1.ConditionNamespace, nil)
	st.status.Namespace = ws.Name
	st.status.NodeSelector = e.NodeSelector
	st.status.OwnerRole = e.OwnerRole.ClusterRole()

	users, err := r.users(ctx, ws)
	if err != nil {
		return ctrl.Result{}, err
	}
	rbacErr := r.ensureRBAC(ctx, e, m, users.resolve)
	st.part(tenancyv1.ConditionRBAC, rbacErr)
	if e.Plugins != nil {
		st.part(tenancyv1.ConditionPlugins, rbacErr)
	} else {
		st.notRequested(tenancyv1.ConditionPlugins, "no plugins configured")
	}
	quotaErr := r.ensureQuota(ctx, e, m)
	st.part(tenancyv1.ConditionQuota, quotaErr)
	netErr := r.ensureNetworkPolicy(ctx, e, m)
	st.part(tenancyv1.ConditionNetwork, netErr)
	storageErr := r.ensureStorage(ctx, e, m, st)
	istioErr := r.ensureIstio(ctx, e, m, st, users.resolve)
	if e.Owner == nil {
		st.noOwner()
	}
	if r.mutating != nil {
		if r.mutating.Installed(ctx) {
			st.set(tenancyv1.ConditionAdmissionDefaults, metav1.ConditionTrue, tenancyv1.ReasonReconciled,
				"the finalizer and creator are set at admission (MutatingAdmissionPolicy)")
		} else {
			st.set(tenancyv1.ConditionAdmissionDefaults, metav1.ConditionFalse, tenancyv1.ReasonMutatingPolicyUnavailable,
				"this cluster has no MutatingAdmissionPolicy (Kubernetes 1.36 on): the controller adds the finalizer after creation, so a Workspace deleted at once may leave objects for the controller to sweep; self-serve workspaces must name their class, the creator is not recorded, and the workspace volume is not mounted into pods by itself")
		}
	}
	st.quota(r.readQuota(ctx, ws.Name), desiredQuota(e, m), firstProvisioning)
	r.podsReady(ctx, ws.Name, st)

	// controller-runtime logs the error and retries with backoff.
	errs := errors.Join(rbacErr, quotaErr, netErr, storageErr, istioErr)
	return ctrl.Result{}, errors.Join(errs, r.writeStatus(ctx, ws, st))
}

// classNotFoundError is a Workspace naming a class that does not exist.
type classNotFoundError struct{ name string }

func (e classNotFoundError) Error() string {
	return fmt.Sprintf("WorkspaceClass %q does not exist: create it or change spec.class", e.name)
}

// class returns the Workspace's class: the named one, or the default one, or
// nil when the workspace names none and no class is the default.
func (r *Reconciler) class(ctx context.Context, ws *tenancyv1.Workspace) (*tenancyv1.WorkspaceClass, error) {
	if ws.Spec.Class != "" {
		c := &tenancyv1.WorkspaceClass{}
		if err := r.client.Get(ctx, client.ObjectKey{Name: ws.Spec.Class}, c); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, classNotFoundError{ws.Spec.Class}
			}
			return nil, err
		}
		return c, nil
	}
	list := &tenancyv1.WorkspaceClassList{}
	if err := r.client.List(ctx, list); err != nil {
		return nil, err
	}
	return DefaultClass(list.Items), nil
}

// DefaultClass picks the class marked default (tenancyv1.DefaultClass).
func DefaultClass(classes []tenancyv1.WorkspaceClass) *tenancyv1.WorkspaceClass {
	return tenancyv1.DefaultClass(classes)
}

// workspacesOfClass maps a WorkspaceClass event to the workspaces it may
// affect: those naming it, and those naming none (it may be the default).
func (r *Reconciler) workspacesOfClass(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.workspacesWhere(ctx, "class", obj.GetName(), func(ws *tenancyv1.Workspace) bool {
		return ws.Spec.Class == obj.GetName() || ws.Spec.Class == ""
	})
}

// workspacesOfUser maps a User event to the workspaces naming that user.
func (r *Reconciler) workspacesOfUser(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.workspacesWhere(ctx, "user", obj.GetName(), func(ws *tenancyv1.Workspace) bool {
		return ws.NamesUser(obj.GetName())
	})
}

// workspacesWhere lists the cached workspaces and enqueues those for which
// match holds; kind and name say which event asked, for the log.
func (r *Reconciler) workspacesWhere(ctx context.Context, kind, name string, match func(*tenancyv1.Workspace) bool) []reconcile.Request {
	list := &tenancyv1.WorkspaceList{}
	if err := r.client.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "List workspaces for "+kind, kind, name)
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: list.Items[i].Name}})
		}
	}
	return out
}

// userSet holds the User objects a workspace names, fetched once per
// reconcile, so that resolving subjects cannot fail half-way: a lookup
// error other than NotFound fails the reconcile instead of binding the
// user as declared (a disabled user must never come back on a transient
// error).
type userSet map[string]*tenancyv1.User

// users fetches, from the cache, every User the workspace names.
func (r *Reconciler) users(ctx context.Context, ws *tenancyv1.Workspace) (userSet, error) {
	out := userSet{}
	var names []string
	if o := ws.Spec.Owner; o != nil && o.Kind == tenancyv1.UserKind {
		names = append(names, o.Name)
	}
	for _, c := range ws.Spec.Contributors {
		if c.Kind == tenancyv1.UserKind {
			names = append(names, c.Name)
		}
	}
	for _, n := range names {
		if _, done := out[n]; done {
			continue
		}
		u := &tenancyv1.User{}
		switch err := r.client.Get(ctx, client.ObjectKey{Name: n}, u); {
		case apierrors.IsNotFound(err):
			out[n] = nil
		case err != nil:
			return nil, fmt.Errorf("read User %s: %w", n, err)
		default:
			out[n] = u
		}
	}
	return out, nil
}

// resolve turns a declared subject into the RBAC subjects to bind: a
// disabled user gets none, a user with a token ServiceAccount has it bound
// too, and a User subject with no User object (an identity from OIDC, say)
// is bound as it is.
func (us userSet) resolve(s tenancyv1.Subject) []rbacv1.Subject {
	if s.Kind != tenancyv1.UserKind || us[s.Name] == nil {
		return []rbacv1.Subject{s.RBAC()}
	}
	return ResolveUser(s, us[s.Name])
}

// ResolveUser is tenancyv1.ResolveUser.
func ResolveUser(s tenancyv1.Subject, u *tenancyv1.User) []rbacv1.Subject {
	return tenancyv1.ResolveUser(s, u)
}

// waiting says why a workspace's namespace cannot be used yet.
type waiting struct{ reason, message string }

// ensureNamespace creates or updates the namespace. It returns why it must
// wait, and touches nothing, when a namespace of that name exists and is
// not this Workspace's: somebody else's (never adopted), or a leftover of
// an earlier Workspace of the same name (deleted, then waited for).
func (r *Reconciler) ensureNamespace(ctx context.Context, e effective, m objectMeta) (*waiting, error) {
	ns := &corev1.Namespace{}
	err := r.client.Get(ctx, client.ObjectKey{Name: e.Name}, ns)
	if apierrors.IsNotFound(err) {
		// The cache holds only Tenancy's namespaces. Create, not apply: an
		// apply racing with somebody else's create would adopt their
		// namespace, where a create fails with AlreadyExists; then the API
		// server is asked whose namespace it is. The owner reference is
		// there from the first write, so garbage collection removes the
		// namespace of a Workspace that is gone even if nothing else does.
		// It is created as desired, with the hash apply would stamp, so
		// that it costs one write and the next reconcile finds it up to date.
		desired := desiredNamespace(e, m)
		if _, err := stamp(desired); err != nil {
			return nil, err
		}
		err = create(ctx, r.client, desired, &corev1.Namespace{})
		if err == nil {
			return nil, nil
		}
		if apierrors.IsAlreadyExists(err) {
			ns = &corev1.Namespace{}
			err = r.apiReader.Get(ctx, client.ObjectKey{Name: e.Name}, ns)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create or read namespace %s: %w", e.Name, err)
	}
	ours := tenancyv1.OwnedBy(ns, m.WorkspaceName, m.WorkspaceUID)
	switch {
	case ours && ns.DeletionTimestamp.IsZero():
		return nil, apply(ctx, r.objs, desiredNamespace(e, m), &corev1.Namespace{})
	case ours:
		return &waiting{tenancyv1.ReasonTerminating, "namespace " + e.Name + " is being deleted" + terminatingDetail(ns)}, nil
	case tenancyv1.IsManagedFor(ns, e.Name) && tenancyv1.ControllerUID(ns) != "":
		// Made by Tenancy for an earlier Workspace of this name, which is
		// gone (names are unique): a leftover, removed and never adopted.
		if ns.DeletionTimestamp.IsZero() {
			if err := r.client.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("delete leftover namespace %s: %w", e.Name, err)
			}
		}
		return &waiting{tenancyv1.ReasonTerminating, "namespace " + e.Name + " is left over from an earlier workspace of this name and is being deleted" + terminatingDetail(ns)}, nil
	}
	return &waiting{tenancyv1.ReasonNamespaceConflict, fmt.Sprintf("namespace %q already exists and was not created by Tenancy for this workspace; it is left untouched: delete the Workspace or choose another name (this workspace becomes Ready by itself once that namespace is gone)", e.Name)}, nil
}

// terminatingDetail quotes why a terminating namespace is not gone yet,
// from the namespace controller's own conditions.
func terminatingDetail(ns *corev1.Namespace) string {
	var parts []string
	for _, c := range ns.Status.Conditions {
		if c.Status == corev1.ConditionTrue && c.Message != "" {
			parts = append(parts, string(c.Type)+": "+c.Message)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func (r *Reconciler) ensureRBAC(ctx context.Context, e effective, m objectMeta, resolve SubjectResolver) error {
	objs := desiredRBAC(e, m, resolve)
	var errs []error
	keepSA, keepRole, keepRB, keepCR, keepCRB := sets.New[string](), sets.New[string](), sets.New[string](), sets.New[string](), sets.New[string]()
	for _, o := range objs.ServiceAccounts {
		keepSA.Insert(*o.Name)
		errs = append(errs, apply(ctx, r.objs, o, &corev1.ServiceAccount{}))
	}
	for _, o := range objs.Roles {
		keepRole.Insert(*o.Name)
		errs = append(errs, apply(ctx, r.objs, o, &rbacv1.Role{}))
	}
	for _, o := range objs.RoleBindings {
		keepRB.Insert(*o.Name)
		errs = append(errs, apply(ctx, r.objs, o, &rbacv1.RoleBinding{}))
	}
	for _, o := range objs.ClusterRoles {
		keepCR.Insert(*o.Name)
		errs = append(errs, apply(ctx, r.objs, o, &rbacv1.ClusterRole{}))
	}
	for _, o := range objs.ClusterRoleBindings {
		keepCRB.Insert(*o.Name)
		errs = append(errs, apply(ctx, r.objs, o, &rbacv1.ClusterRoleBinding{}))
	}
	errs = append(errs,
		prune(ctx, r.client, &corev1.ServiceAccountList{}, e.Name, e.Name, keepSA),
		prune(ctx, r.client, &rbacv1.RoleList{}, e.Name, e.Name, keepRole),
		prune(ctx, r.client, &rbacv1.RoleBindingList{}, e.Name, e.Name, keepRB),
		prune(ctx, r.client, &rbacv1.ClusterRoleList{}, e.Name, "", keepCR),
		prune(ctx, r.client, &rbacv1.ClusterRoleBindingList{}, e.Name, "", keepCRB),
	)
	return errors.Join(errs...)
}

func (r *Reconciler) ensureQuota(ctx context.Context, e effective, m objectMeta) error {
	var errs []error
	keepRQ, keepLR := sets.New[string](), sets.New[string]()
	if q := desiredQuota(e, m); q != nil {
		keepRQ.Insert(*q.Name)
		errs = append(errs, apply(ctx, r.objs, q, &corev1.ResourceQuota{}))
	}
	if l := desiredLimitRange(e, m); l != nil {
		keepLR.Insert(*l.Name)
		errs = append(errs, apply(ctx, r.objs, l, &corev1.LimitRange{}))
	}
	errs = append(errs,
		prune(ctx, r.client, &corev1.ResourceQuotaList{}, e.Name, e.Name, keepRQ),
		prune(ctx, r.client, &corev1.LimitRangeList{}, e.Name, e.Name, keepLR))
	return errors.Join(errs...)
}

func (r *Reconciler) ensureNetworkPolicy(ctx context.Context, e effective, m objectMeta) error {
	keep := sets.New[string]()
	var err error
	if np := desiredNetworkPolicy(e, m); np != nil {
		keep.Insert(*np.Name)
		err = apply(ctx, r.objs, np, &networkingv1.NetworkPolicy{})
	}
	return errors.Join(err, prune(ctx, r.client, &networkingv1.NetworkPolicyList{}, e.Name, e.Name, keep))
}

func (r *Reconciler) ensureStorage(ctx context.Context, e effective, m objectMeta, st *statusBuilder) error {
	pvc := desiredStorage(e, m)
	if pvc == nil {
		st.notRequested(tenancyv1.ConditionStorage, "no workspace volume configured")
		return nil
	}
	err := apply(ctx, r.objs, pvc, &corev1.PersistentVolumeClaim{})
	st.part(tenancyv1.ConditionStorage, err)
	return err
}

func (r *Reconciler) ensureIstio(ctx context.Context, e effective, m objectMeta, st *statusBuilder, resolve SubjectResolver) error {
	if r.istio == nil || !r.istio.Installed(ctx) {
		st.notInstalled(tenancyv1.ConditionIstio, "Istio's AuthorizationPolicy API is not served by this cluster")
		return nil
	}
	u := desiredAuthorizationPolicy(e, m, r.userHeader, r.gatewayPrincipals, resolve)
	err := r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(tenancyv1.FieldManager), client.ForceOwnership)
	if err != nil {
		err = fmt.Errorf("apply AuthorizationPolicy %s/%s: %w", e.Name, authorizationPolicyName, err)
	}
	st.part(tenancyv1.ConditionIstio, err)
	return err
}

// podsReady reports whether pods can start in namespace ns: its default
// ServiceAccount, which kube-controller-manager makes, exists.
func (r *Reconciler) podsReady(ctx context.Context, ns string, st *statusBuilder) {
	if r.defaultSAs == nil {
		return
	}
	switch err := r.defaultSAs.Get(ctx, client.ObjectKey{Namespace: ns, Name: defaultServiceAccount}, &corev1.ServiceAccount{}); {
	case err == nil:
		st.set(tenancyv1.ConditionPodsReady, metav1.ConditionTrue, tenancyv1.ReasonReconciled,
			"the namespace's default ServiceAccount exists: pods can start")
	case apierrors.IsNotFound(err):
		st.set(tenancyv1.ConditionPodsReady, metav1.ConditionFalse, tenancyv1.ReasonServiceAccountMissing,
			"kube-controller-manager has not made the namespace's default ServiceAccount yet, and the API server refuses pods until it has; this resolves by itself")
	default:
		st.set(tenancyv1.ConditionPodsReady, metav1.ConditionUnknown, tenancyv1.ReasonApplyFailed, err.Error())
	}
}

// defaultServiceAccount is the ServiceAccount every namespace gets.
const defaultServiceAccount = "default"

// readQuota returns the workspace's ResourceQuota from the cache, or nil.
func (r *Reconciler) readQuota(ctx context.Context, ns string) *corev1.ResourceQuota {
	q := &corev1.ResourceQuota{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: quotaName}, q); err != nil {
		return nil
	}
	return q
}

// finalize removes what the workspace created outside its namespace, then
// the namespace (the namespace controller deletes its contents), and lets
// the Workspace go once the namespace is gone. While the namespace
// terminates, the status says so, quoting the namespace's own reason.
func (r *Reconciler) finalize(ctx context.Context, ws *tenancyv1.Workspace) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(ws, tenancyv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.deleteClusterObjects(ctx, ws.Name); err != nil {
		return ctrl.Result{}, err
	}
	ns := &corev1.Namespace{}
	err := r.apiReader.Get(ctx, client.ObjectKey{Name: ws.Name}, ns)
	switch {
	case err == nil && ws.Owns(ns):
		if ns.DeletionTimestamp.IsZero() {
			if err := r.client.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("delete namespace %s: %w", ws.Name, err)
			}
		} else if detail := terminatingDetail(ns); detail != "" {
			st := newStatus(ws)
			st.blocked(tenancyv1.ReasonTerminating, "waiting for namespace "+ws.Name+" to be deleted"+detail)
			if err := r.writeStatus(ctx, ws, st); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, err
			}
		}
		// The namespace's deletion is watched; the poll is a safety net.
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	case err != nil && !apierrors.IsNotFound(err):
		return ctrl.Result{}, fmt.Errorf("read namespace %s: %w", ws.Name, err)
	}
	// A JSON patch that tests the list it replaces: never drops a finalizer
	// somebody else added since the cache was filled.
	if err := removeFinalizer(ctx, r.client, ws); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// deleteClusterObjects deletes the cluster-scoped objects made for the
// workspace of that name.
func (r *Reconciler) deleteClusterObjects(ctx context.Context, name string) error {
	sel := client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: name}
	for _, o := range []client.Object{&rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRole{}} {
		if err := r.client.DeleteAllOf(ctx, o, sel); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s of workspace %s: %w", kindOf(o), name, err)
		}
	}
	return nil
}

// sweep removes what a Workspace that is gone left behind: on a cluster
// where the finalizer comes only from the controller, a Workspace deleted
// before the finalizer landed never passes through finalize. The cache is
// asked first, so the usual case (nothing left) costs no request; the API
// server then confirms that no Workspace of that name exists again.
func (r *Reconciler) sweep(ctx context.Context, name string) error {
	crs, crbs := &rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{}
	if err := r.client.List(ctx, crs, clusterObjectsOf(name)...); err != nil {
		return err
	}
	if err := r.client.List(ctx, crbs, clusterObjectsOf(name)...); err != nil {
		return err
	}
	ns := &corev1.Namespace{}
	nsErr := r.client.Get(ctx, client.ObjectKey{Name: name}, ns)
	leftNS := nsErr == nil && ns.DeletionTimestamp.IsZero() && tenancyv1.IsManagedFor(ns, name) && tenancyv1.ControllerUID(ns) != ""
	if len(crs.Items) == 0 && len(crbs.Items) == 0 && !leftNS {
		return client.IgnoreNotFound(nsErr)
	}
	ws := &tenancyv1.Workspace{}
	switch err := r.apiReader.Get(ctx, client.ObjectKey{Name: name}, ws); {
	case err == nil:
		return nil // created again: its own reconcile takes over
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read workspace %s: %w", name, err)
	}
	log.FromContext(ctx).Info("Removing what a deleted workspace left behind", "workspace", name)
	if err := r.deleteClusterObjects(ctx, name); err != nil {
		return err
	}
	if leftNS {
		if err := r.client.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", name, err)
		}
	}
	return nil
}
