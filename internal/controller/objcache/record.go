package objcache

import (
	"encoding/hex"
	"maps"
	"reflect"
	"slices"
	"strconv"

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
// record 96 bytes, and nothing of its own besides: the UID, resource version
// and hash are kept as the numbers they spell (a UUID, a decimal, 12 bytes
// in hex), not as strings of their own, and the names are interned.
// Whatever is not in that form, or is rare (a deletion time, a status), is
// in ext.
type record struct {
	name, namespace string
	uid             [16]byte
	rv              uint64
	// hash is the value of the cache's hash annotation, the only
	// annotation the controller reads, when hasHash.
	hash    [12]byte
	hasHash bool
	// shape is what the objects of one workspace share (nil for a stub).
	shape *shape
	ext   *extra
}

// extra is the rest of a record: what does not fit its compact fields.
type extra struct {
	// uid, resourceVersion and hash are the texts that do not spell what
	// the record's fields hold (say, an upper-case UUID).
	uid, resourceVersion, hash string
	deletion                   *metav1.Time
	// status is the status, of the kinds whose status is read: a
	// *corev1.NamespaceStatus or a *corev1.ResourceQuotaStatus, shared.
	status any
}

// activeNamespace is the rest of almost every namespace's record, kept once.
var activeNamespace = &extra{status: &corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}

// noExtra is the rest of a record that has none; never written.
var noExtra extra

func (r *record) x() *extra {
	if r.ext == nil {
		return &noExtra
	}
	return r.ext
}

// ensureExt is the record's own extra, made when it has none; the record
// is being built.
func (r *record) ensureExt() *extra {
	if r.ext == nil || r.ext == activeNamespace {
		e := &extra{}
		if r.ext != nil {
			*e = *r.ext
		}
		r.ext = e
	}
	return r.ext
}

func (r *record) setUID(uid types.UID) {
	if uid == "" {
		return
	}
	// The zero UUID would read back as no UID.
	if !parseUUID(string(uid), &r.uid) || r.uid == ([16]byte{}) {
		r.uid = [16]byte{}
		r.ensureExt().uid = string(uid)
	}
}

func (r *record) uidText() types.UID {
	if s := r.x().uid; s != "" {
		return types.UID(s)
	}
	if r.uid == ([16]byte{}) {
		return ""
	}
	return types.UID(formatUUID(&r.uid))
}

func (r *record) setResourceVersion(rv string) {
	if rv == "" {
		return
	}
	if n, err := strconv.ParseUint(rv, 10, 64); err == nil && n != 0 && strconv.FormatUint(n, 10) == rv {
		r.rv = n
		return
	}
	r.ensureExt().resourceVersion = rv
}

func (r *record) resourceVersion() string {
	if s := r.x().resourceVersion; s != "" {
		return s
	}
	if r.rv == 0 {
		return ""
	}
	return strconv.FormatUint(r.rv, 10)
}

func (r *record) setHash(h string) {
	if h == "" {
		return
	}
	if len(h) == 2*len(r.hash) && isLowerHex(h) {
		_, _ = hex.Decode(r.hash[:], []byte(h))
		r.hasHash = true
		return
	}
	r.ensureExt().hash = h
}

func (r *record) hashText() string {
	if r.hasHash {
		return hex.EncodeToString(r.hash[:])
	}
	return r.x().hash
}

func (r *record) status() any { return r.x().status }

func (r *record) deletion() *metav1.Time { return r.x().deletion }

// parseUUID reads s, a UUID in its canonical form (lower-case hex, dashes
// after the 8th, 12th, 16th and 20th digits: what the API server makes),
// into u; false for anything else.
func parseUUID(s string, u *[16]byte) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	hexText := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if !isLowerHex(hexText) {
		return false
	}
	_, err := hex.Decode(u[:], []byte(hexText))
	return err == nil
}

