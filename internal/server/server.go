// Package server is `tenancy serve`: the REST API under /api/v1, sign-in
// (local passwords, sessions, personal API tokens, OIDC, a trusted proxy
// header) and the web UI.
//
// Kubernetes RBAC is the one authority. Every Kubernetes call made for a
// person is made as that person, by impersonation (Deps.AsUser reads the
// principal from the request's context and refuses to call without one).
// The server's own identity (Deps.Own, Deps.Cache) serves only the caches
// that answer list pages fast, filtered to what the caller may see, and the
// writing of credential hashes. It never imports the controller: they meet
// through the Kubernetes API.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/credentials"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// Defaults of Options.
const (
	DefaultAddress          = "127.0.0.1:8090"
	DefaultSessionTTL       = 12 * time.Hour
	DefaultMaxTokenLifetime = 90 * 24 * time.Hour
	DefaultTokenLifetime    = 30 * 24 * time.Hour
	// FieldManager of what the server writes with its own identity.
	FieldManager = "tenancy-server"
)

// Options configure the server.
type Options struct {
	// PublicURL is how browsers reach the server, e.g. http://127.0.0.1:8090
	// (the OIDC callback is PublicURL/auth/oidc/callback).
	PublicURL string
	// TLS says the server is served over HTTPS: cookies are Secure.
	TLS bool
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// MaxTokenLifetime is the longest a personal API token may live.
	MaxTokenLifetime time.Duration
	// Login rate limit: failures allowed per user and per client address
	// within LoginWindow, after which login answers 429 until the window ends.
	LoginFailuresPerUser    int
	LoginFailuresPerAddress int
	LoginWindow             time.Duration

	// OIDC sign-in; nil when not configured.
	OIDC *OIDCOptions

	// AuthHeader, when set, names a header (e.g. kubeflow-userid) holding
	// the user name, set by an authenticating proxy; honoured only from
	// TrustedProxies. AuthGroupsHeader holds comma-separated groups, and
	// AuthHeaderPrefix is removed from the user name (Kubeflow's
	// "accounts.google.com:").
	AuthHeader       string
	AuthGroupsHeader string
	AuthHeaderPrefix string
	TrustedProxies   []netip.Prefix
}

