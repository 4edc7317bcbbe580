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
// and kind. Here an object is one map slot keyed by its (interned)
// namespace and name, and the workspace index one slice of records per
// workspace.
type store struct {
	transform func(any) (any, error)

	mu       sync.RWMutex
	items    map[objKey]*record
	byWS     map[string][]*record
	handlers []handler
	synced   bool
}

type objKey struct{ namespace, name string }

// handler is told of the records added (old nil), changed, and deleted
// (obj nil). It is called with the store locked: it must not block, nor
// read the store.
type handler func(old, obj *record)

func newStore(transform func(any) (any, error)) *store {
	return &store{transform: transform, items: map[objKey]*record{}, byWS: map[string][]*record{}}
}

func keyOf(r *record) objKey { return objKey{namespace: r.namespace, name: r.name} }

// workspaceOf is the workspace r is indexed under ("" for none): its
// workspace label, when Tenancy's labels are there.
func workspaceOf(r *record) string {
	l := r.labels()
	if l[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue {
		return ""
	}
	return l[tenancyv1.LabelWorkspace]
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

// put adds or replaces r; the store is locked.
func (s *store) put(r *record) {
	k := keyOf(r)
	old := s.items[k]
	if old != nil {
		s.unindex(old)
	}
	s.items[k] = r
	if ws := workspaceOf(r); ws != "" {
		s.byWS[ws] = append(s.byWS[ws], r)
	}
	for _, h := range s.handlers {
		h(old, r)
	}
}

// remove deletes the record at k; the store is locked.
func (s *store) remove(k objKey) {
	old, ok := s.items[k]
	if !ok {
		return
	}
	s.unindex(old)
	delete(s.items, k)
	for _, h := range s.handlers {
		h(old, nil)
	}
}

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
	for k := range s.items {
		if _, ok := keep[k]; !ok {
			s.remove(k)
		}
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
	r, ok := s.items[k]
	return r, ok
}

// list is the records of workspace ws, or all when ws is "".
func (s *store) list(ws string) []*record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ws != "" {
		return slices.Clone(s.byWS[ws])
	}
	out := make([]*record, 0, len(s.items))
	for _, r := range s.items {
		out = append(out, r)
	}
	return out
}

// addHandler tells h of every record held, as added, and of every change
// from then on.
func (s *store) addHandler(h handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.items {
		h(nil, r)
	}
	s.handlers = append(s.handlers, h)
}
