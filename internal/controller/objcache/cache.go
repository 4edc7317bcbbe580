// Package objcache is the cache of the objects the workspace controller
// makes: some sixteen per workspace, so at 10,000 workspaces most of the
// controller's memory. controller-runtime's cache holds each as a typed
// object with its whole ObjectMeta, well over a kilobyte in the heap even
// with everything the controller never reads dropped. This cache keeps a
// record of about a hundred bytes instead (see record): identity, the hash
// annotation, whatever the objects of a workspace share (labels, owner
// references, managers), and the status of the two kinds whose status is
// read (Namespaces, ResourceQuotas). Reads through Reader give back typed
// objects, built from the record, so the controller's code reads it like
// any other cache.
//
// It lists and watches each kind with a client-go Reflector into a store of
// its own; all kinds but those two as metadata only, so the API server
// sends less, too.
package objcache

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Options configure a Cache.
type Options struct {
	Scheme *runtime.Scheme
	// Objects are the kinds held, as empty typed objects.
	Objects []client.Object
	// Selector selects the objects held of each kind, by label;
	// FieldSelector by field (say, metadata.name).
	Selector      labels.Selector
	FieldSelector fields.Selector
	// HashAnnotation is the one annotation kept.
	HashAnnotation string
	// Interner keeps what objects share; shared with the manager's
	// cache, which holds the Workspaces.
	Interner *Interner
}

// Cache holds records of the objects of a few kinds. It is a manager
// Runnable: Start runs its reflectors until the context ends.
type Cache struct {
	client         client.WithWatch
	scheme         *runtime.Scheme
	in             *Interner
	hashAnnotation string
	kinds          map[schema.GroupVersionKind]*kind
}

// kind is one kind the cache holds.
type kind struct {
	gvk       schema.GroupVersionKind
	example   client.Object // an empty typed object
	store     *store
	reflector *toolscache.Reflector // nil in tests
}

// New returns a Cache; nothing is read before Start.
func New(cfg *rest.Config, o Options) (*Cache, error) {
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: o.Scheme})
	if err != nil {
		return nil, fmt.Errorf("create the client of the object cache: %w", err)
	}
	c := &Cache{client: cl, scheme: o.Scheme, in: o.Interner, hashAnnotation: o.HashAnnotation,
		kinds: map[schema.GroupVersionKind]*kind{}}
	if c.in == nil {
		c.in = NewInterner()
	}
	sel, fieldSel := labels.Everything(), fields.Everything()
	if o.Selector != nil {
		sel = o.Selector
	}
	if o.FieldSelector != nil {
		fieldSel = o.FieldSelector
	}
	for _, obj := range o.Objects {
		gvk, err := apiutil.GVKForObject(obj, o.Scheme)
		if err != nil {
			return nil, err
		}
		k := &kind{gvk: gvk, example: obj, store: newStore(c.toRecord)}
		var example runtime.Object = &metav1.PartialObjectMetadata{}
		if statusKept(obj) {
			example = obj.DeepCopyObject()
		}
		k.reflector = toolscache.NewReflectorWithOptions(c.listWatch(k, sel.String(), fieldSel.String()), example, k.store,
			toolscache.ReflectorOptions{Name: "objcache " + gvk.Kind, TypeDescription: gvk.Kind})
		c.kinds[gvk] = k
	}
	return c, nil
}

// statusKept says whether the status of obj's kind is read (and so the
// kind is watched whole, not as metadata).
func statusKept(obj client.Object) bool {
	switch obj.(type) {
	case *corev1.Namespace, *corev1.ResourceQuota:
		return true
	}
	return false
}