func formatUUID(u *[16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func isLowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// shape is the metadata that the objects of one workspace have in common,
// kept once (see Interner.shapeOf).
type shape struct {
	labels     labelList
	owners     []metav1.OwnerReference
	managers   []metav1.ManagedFieldsEntry
	finalizers []string
}

// labelList is a set of labels as its keys and values in turn, sorted by
// key: two labels take 64 bytes so, where a map of them takes some 300.
// It is a labels.Labels, for selectors.
type labelList []string

func newLabelList(m map[string]string, str func(string) string) labelList {
	keys := slices.Sorted(maps.Keys(m))
	l := make(labelList, 0, 2*len(keys))
	for _, k := range keys {
		l = append(l, str(k), str(m[k]))
	}
	return l
}

// Lookup is the value of label key, and whether there is one.
func (l labelList) Lookup(key string) (string, bool) {
	for i := 0; i+1 < len(l); i += 2 {
		if l[i] == key {
			return l[i+1], true
		}
	}
	return "", false
}

// Get is the value of label key, "" when there is none.
func (l labelList) Get(key string) string {
	v, _ := l.Lookup(key)
	return v
}

// Has says whether there is a label key.
func (l labelList) Has(key string) bool {
	_, ok := l.Lookup(key)
	return ok
}

// toMap is a map of the labels, the caller's (nil for none).
func (l labelList) toMap() map[string]string {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		m[l[i]] = l[i+1]
	}
	return m
}

// GetObjectMeta lets client-go key records (meta.Accessor), as the
// reflector does in the store it fills from a streamed list: a transient
// ObjectMeta with their identity.
func (r *record) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: r.name, Namespace: r.namespace, UID: r.uidText(), ResourceVersion: r.resourceVersion()}
}

// labels are the record's labels.
func (r *record) labels() labelList {
	if r.shape == nil {
		return nil
	}
	return r.shape.labels
}

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
	r := &record{}
	r.setUID(o.GetUID())
	r.setResourceVersion(o.GetResourceVersion())
	_, isNamespace := obj.(*corev1.Namespace)
	ns := o.GetNamespace()
	// The names of namespaced objects repeat in every namespace, and a
	// Namespace's name is its objects' namespace; the names of other
	// cluster-scoped objects are their own and would only fill the table.
	r.name, r.namespace = c.in.names(o.GetName(), ns, ns != "" || isNamespace)
	if ns != "" && o.GetLabels()[tenancyv1.LabelWorkspace] != ns {
		return r, nil
	}
	r.setHash(o.GetAnnotations()[c.hashAnnotation])
	if t := o.GetDeletionTimestamp(); t != nil {
		r.ensureExt().deletion = t
	}
	mfs := o.GetManagedFields()
	for i := range mfs {
		mfs[i] = metav1.ManagedFieldsEntry{Manager: mfs[i].Manager, Operation: mfs[i].Operation, Subresource: mfs[i].Subresource}
	}
	r.shape = c.in.shapeOf(o)
	switch t := obj.(type) {
	case *corev1.Namespace:
		if t.Status.Phase == corev1.NamespaceActive && len(t.Status.Conditions) == 0 && r.ext == nil {
			r.ext = activeNamespace
		} else {
			r.ensureExt().status = t.Status.DeepCopy()
		}
	case *corev1.ResourceQuota:
		if st := c.in.quotaStatus(&t.Status); st != nil {
			r.ensureExt().status = st
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
		Name: r.name, Namespace: r.namespace, UID: r.uidText(), ResourceVersion: r.resourceVersion(),
		DeletionTimestamp: r.deletion(),
	}
	if h := r.hashText(); h != "" {
		m.Annotations = map[string]string{c.hashAnnotation: h}
	}
	if s := r.shape; s != nil {
		m.Labels, m.OwnerReferences, m.ManagedFields, m.Finalizers = s.labels.toMap(), s.owners, s.managers, s.finalizers
	}
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if dst, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			m.DeepCopyInto(dst)
		}
	}
	switch t := obj.(type) {
	case *corev1.Namespace:
		if st, ok := r.status().(*corev1.NamespaceStatus); ok {
			st.DeepCopyInto(&t.Status)
		}
	case *corev1.ResourceQuota:
		if st, ok := r.status().(*corev1.ResourceQuotaStatus); ok {
			st.DeepCopyInto(&t.Status)
		}
	}
}
