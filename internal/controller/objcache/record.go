package objcache

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// record is what the cache keeps of one object: what the workspace
// controller reads of it, and no more. A typed object with its ObjectMeta
// and one-entry annotation map costs well over a kilobyte in the heap; a
// record some 200 bytes, its strings included.
type record struct {
	name, namespace string
	uid             types.UID
	resourceVersion string
	// hash is the value of the cache's hash annotation, the only
	// annotation the controller reads.
	hash     string
	deletion *metav1.Time
	// shape is what the objects of one workspace share (nil for a stub).
	shape *shape
	// status is the status, of the kinds whose status is read: a
	// *corev1.NamespaceStatus or a *corev1.ResourceQuotaStatus, shared.
	status any
}

// shape is the metadata that the objects of one workspace have in common,
// kept once (see Interner.shapeOf).
type shape struct {
	labels     map[string]string
	owners     []metav1.OwnerReference
	managers   []metav1.ManagedFieldsEntry
	finalizers []string
}

// GetObjectMeta lets client-go key records (meta.Accessor), as the
// reflector does in the store it fills from a streamed list: a transient
// ObjectMeta with their identity.
func (r *record) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: r.name, Namespace: r.namespace, UID: r.uid, ResourceVersion: r.resourceVersion}
}

// labels are the record's labels, never to be written.
func (r *record) labels() map[string]string {
	if r.shape == nil {
		return nil
	}
	return r.shape.labels
}

// activeNamespace is the status of almost every namespace, kept once.
var activeNamespace = &corev1.NamespaceStatus{Phase: corev1.NamespaceActive}

// toRecord is the stores' transform: it turns a decoded object (as
// metadata, or typed for the kinds whose status is kept) into its record.
//
// A namespaced object whose workspace label names another workspace than
// its namespace was not made by Tenancy (whose objects always live in their
// workspace's namespace): anybody who administers a namespace can create
// such objects by the thousand. It is kept as a bare stub (its identity, no
// labels or owner references), so it costs next to no memory, no
// label-selected list (pruning) sees it, and no event of it reaches a
// workspace.
//
// Of every other object the field sets and times of its managed fields are
// dropped: the controller reads only who wrote an object (manager and
// subresource), never which fields.
func (c *Cache) toRecord(obj any) (any, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	r := &record{uid: o.GetUID(), resourceVersion: o.GetResourceVersion()}
	_, isNamespace := obj.(*corev1.Namespace)
	ns := o.GetNamespace()
	// The names of namespaced objects repeat in every namespace, and a
	// Namespace's name is its objects' namespace; the names of other
	// cluster-scoped objects are their own and would only fill the table.
	r.name, r.namespace = c.in.names(o.GetName(), ns, ns != "" || isNamespace)
	if ns != "" && o.GetLabels()[tenancyv1.LabelWorkspace] != ns {
		return r, nil
	}
	r.hash = o.GetAnnotations()[c.hashAnnotation]
	r.deletion = o.GetDeletionTimestamp()
	mfs := o.GetManagedFields()
	for i := range mfs {
		mfs[i] = metav1.ManagedFieldsEntry{Manager: mfs[i].Manager, Operation: mfs[i].Operation, Subresource: mfs[i].Subresource}
	}
	r.shape = c.in.shapeOf(o)
	switch t := obj.(type) {
	case *corev1.Namespace:
		if t.Status.Phase == corev1.NamespaceActive && len(t.Status.Conditions) == 0 {
			r.status = activeNamespace
		} else {
			r.status = t.Status.DeepCopy()
		}
	case *corev1.ResourceQuota:
		if st := c.in.quotaStatus(&t.Status); st != nil {
			r.status = st
		}
	}
	return r, nil
}

// materialize writes the object r describes into obj (an object of the
// record's kind), replacing whatever obj held. What the record shares with
// others is copied, so obj is the caller's to change.
func (c *Cache) materialize(r *record, gvk schema.GroupVersionKind, obj client.Object) {
	v := reflect.ValueOf(obj).Elem()
	v.SetZero()
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	m := metav1.ObjectMeta{
		Name: r.name, Namespace: r.namespace, UID: r.uid, ResourceVersion: r.resourceVersion,
		DeletionTimestamp: r.deletion,
	}
	if r.hash != "" {
		m.Annotations = map[string]string{c.hashAnnotation: r.hash}
	}
	if s := r.shape; s != nil {
		m.Labels, m.OwnerReferences, m.ManagedFields, m.Finalizers = s.labels, s.owners, s.managers, s.finalizers
	}
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if dst, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			m.DeepCopyInto(dst)
		}
	}
	switch t := obj.(type) {
	case *corev1.Namespace:
		if st, ok := r.status.(*corev1.NamespaceStatus); ok {
			st.DeepCopyInto(&t.Status)
		}
	case *corev1.ResourceQuota:
		if st, ok := r.status.(*corev1.ResourceQuotaStatus); ok {
			st.DeepCopyInto(&t.Status)
		}
	}
}