// listWatch lists and watches the objects of k that the selectors select:
// as metadata, or typed where the status is kept.
func (c *Cache) listWatch(k *kind, sel, fieldSel string) *toolscache.ListWatch {
	newList := func() (client.ObjectList, error) {
		listGVK := k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List")
		if !statusKept(k.example) {
			l := &metav1.PartialObjectMetadataList{}
			l.SetGroupVersionKind(listGVK)
			return l, nil
		}
		o, err := c.scheme.New(listGVK)
		if err != nil {
			return nil, err
		}
		return o.(client.ObjectList), nil
	}
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			l, err := newList()
			if err != nil {
				return nil, err
			}
			opts.LabelSelector, opts.FieldSelector = sel, fieldSel
			return l, c.client.List(ctx, l, &client.ListOptions{Raw: &opts, Limit: opts.Limit, Continue: opts.Continue})
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			l, err := newList()
			if err != nil {
				return nil, err
			}
			opts.LabelSelector, opts.FieldSelector = sel, fieldSel
			return c.client.Watch(ctx, l, &client.ListOptions{Raw: &opts})
		},
	}
}

// Start runs the reflectors until ctx ends.
func (c *Cache) Start(ctx context.Context) error {
	done := make(chan struct{})
	for _, k := range c.kinds {
		go func() {
			defer func() { done <- struct{}{} }()
			k.reflector.RunWithContext(ctx)
		}()
	}
	for range c.kinds {
		<-done
	}
	return nil
}

// NeedLeaderElection is false: a standby fills its cache before it leads.
func (c *Cache) NeedLeaderElection() bool { return false }

// kindOf is the kind of obj (a typed object, or a list of them) if the
// cache holds it.
func (c *Cache) kindOf(obj runtime.Object) *kind {
	switch obj.(type) {
	case *metav1.PartialObjectMetadata, *metav1.PartialObjectMetadataList, runtime.Unstructured:
		return nil
	}
	gvk, err := c.gvkOf(obj)
	if err != nil {
		return nil
	}
	if _, isList := obj.(client.ObjectList); isList {
		gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	}
	return c.kinds[gvk]
}

func (c *Cache) gvkOf(obj runtime.Object) (schema.GroupVersionKind, error) {
	return apiutil.GVKForObject(obj, c.scheme)
}

// synced waits, if it must, until k has been listed.
func (c *Cache) synced(ctx context.Context, k *kind) error {
	if k.store.hasSynced() {
		return nil
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), k.store.hasSynced) {
		return fmt.Errorf("the cache of %s is not filled: %w", k.gvk.Kind, context.Cause(ctx))
	}
	return nil
}

// get reads the object of k at key into obj.
func (c *Cache) get(ctx context.Context, k *kind, key client.ObjectKey, obj client.Object) error {
	if err := c.synced(ctx, k); err != nil {
		return err
	}
	r, ok := k.store.get(objKey{namespace: key.Namespace, name: key.Name})
	if !ok {
		plural, _ := meta.UnsafeGuessKindToResource(k.gvk)
		gr := plural.GroupResource()
		return apierrors.NewNotFound(gr, key.Name)
	}
	c.materialize(r, k.gvk, obj)
	return nil
}

// list reads the objects of k that opts select into list. It understands
// a namespace, a label selector, and field selectors on labels
// (metadata.labels.<key>=<value>).
func (c *Cache) list(ctx context.Context, k *kind, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.synced(ctx, k); err != nil {
		return err
	}
	lo := client.ListOptions{}
	lo.ApplyOptions(opts)
	sel, err := selectorOf(lo)
	if err != nil {
		return err
	}
	// The index holds records with Tenancy's labels by their workspace
	// label: where the selector asks for one, the others cannot match.
	ws, _ := sel.RequiresExactMatch(tenancyv1.LabelWorkspace)
	records := k.store.list(ws)
	out := make([]runtime.Object, 0, len(records))
	for _, r := range records {
		if (lo.Namespace != "" && r.namespace != lo.Namespace) || !sel.Matches(r.labels()) {
			continue
		}
		obj, ok := k.example.DeepCopyObject().(client.Object)
		if !ok {
			return fmt.Errorf("%T is not an object", k.example)
		}
		c.materialize(r, k.gvk, obj)
		out = append(out, obj)
	}
	return meta.SetList(list, out)
}

