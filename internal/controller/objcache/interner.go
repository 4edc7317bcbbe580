package objcache

import (
	"hash/maphash"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Most of what the metadata of the objects the controller makes costs is
// the same from one object to the next: the labels (managed-by and the
// workspace), the owner reference (the Workspace), the managers, the
// namespace and, in every namespace, the same object names; a
// ResourceQuota's hard limits are the class's, and so are most Workspaces'
// quotas. Decoded from the API server each is a fresh copy: a map alone
// costs some 300 bytes. The interner keeps one copy of each such value, and
// the cache's records (and the Workspaces the manager's cache holds) point
// to it.
//
// Sharing is safe because what the caches hold is never written: records
// are copied out deeply (see materialize), controller-runtime's cache hands
// out deep copies, and the event handlers only read.

// internLimit bounds each table of the interner: when one is full it is
// emptied and starts over. Objects keep the copies they point to, so
// emptying loses only sharing for what is decoded next, never correctness;
// a table of deleted workspaces' values does not grow without end. 1<<17
// entries hold well over 10,000 workspaces' values.
const internLimit = 1 << 17

// Interner keeps one copy of equal values. Caches decode in parallel, so
// it is locked.
//
// The tables of maps and lists are keyed by a 64-bit hash of the value's
// canonical text, not by the text: the text names the workspace (in a
// label, an owner reference) and would cost as much as the value kept. A
// hit is compared with the value before it is shared; a collision (two
// values, one hash) only goes unshared.
type Interner struct {
	mu         sync.Mutex
	seed       maphash.Seed
	strs       map[string]string
	labels     map[uint64]labelList
	maps       map[uint64]map[string]string
	owners     map[uint64][]metav1.OwnerReference
	managers   map[uint64][]metav1.ManagedFieldsEntry
	finalizers map[uint64][]string
	shapes     map[shapeKey]*shape
	quotas     map[uint64]corev1.ResourceList
	statuses   map[uint64]*corev1.ResourceQuotaStatus
	conditions map[uint64][]metav1.Condition
}

// shapeKey is a shape's identity once its parts are interned: the kept
// copies it points to.
type shapeKey struct{ labels, owners, managers, finalizers unsafe.Pointer }

// NewInterner returns an empty Interner.
func NewInterner() *Interner {
	return &Interner{
		seed:       maphash.MakeSeed(),
		strs:       map[string]string{},
		labels:     map[uint64]labelList{},
		maps:       map[uint64]map[string]string{},
		owners:     map[uint64][]metav1.OwnerReference{},
		managers:   map[uint64][]metav1.ManagedFieldsEntry{},
		finalizers: map[uint64][]string{},
		shapes:     map[shapeKey]*shape{},
		quotas:     map[uint64]corev1.ResourceList{},
		statuses:   map[uint64]*corev1.ResourceQuotaStatus{},
		conditions: map[uint64][]metav1.Condition{},
	}
}

// shared returns the copy of v kept under key, keeping v when there is
// none.
func shared[K comparable, V any](table map[K]V, key K, v V) V {
	if got, ok := table[key]; ok {
		return got
	}
	if len(table) >= internLimit {
		clear(table)
	}
	table[key] = v
	return v
}

// sharedByHash returns the copy of v kept under the hash of its canonical
// text (key), when that copy has the same text; else v, kept if the slot
// is free.
func sharedByHash[V any](in *Interner, table map[uint64]V, v V, key func(V) string) V {
	text := key(v)
	h := maphash.String(in.seed, text)
	if got, ok := table[h]; ok {
		if key(got) == text {
			return got
		}
		return v
	}
	return shared(table, h, v)
}

// str is the kept copy of s; the Interner is locked.
func (in *Interner) str(s string) string {
	if s == "" {
		return ""
	}
	return shared(in.strs, s, s)
}

// names returns the kept copies of an object's namespace and, when
// sharedName says others share it, of its name.
func (in *Interner) names(name, namespace string, sharedName bool) (string, string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if sharedName {
		name = in.str(name)
	}
	return name, in.str(namespace)
}

// shapeOf returns the kept shape of m: its labels, owner references,
// managers (as the transform left them, without field sets) and
// finalizers, each kept once; the objects of one workspace share them.
func (in *Interner) shapeOf(m metav1.Object) *shape {
	l, o, mf, f := m.GetLabels(), m.GetOwnerReferences(), m.GetManagedFields(), m.GetFinalizers()
	if len(l) == 0 && len(o) == 0 && len(mf) == 0 && len(f) == 0 {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	s := &shape{}
	if len(l) > 0 {
		s.labels = sharedByHash(in, in.labels, newLabelList(l, in.str), labelsKey)
	}
	if len(o) > 0 {
		s.owners = sharedByHash(in, in.owners, o, refsKey)
	}
	if len(mf) > 0 {
		s.managers = sharedByHash(in, in.managers, mf, fieldsKey)
	}
	if len(f) > 0 {
		s.finalizers = sharedByHash(in, in.finalizers, f, finalizersKey)
	}
	key := shapeKey{unsafe.Pointer(unsafe.SliceData(s.labels)), unsafe.Pointer(unsafe.SliceData(s.owners)),
		unsafe.Pointer(unsafe.SliceData(s.managers)), unsafe.Pointer(unsafe.SliceData(s.finalizers))}
	return shared(in.shapes, key, s)
}

// quotaStatus returns the kept copy of a ResourceQuota's status: most are
// the same limits with nothing used yet, or the class's.
func (in *Interner) quotaStatus(st *corev1.ResourceQuotaStatus) *corev1.ResourceQuotaStatus {
	if len(st.Hard) == 0 && len(st.Used) == 0 {
		return nil
	}
	v := &corev1.ResourceQuotaStatus{Hard: st.Hard, Used: st.Used}
	in.mu.Lock()
	defer in.mu.Unlock()
	return sharedByHash(in, in.statuses, v, quotaKey)
}

func quotaKey(st *corev1.ResourceQuotaStatus) string {
	return listKey(st.Hard) + "\x01" + listKey(st.Used)
}

// Workspace makes what Workspaces share point to kept copies: their labels,
// annotations (who created them) and finalizers, the quota (most are the
// class's), the mirrored quota status, the conditions' words, which are
// the same for every workspace in the same state, and the conditions
// themselves.
func (in *Interner) Workspace(ws *tenancyv1.Workspace) {
	in.metadata(ws)
	if q := ws.Spec.ResourceQuota; q != nil {
		q.Hard = in.resources(q.Hard)
	}
	if q := ws.Status.Quota; q != nil {
		q.Hard = in.resources(q.Hard)
		q.Used = in.resources(q.Used)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := range ws.Status.Conditions {
		c := &ws.Status.Conditions[i]
		c.Type, c.Reason, c.Message = in.str(c.Type), in.str(c.Reason), in.str(c.Message)
		c.Status = metav1.ConditionStatus(in.str(string(c.Status)))
	}
	if c := ws.Status.Conditions; len(c) > 0 {
		// Workspaces reconciled in the same second have the very same
		// conditions, times included: the list (a dozen conditions, over
		// a kilobyte) is kept once. The decoder grows it by doubling; a
		// list kept for itself is trimmed.
		if cap(c) > len(c) {
			c = slices.Clone(c)
		}
		ws.Status.Conditions = sharedByHash(in, in.conditions, c, conditionsKey)
	}
	ws.Status.Namespace = in.str(ws.Status.Namespace)
	ws.Status.Class = in.str(ws.Status.Class)
}

func conditionsKey(cs []metav1.Condition) string {
	var b strings.Builder
	for _, c := range cs {
		for _, s := range []string{c.Type, string(c.Status), strconv.FormatInt(c.ObservedGeneration, 10),
			strconv.FormatInt(c.LastTransitionTime.UnixNano(), 10), c.Reason, c.Message} {
			b.WriteString(s)
			b.WriteByte(0)
		}
	}
	return b.String()
}

// metadata makes an object's labels, annotations and finalizers point to
// kept copies of equal ones.
func (in *Interner) metadata(o metav1.Object) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if l := o.GetLabels(); len(l) > 0 {
		o.SetLabels(sharedByHash(in, in.maps, l, mapKey))
	}
	if a := o.GetAnnotations(); len(a) > 0 {
		o.SetAnnotations(sharedByHash(in, in.maps, a, mapKey))
	}
	if f := o.GetFinalizers(); len(f) > 0 {
		o.SetFinalizers(sharedByHash(in, in.finalizers, f, finalizersKey))
	}
}

// resources makes a ResourceList point to the kept copy of an equal one.
func (in *Interner) resources(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return l
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return sharedByHash(in, in.quotas, l, listKey)
}

func listKey(l corev1.ResourceList) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		q := l[k]
		b.WriteString(string(k))
		b.WriteByte('=')
		b.WriteString(q.String())
		b.WriteByte(0)
	}
	return b.String()
}

func mapKey(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	return b.String()
}

func finalizersKey(f []string) string { return strings.Join(f, "\x00") }

func labelsKey(l labelList) string { return strings.Join(l, "\x00") }

func refsKey(refs []metav1.OwnerReference) string {
	var b strings.Builder
	for _, r := range refs {
		for _, s := range []string{r.APIVersion, r.Kind, r.Name, string(r.UID),
			boolKey(r.Controller), boolKey(r.BlockOwnerDeletion)} {
			b.WriteString(s)
			b.WriteByte(0)
		}
	}
	return b.String()
}

// fieldsKey is the identity of managed fields as the cache keeps them:
// without field sets or times (see transform).
func fieldsKey(mfs []metav1.ManagedFieldsEntry) string {
	var b strings.Builder
	for _, mf := range mfs {
		for _, s := range []string{mf.Manager, string(mf.Operation), mf.APIVersion, mf.Subresource} {
			b.WriteString(s)
			b.WriteByte(0)
		}
	}
	return b.String()
}

func boolKey(p *bool) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatBool(*p)
}
