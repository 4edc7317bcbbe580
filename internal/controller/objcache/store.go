package objcache

import (
	"fmt"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// store holds one kind's records; a client-go Reflector keeps it in step
// with the API server, and it tells its handlers of every change as it
// makes it.
//
// It is the informer's store and indexer made compact: client-go's keep
// every object under a key string of its own, and each index value as a
// set (a map) of such keys, some 300 bytes per object and per workspace
// and kind. Here the records are grouped by namespace, one map slot per
// namespace and a few bytes per record: the objects Tenancy makes in a
// workspace's namespace are labelled with that workspace, so the group
// is also the workspace index. Only cluster-scoped records, all in the
// group of no namespace, are indexed by workspace besides.
type store struct {
	transform func(any) (any, error)

	mu       sync.RWMutex
	byNS     map[string]bucket
	byWS     map[string][]*record // cluster-scoped records, by workspace
	handlers []handler
	synced   bool
}

// bucket is the records of one namespace: a list while it is short, a map
// by name once it grows past bucketList (as the group of cluster-scoped
// records does, or a namespace somebody fills with objects).
type bucket struct {
	list   []*record
	byName map[string]*record
}

const bucketList = 16

func (b *bucket) get(name string) *record {
	if b.byName != nil {
		return b.byName[name]
	}
	for _, r := range b.list {
		if r.name == name {
			return r
		}
	}
	return nil
}

// put adds r, or replaces the record of its name.
func (b *bucket) put(r *record) {
	if b.byName != nil {
		b.byName[r.name] = r
		return
	}
	for i, x := range b.list {
		if x.name == r.name {
			b.list[i] = r
			return
		}
	}
	if len(b.list) < bucketList {
		b.list = append(b.list, r)
		return
	}
	b.byName = make(map[string]*record, 2*bucketList)
	for _, x := range b.list {
		b.byName[x.name] = x
	}
	b.byName[r.name] = r
	b.list = nil
}

func (b *bucket) remove(name string) {
	if b.byName != nil {
		delete(b.byName, name)
		return
	}
	for i, x := range b.list {
		if x.name == name {
			last := len(b.list) - 1
			b.list[i], b.list[last] = b.list[last], nil
			b.list = b.list[:last]
			return
		}
	}
}

func (b *bucket) len() int { return len(b.list) + len(b.byName) }

func (b *bucket) all(yield func(*record) bool) {
	for _, r := range b.list {
		if !yield(r) {
			return
		}
	}
	for _, r := range b.byName {
		if !yield(r) {
			return
		}
	}
}

type objKey struct{ namespace, name string }

// handler is told of the records added (old nil), changed, and deleted
// (obj nil). It is called with the store locked: it must not block, nor
// read the store.
type handler func(old, obj *record)

func newStore(transform func(any) (any, error)) *store {
	return &store{transform: transform, byNS: map[string]bucket{}, byWS: map[string][]*record{}}
}

func keyOf(r *record) objKey { return objKey{namespace: r.namespace, name: r.name} }

// workspaceOf is the workspace r is indexed under ("" for none): its
// workspace label, when Tenancy's labels are there.
func workspaceOf(r *record) string {
	l := r.labels()
	if l.Get(tenancyv1.LabelManagedBy) != tenancyv1.ManagedByValue {
		return ""
	}
	return l.Get(tenancyv1.LabelWorkspace)
}

// recordOf turns what the reflector hands over (a decoded object, or a
// record its own store made with Transformer) into a record.
func (s *store) recordOf(obj any) (*record, error) {
	if r, ok := obj.(*record); ok {
		return r, nil
	}
	out, err := s.transform(obj)
	if err != nil {
		return nil, err
	}
	r, ok := out.(*record)
	if !ok {
		return nil, fmt.Errorf("objcache: %T is not an object", obj)
	}
	return r, nil
}

// at is the record at k; the store is locked.
func (s *store) at(k objKey) *record {
	b, ok := s.byNS[k.namespace]
	if !ok {
		return nil
	}
	return b.get(k.name)
}

// put adds or replaces r; the store is locked.
func (s *store) put(r *record) {
	b := s.byNS[r.namespace]
	old := b.get(r.name)
	if old != nil && old.namespace == "" {
		s.unindex(old)
	}
	b.put(r)
	s.byNS[r.namespace] = b
	if ws := workspaceOf(r); ws != "" && r.namespace == "" {
		s.byWS[ws] = append(s.byWS[ws], r)
	}
	for _, h := range s.handlers {
		h(old, r)
	}
}

// remove deletes the record at k; the store is locked.
func (s *store) remove(k objKey) {
	b, ok := s.byNS[k.namespace]
	if !ok {
		return
	}
	old := b.get(k.name)
	if old == nil {
		return
	}
	if old.namespace == "" {
		s.unindex(old)
	}
	b.remove(k.name)
	if b.len() == 0 {
		delete(s.byNS, k.namespace)
	} else {
		s.byNS[k.namespace] = b
	}
	for _, h := range s.handlers {
		h(old, nil)
	}
}

// unindex takes a cluster-scoped record out of the workspace index.
func (s *store) unindex(r *record) {
	ws := workspaceOf(r)
	if ws == "" {
		return
	}
	list := slices.DeleteFunc(s.byWS[ws], func(x *record) bool { return x == r })
	if len(list) == 0 {
		delete(s.byWS, ws)
		return
	}
	s.byWS[ws] = slices.Clip(list)
}

// all yields every record; the store is locked.
func (s *store) all(yield func(*record) bool) {
	for _, b := range s.byNS {
		for r := range b.all {
			if !yield(r) {
				return
			}
		}
	}
}

// Add, Update, Delete, Replace and Resync make the store a
// toolscache.ReflectorStore.

func (s *store) Add(obj any) error {
	r, err := s.recordOf(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(r)
	return nil
}

func (s *store) Update(obj any) error { return s.Add(obj) }

func (s *store) Delete(obj any) error {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	var k objKey
	if r, ok := obj.(*record); ok {
		k = keyOf(r)
	} else {
		m, err := meta.Accessor(obj)
		if err != nil {
			return err
		}
		k = objKey{namespace: m.GetNamespace(), name: m.GetName()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(k)
	return nil
}

// Replace makes the store hold list, telling the handlers of what went
// and what changed; the store is synced from then on.
func (s *store) Replace(list []any, _ string) error {
	fresh := make([]*record, 0, len(list))
	for _, obj := range list {
		r, err := s.recordOf(obj)
		if err != nil {
			return err
		}
		fresh = append(fresh, r)
	}
	keep := make(map[objKey]struct{}, len(fresh))
	for _, r := range fresh {
		keep[keyOf(r)] = struct{}{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []objKey
	for r := range s.all {
		if _, ok := keep[keyOf(r)]; !ok {
			gone = append(gone, keyOf(r))
		}
	}
	for _, k := range gone {
		s.remove(k)
	}
	for _, r := range fresh {
		s.put(r)
	}
	s.synced = true
	return nil
}

func (s *store) Resync() error { return nil }

// Transformer has the reflector's own stores (of a streamed initial list)
// hold records too.
func (s *store) Transformer() toolscache.TransformFunc { return s.transform }

// hasSynced says whether the store has been filled once.
func (s *store) hasSynced() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.synced
}

// get is the record at k.
func (s *store) get(k objKey) (*record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.at(k)
	return r, r != nil
}

// list is the records of workspace ws, or all when ws is "": of a
// namespaced kind those in the namespace ws labelled with it (no other
// namespace holds any, see toRecord), of a cluster-scoped kind those the
// index holds.
func (s *store) list(ws string) []*record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*record
	if ws == "" {
		for r := range s.all {
			out = append(out, r)
		}
		return out
	}
	if b, ok := s.byNS[ws]; ok {
		for r := range b.all {
			if workspaceOf(r) == ws {
				out = append(out, r)
			}
		}
	}
	return append(out, s.byWS[ws]...)
}

// addHandler tells h of every record held, as added, and of every change
// from then on.
func (s *store) addHandler(h handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.all {
		h(nil, r)
	}
	s.handlers = append(s.handlers, h)
}