// selectorOf is the label selector of lo, its field selectors on labels
// included.
func selectorOf(lo client.ListOptions) (labels.Selector, error) {
	sel := labels.Everything()
	if lo.LabelSelector != nil {
		sel = lo.LabelSelector
	}
	if lo.FieldSelector == nil {
		return sel, nil
	}
	for _, req := range lo.FieldSelector.Requirements() {
		label, ok := strings.CutPrefix(req.Field, "metadata.labels.")
		if !ok || (req.Operator != selection.Equals && req.Operator != selection.DoubleEquals) {
			return nil, fmt.Errorf("the object cache answers field selectors on labels only (metadata.labels.<key>=<value>), not %q", req.Field)
		}
		r, err := labels.NewRequirement(label, selection.Equals, []string{req.Value})
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*r)
	}
	return sel, nil
}

// Reader reads the kinds the cache holds from it, and all others from next.
func (c *Cache) Reader(next client.Reader) client.Reader { return &reader{c: c, next: next} }

// Get reads the object at key, of a kind the cache holds, into obj.
func (c *Cache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.Reader(notHeld{}).Get(ctx, key, obj, opts...)
}

// List reads the objects of a kind the cache holds that opts select.
func (c *Cache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.Reader(notHeld{}).List(ctx, list, opts...)
}

// notHeld refuses every read: the cache does not hold the kind.
type notHeld struct{}

func (notHeld) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	return fmt.Errorf("the object cache does not hold %T", obj)
}

func (notHeld) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	return fmt.Errorf("the object cache does not hold %T", list)
}

type reader struct {
	c    *Cache
	next client.Reader
}

func (r *reader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if k := r.c.kindOf(obj); k != nil {
		return r.c.get(ctx, k, key, obj)
	}
	return r.next.Get(ctx, key, obj, opts...)
}

func (r *reader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if k := r.c.kindOf(list); k != nil {
		return r.c.list(ctx, k, list, opts...)
	}
	return r.next.List(ctx, list, opts...)
}

// Source is the source of reconcile requests for the controlling owners of
// kind owner (cluster-scoped, as Workspaces are) of the objects of obj's
// kind: what controller-runtime's Owns does, from this cache.
func (c *Cache) Source(obj client.Object, owner schema.GroupKind) (source.Source, error) {
	k := c.kindOf(obj)
	if k == nil {
		return nil, fmt.Errorf("the object cache does not hold %T", obj)
	}
	return &kindSource{k: k, to: func(r *record) string { return controllerOf(r, owner) }}, nil
}

// NamespaceSource is the source of reconcile requests named after the
// namespace of each object of obj's kind (a Workspace's namespace has its
// name).
func (c *Cache) NamespaceSource(obj client.Object) (source.Source, error) {
	k := c.kindOf(obj)
	if k == nil {
		return nil, fmt.Errorf("the object cache does not hold %T", obj)
	}
	return &kindSource{k: k, to: func(r *record) string { return r.namespace }}, nil
}

// kindSource requests, for each change of an object of k, the reconcile of
// the (cluster-scoped) object named by to ("" for none).
type kindSource struct {
	k       *kind
	to      func(*record) string
	started bool
}

func (s *kindSource) String() string { return "objcache " + s.k.gvk.Kind }

// Start registers the handler that enqueues the requests, of the old
// object and the new on a change.
func (s *kindSource) Start(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	enqueue := func(r *record) {
		if name := s.to(r); name != "" {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: name}})
		}
	}
	s.k.store.addHandler(func(old, obj *record) {
		if old != nil {
			enqueue(old)
		}
		if obj != nil {
			enqueue(obj)
		}
	})
	s.started = true
	return nil
}

// controllerOf is the name of the controlling owner of kind owner of r,
// or "".
func controllerOf(r *record, owner schema.GroupKind) string {
	if r.shape == nil {
		return ""
	}
	for _, ref := range r.shape.owners {
		if ref.Controller == nil || !*ref.Controller || ref.Kind != owner.Kind {
			continue
		}
		if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil && gv.Group == owner.Group {
			return ref.Name
		}
	}
	return ""
}

// WaitForSync waits until the store has been filled (the handler is told
// of every change as it is made).
func (s *kindSource) WaitForSync(ctx context.Context) error {
	if !s.started {
		return errors.New("objcache source not started")
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), s.k.store.hasSynced) {
		return fmt.Errorf("wait for the cache of %s: %w", s.k.gvk.Kind, context.Cause(ctx))
	}
	return nil
}
