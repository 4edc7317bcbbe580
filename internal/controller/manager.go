// Package controller assembles the Tenancy controller manager: the scheme,
// the caches (Tenancy's own kinds in the manager's, the objects the
// controller makes in objcache's) and the reconcilers.
package controller

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller/objcache"
	"github.com/tenancy-dev/tenancy/internal/controller/user"
	"github.com/tenancy-dev/tenancy/internal/controller/workspace"
	"github.com/tenancy-dev/tenancy/internal/scheme"
)

// Scheme knows the Kubernetes built-in types and Tenancy's (scheme.New).
func Scheme() *runtime.Scheme { return scheme.New() }

// Options configure the controller manager.
type Options struct {
	Concurrency int
	MetricsAddr string // "0" turns metrics off
	// Profiling serves Go's pprof profiles at /debug/pprof/ on the metrics
	// address.
	Profiling       bool
	ProbeAddr       string // "0" turns probes off
	LeaderElection  bool
	LeaderNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election
	// (controller-runtime's defaults, 15s, 10s and 2s, when zero).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	IstioUserHeader                           string
	// IstioGatewayPrincipals may set IstioUserHeader (the ingress
	// gateway's mesh identity); workspace.DefaultGatewayPrincipal when empty.
	IstioGatewayPrincipals []string
}

// LeaderElectionID names the Lease of leader election.
const LeaderElectionID = "tenancy-controller.tenancy.dev"

// Leader election takes a Lease in the namespace given by
// --leader-election-namespace (kube-system by default, where this Role is):
// any Lease may be created there, but only Tenancy's own read and written.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=kube-system,resources=leases,verbs=create
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=kube-system,resources=leases,resourceNames=tenancy-controller.tenancy.dev,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups="",namespace=kube-system,resources=events,verbs=create;patch

// NewManager returns a manager running the workspace controller.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	sch := Scheme()
	in := objcache.NewInterner()
	// The objects the workspace controller makes are in a cache of their
	// own, as compact records (objcache); the manager's cache holds
	// Tenancy's own kinds.
	owned, err := objcache.New(cfg, objcache.Options{
		Scheme:         sch,
		Objects:        workspace.ManagedObjects(),
		Selector:       labels.SelectorFromSet(labels.Set{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}),
		HashAnnotation: workspace.AnnotationApplied,
		Interner:       in,
	})
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: sch,
		Cache:  cache.Options{DefaultTransform: newTransform(in)},
		// The manager's client reads the managed kinds from that cache.
		NewClient: func(cfg *rest.Config, co client.Options) (client.Client, error) {
			if co.Cache != nil && co.Cache.Reader != nil {
				co.Cache.Reader = owned.Reader(co.Cache.Reader)
			}
			return client.New(cfg, co)
		},
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr, ExtraHandlers: profiling(o.Profiling)},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderNamespace,
		// The manager exits once its context ends, so a stopping leader
		// may hand over at once instead of after a lease duration.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 nonZero(o.LeaseDuration),
		RenewDeadline:                 nonZero(o.RenewDeadline),
		RetryPeriod:                   nonZero(o.RetryPeriod),
		GracefulShutdownTimeout:       ptr.To(10 * time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("create controller manager: %w", err)
	}
	if err := mgr.Add(owned); err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// The namespaces' default ServiceAccounts (kube-controller-manager's,
	// not labelled) have a cache of their own: PodsReady needs only to
	// know they exist, and objcache keeps of each only its identity.
	defaultSAs, err := objcache.New(cfg, objcache.Options{
		Scheme:        sch,
		Objects:       []client.Object{&corev1.ServiceAccount{}},
		FieldSelector: fields.OneTermEqualSelector("metadata.name", "default"),
		Interner:      in,
	})
	if err != nil {
		return nil, fmt.Errorf("create the cache of default ServiceAccounts: %w", err)
	}
	if err := mgr.Add(defaultSAs); err != nil {
		return nil, err
	}
	r := workspace.New(mgr.GetClient(), mgr.GetAPIReader(),
		workspace.WithConcurrency(o.Concurrency),
		workspace.WithOwnedObjects(owned),
		workspace.WithDefaultServiceAccounts(defaultSAs),
		workspace.WithIstio(workspace.NewDiscoveryIstio(disc, time.Minute), o.IstioUserHeader, o.IstioGatewayPrincipals...),
		workspace.WithMutatingPolicies(workspace.NewDiscoveryMutatingPolicies(disc, 10*time.Minute)),
	)
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up workspace controller: %w", err)
	}
	if err := user.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up user grants controller: %w", err)
	}
	if o.ProbeAddr != "0" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// profiling is the pprof handlers, when on.
func profiling(on bool) map[string]http.Handler {
	if !on {
		return nil
	}
	return map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
	}
}

// nonZero is d, or nil (the default) when d is zero.
func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

// newTransform returns the transform that shrinks what the manager's cache
// keeps of Tenancy's own objects (Workspaces, Users, classes): their
// managed fields and kubectl apply's copy of the whole object, which
// nothing here reads (status writes are patches, which leave managed
// fields alone). What Workspaces share with each
// other points to one kept copy (objcache.Interner).
func newTransform(in *objcache.Interner) func(any) (any, error) {
	return func(obj any) (any, error) {
		o, ok := obj.(metav1.Object)
		if !ok {
			return obj, nil
		}
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
			delete(a, corev1.LastAppliedConfigAnnotation)
			o.SetAnnotations(a)
		}
		if ws, ok := obj.(*tenancyv1.Workspace); ok {
			in.Workspace(ws)
		}
		return obj, nil
	}
}
