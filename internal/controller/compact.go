package controller

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

// The cache of the kinds the controller makes holds some thirteen objects
// per workspace, and most of what each object's metadata costs is the same
// from one object to the next: the labels (managed-by and the workspace),
// the owner reference (the Workspace), the managers, the namespace and, in
// every namespace, the same object names; a ResourceQuota's hard limits are
// the class's. Decoded from the API server each is a fresh copy: a map
// alone costs some 300 bytes. The cache transform therefore keeps one copy
// of each such value and points every object that has it to that copy.
//
// Sharing is safe because the objects in the cache are never written: the
// cache hands out deep copies, and the event handlers only read.

// internLimit bounds each table of the interner: when one is full it is
// emptied and starts over. Objects keep the copies they point to, so
// emptying loses only sharing for what is decoded next, never correctness;
// a table of deleted workspaces' values does not grow without end. 1<<17
// entries hold well over 10,000 workspaces' values.
const internLimit = 1 << 17

// interner keeps one copy of equal values. Informers decode in parallel,
// so it is locked.
type interner struct {
	mu      sync.Mutex
	strs    map[string]string
	labels  map[string]map[string]string
	refs    map[string][]metav1.OwnerReference
	fields  map[string][]metav1.ManagedFieldsEntry
	strList map[string][]string
	quotas  map[string]corev1.ResourceList
}

func newInterner() *interner {
	return &interner{
		strs:    map[string]string{},
		labels:  map[string]map[string]string{},
		refs:    map[string][]metav1.OwnerReference{},
		fields:  map[string][]metav1.ManagedFieldsEntry{},
		strList: map[string][]string{},
		quotas:  map[string]corev1.ResourceList{},
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
func (in *interner) str(s string) string {
	if s == "" {
		return ""
	}
	return shared(in.strs, s, s)
}

// meta makes the metadata of a cached object point to kept copies. Of its
// annotations only those named in keep stay (all when keep is nil). Its
// name is kept only when sharedName says others share it (the same names
// in every namespace, a Namespace's name in its objects): the names of
// cluster-scoped objects are their own and would only fill the table.
func (in *interner) meta(m *metav1.ObjectMeta, keep []string, sharedName bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if sharedName {
		m.Name = in.str(m.Name)
	}
	m.Namespace = in.str(m.Namespace)
	m.GenerateName = in.str(m.GenerateName)
	if keep != nil {
		var kept map[string]string
		for _, k := range keep {
			if v, ok := m.Annotations[k]; ok {
				if kept == nil {
					kept = make(map[string]string, 1)
				}
				kept[k] = v // k is the caller's constant
			}
		}
		m.Annotations = kept
	}
	if len(m.Labels) > 0 {
		m.Labels = shared(in.labels, mapKey(m.Labels), m.Labels)
	}
	if len(m.OwnerReferences) > 0 {
		m.OwnerReferences = shared(in.refs, refsKey(m.OwnerReferences), m.OwnerReferences)
	}
	if len(m.ManagedFields) > 0 {
		m.ManagedFields = shared(in.fields, fieldsKey(m.ManagedFields), m.ManagedFields)
	}
	if len(m.Finalizers) > 0 {
		m.Finalizers = shared(in.strList, strings.Join(m.Finalizers, "\x00"), m.Finalizers)
	}
}

// workspace makes what Workspaces share point to kept copies: the quota
// (most are the class's), the mirrored quota status, and the conditions'
// words, which are the same for every workspace in the same state.
func (in *interner) workspace(ws *tenancyv1.Workspace) {
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
func (in *interner) resources(l corev1.ResourceList) corev1.ResourceList {
	if len(l) == 0 {
		return l
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		q := l[k]
		b.WriteString(string(k))
		b.WriteByte('=')
		b.WriteString(q.String())
		b.WriteByte(0)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return shared(in.quotas, b.String(), l)
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
