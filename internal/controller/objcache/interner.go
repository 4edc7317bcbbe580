package objcache

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

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

// Interner keeps one copy of equal values. Informers decode in parallel,
// so it is locked.
type Interner struct {
	mu       sync.Mutex
	strs     map[string]string
	shapes   map[string]*shape
	quotas   map[string]corev1.ResourceList
	statuses map[string]*corev1.ResourceQuotaStatus
}

// NewInterner returns an empty Interner.
func NewInterner() *Interner {
	return &Interner{
		strs:     map[string]string{},
		shapes:   map[string]*shape{},
		quotas:   map[string]corev1.ResourceList{},
		statuses: map[string]*corev1.ResourceQuotaStatus{},
	}
}

// shared returns the copy of v kept under key, keeping v when there is
// none.
func shared[V any](table map[string]V, key string, v V) V {
	if got, ok := table[key]; ok {
		return got
	}
	if len(table) >= internLimit {
		clear(table)
	}
	table[key] = v
	return v
}

// str is the kept copy of s.
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
// finalizers, which the objects of one workspace share.
func (in *Interner) shapeOf(m metav1.Object) *shape {
	s := &shape{labels: m.GetLabels(), owners: m.GetOwnerReferences(), managers: m.GetManagedFields(), finalizers: m.GetFinalizers()}
	if len(s.labels) == 0 && len(s.owners) == 0 && len(s.managers) == 0 && len(s.finalizers) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(mapKey(s.labels))
	b.WriteByte(1)
	b.WriteString(refsKey(s.owners))
	b.WriteByte(1)
	b.WriteString(fieldsKey(s.managers))
	b.WriteByte(1)
	b.WriteString(strings.Join(s.finalizers, "\x00"))
	in.mu.Lock()
	defer in.mu.Unlock()
	return shared(in.shapes, b.String(), s)
}

// quotaStatus returns the kept copy of a ResourceQuota's status: most are
// the same limits with nothing used yet, or the class's.
func (in *Interner) quotaStatus(st *corev1.ResourceQuotaStatus) *corev1.ResourceQuotaStatus {
	if len(st.Hard) == 0 && len(st.Used) == 0 {
		return nil
	}
	key := listKey(st.Hard) + "\x01" + listKey(st.Used)
	in.mu.Lock()
	defer in.mu.Unlock()
	return shared(in.statuses, key, &corev1.ResourceQuotaStatus{Hard: st.Hard, Used: st.Used})
}

// Workspace makes what Workspaces share point to kept copies: the quota
// (most are the class's), the mirrored quota status, and the conditions'
// words, which are the same for every workspace in the same state.
func (in *Interner) Workspace(ws *tenancyv1.Workspace) {
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
	ws.Status.Namespace = in.str(ws.Status.Namespace)
	ws.Status.Class = in.str(ws.Status.Class)
}

// resources makes a ResourceList point to the kept copy of an equal one.
func (in *Interner) resources(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return l
	}
	key := listKey(l)
	in.mu.Lock()
	defer in.mu.Unlock()
	return shared(in.quotas, key, l)
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