func (o *Options) defaults() {
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.MaxTokenLifetime <= 0 {
		o.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if o.LoginFailuresPerUser <= 0 {
		o.LoginFailuresPerUser = 5
	}
	if o.LoginFailuresPerAddress <= 0 {
		o.LoginFailuresPerAddress = 20
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = 5 * time.Minute
	}
}

// Deps are what the server is made of.
type Deps struct {
	Options
	// AsUser calls Kubernetes as the principal in each request's context,
	// by impersonation; it refuses a call made without one.
	AsUser client.Client
	// Own is the server's identity, uncached: credential Secrets in the
	// system namespace, and reads the cache has not caught up with yet.
	Own client.Client
	// Cache is the server's identity, from informers: Users, Workspaces and
	// credential Secrets. Lists are answered from it, filtered per caller.
	Cache client.Reader
	// Ready says the caches have synced.
	Ready func() bool
	// AsUserCS calls Kubernetes as the principal too, as a typed client:
	// pod logs of jobs.
	AsUserCS kubernetes.Interface
	// OwnCS is the server's identity as a typed client, for TokenRequests
	// of users' token ServiceAccounts (kubeconfig downloads).
	OwnCS kubernetes.Interface
	// Cluster is where downloaded kubeconfigs point.
	Cluster credentials.Cluster
	// OIDC is the configured issuer; nil when none.
	OIDC *OIDC
	Log  logr.Logger
	Now  func() time.Time
}

// Scheme holds the kinds the server reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := tenancyv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Setup builds the Deps for the server's own identity cfg: clients,
// caches (started, in the background, until ctx ends) and the OIDC issuer.
func Setup(ctx context.Context, cfg *rest.Config, o Options, log logr.Logger) (*Deps, error) {
	o.defaults()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 500, 1000
	scheme := Scheme()
	ownHTTP, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, ownHTTP)
	if err != nil {
		return nil, err
	}
	own, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper, HTTPClient: ownHTTP})
	if err != nil {
		return nil, err
	}
	// A second transport, so that the impersonation headers can never reach
	// a request made for the server itself.
	userHTTP, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	userHTTP.Transport = impersonator{base: userHTTP.Transport}
	asUser, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper, HTTPClient: userHTTP})
	if err != nil {
		return nil, err
	}
	managed := labels.SelectorFromSet(labels.Set{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue})
	c, err := cache.New(cfg, cache.Options{
		Scheme: scheme, Mapper: mapper, HTTPClient: ownHTTP,
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{passwords.Namespace: {}}, Label: managed},
		},
		ReaderFailOnMissingInformer: true,
	})
	if err != nil {
		return nil, err
	}
	if err := c.IndexField(ctx, &tenancyv1.Workspace{}, memberIndex, memberKeys); err != nil {
		return nil, err
	}
	for _, obj := range []client.Object{&tenancyv1.User{}, &tenancyv1.Workspace{}, &corev1.Secret{}} {
		if _, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return nil, fmt.Errorf("watch %T: %w", obj, err)
		}
	}
	var synced sync.Once
	ready := make(chan struct{})
	go func() {
		if err := c.Start(ctx); err != nil {
			log.Error(err, "Cache stopped")
		}
	}()
	go func() {
		if c.WaitForCacheSync(ctx) {
			synced.Do(func() { close(ready) })
		}
	}()
	ownCS, err := kubernetes.NewForConfigAndClient(cfg, ownHTTP)
	if err != nil {
		return nil, err
	}
	asUserCS, err := kubernetes.NewForConfigAndClient(cfg, userHTTP)
	if err != nil {
		return nil, err
	}
	cluster, err := credentials.ClusterOf("tenancy", cfg)
	if err != nil {
		return nil, err
	}
	d := &Deps{
		Options: o, AsUser: asUser, Own: own, Cache: c, Log: log, Now: time.Now, OwnCS: ownCS, AsUserCS: asUserCS, Cluster: cluster,
		Ready: func() bool {
			select {
			case <-ready:
				return true
			default:
				return false
			}
		},
	}
	if o.OIDC != nil {
		if d.OIDC, err = NewOIDC(ctx, *o.OIDC, o.PublicURL); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// WaitReady waits until the caches have synced, or ctx ends.
func (d *Deps) WaitReady(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !d.Ready() {
		select {
		case <-ctx.Done():
			return errors.New("the server's caches did not sync: does its identity have the rights of config/rbac/server_role.yaml?")
		case <-t.C:
		}
	}
	return nil
}

// server is the running handler's state.
type server struct {
	*Deps
	limiter *limiter
	metrics *metrics
	pages   *pages

	touchedMu sync.Mutex
	touched   map[string]time.Time // token id → last use recorded

	revokedMu sync.Mutex
	revoked   map[string]time.Time // credential Secret → when this replica revoked it
}

// NewServer returns the whole HTTP surface: API, sign-in and UI.
func NewServer(d *Deps) http.Handler {
	d.defaults()
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Ready == nil {
		d.Ready = func() bool { return true }
	}
	s := &server{
		Deps:    d,
		limiter: newLimiter(d.Now),
		metrics: newMetrics(),
		pages:   loadPages(),
		touched: map[string]time.Time{},
		revoked: map[string]time.Time{},
	}
	return s.routes()
}

// impersonator sets the impersonation headers of the principal in the
// request's context, and refuses a request without one: no call made for a
// person can go out as the server.
type impersonator struct{ base http.RoundTripper }

func (t impersonator) RoundTrip(r *http.Request) (*http.Response, error) {
	p := principalFrom(r.Context())
	if p == nil {
		return nil, errors.New("internal error: a Kubernetes call for a user was made without a principal")
	}
	r = r.Clone(r.Context())
	r.Header.Set("Impersonate-User", p.Name)
	r.Header.Del("Impersonate-Group")
	for _, g := range p.Groups {
		r.Header.Add("Impersonate-Group", g)
	}
	return t.base.RoundTrip(r)
}

// memberIndex indexes the cached Workspaces by member ("User/alex",
// "Group/ml"): the owner and every contributor, so that a caller's list
// reads only their own workspaces, not all of them.
const memberIndex = "tenancy.dev/member"

func memberKeys(o client.Object) []string {
	ws, ok := o.(*tenancyv1.Workspace)
	if !ok {
		return nil
	}
	var keys []string
	add := func(s tenancyv1.Subject) {
		if s.Kind == tenancyv1.UserKind || s.Kind == tenancyv1.GroupKind {
			keys = append(keys, string(s.Kind)+"/"+s.Name)
		}
	}
	if ws.Spec.Owner != nil {
		add(*ws.Spec.Owner)
	}
	for _, c := range ws.Spec.Contributors {
		add(c.Subject)
	}
	return keys
}
