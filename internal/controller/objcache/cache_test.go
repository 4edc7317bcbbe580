package objcache

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/scheme"
)

const hashKey = "tenancy.dev/applied-hash"

// newTestCache is a Cache of RoleBindings, ClusterRoles, Namespaces and
// ResourceQuotas, no reflectors: its stores are filled with objs as a
// reflector's list would fill them.
func newTestCache(t *testing.T, objs ...client.Object) *Cache {
	t.Helper()
	c := &Cache{scheme: scheme.New(), in: NewInterner(), hashAnnotation: hashKey, kinds: map[schema.GroupVersionKind]*kind{}}
	for _, ex := range []client.Object{&rbacv1.RoleBinding{}, &rbacv1.ClusterRole{}, &corev1.Namespace{}, &corev1.ResourceQuota{}} {
		gvk, err := c.gvkOf(ex)
		if err != nil {
			t.Fatal(err)
		}
		c.kinds[gvk] = &kind{gvk: gvk, example: ex, store: newStore(c.toRecord)}
	}
	byKind := map[*kind][]any{}
	for _, o := range objs {
		k := c.kindOf(o)
		if k == nil {
			t.Fatalf("no kind for %T", o)
		}
		byKind[k] = append(byKind[k], o)
	}
	for _, k := range c.kinds {
		if err := k.store.Replace(byKind[k], "1"); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func managed(ws string) map[string]string {
	return map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: ws}
}

func ownedBy(ws string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "tenancy.dev/v1alpha1", Kind: "Workspace", Name: ws, UID: types.UID("uid-" + ws), Controller: ptr.To(true)}}
}

// TestRecordRoundTrip: what an object becomes once cached and read back.
func TestRecordRoundTrip(t *testing.T) {
	fields := metav1.NewFieldsV1(`{"f:metadata":{}}`)
	meta := func(ns, workspaceLabel string) metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: "tenancy:owner", Namespace: ns, UID: "u1", ResourceVersion: "7",
			Labels:          managed(workspaceLabel),
			OwnerReferences: ownedBy(workspaceLabel),
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "tenancy-controller", Operation: "Apply", APIVersion: "v1", FieldsV1: fields}},
		}
	}
	cached := func(m metav1.ObjectMeta) metav1.ObjectMeta {
		m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "tenancy-controller", Operation: "Apply"}}
		return m
	}
	now := metav1.Now()
	tests := map[string]struct {
		in   client.Object
		want client.Object
	}{
		"own namespace: metadata kept, field sets and the rest dropped": {
			in: &rbacv1.RoleBinding{ObjectMeta: meta("ml", "ml"), RoleRef: rbacv1.RoleRef{Name: "admin"},
				Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}},
			want: &rbacv1.RoleBinding{ObjectMeta: cached(meta("ml", "ml"))},
		},
		"annotations: only the applied hash kept": {
			in: func() client.Object {
				m := meta("ml", "ml")
				m.Annotations = map[string]string{hashKey: "abc", corev1.LastAppliedConfigAnnotation: "{…}"}
				return &rbacv1.RoleBinding{ObjectMeta: m}
			}(),
			want: func() client.Object {
				m := cached(meta("ml", "ml"))
				m.Annotations = map[string]string{hashKey: "abc"}
				return &rbacv1.RoleBinding{ObjectMeta: m}
			}(),
		},
		"deleting, with finalizers": {
			in: func() client.Object {
				m := meta("ml", "ml")
				m.DeletionTimestamp, m.Finalizers = &now, []string{"x"}
				return &rbacv1.RoleBinding{ObjectMeta: m}
			}(),
			want: func() client.Object {
				m := cached(meta("ml", "ml"))
				m.DeletionTimestamp, m.Finalizers = &now, []string{"x"}
				return &rbacv1.RoleBinding{ObjectMeta: m}
			}(),
		},
		"quota: metadata and status kept": {
			in: &corev1.ResourceQuota{ObjectMeta: meta("ml", "ml"),
				Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("5")}},
				Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse("5")}}},
			want: &corev1.ResourceQuota{ObjectMeta: cached(meta("ml", "ml")),
				Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse("5")}}},
		},
		"namespace: status kept": {
			in: &corev1.Namespace{ObjectMeta: meta("", "ml"), Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
				Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			want: &corev1.Namespace{ObjectMeta: cached(meta("", "ml")), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		},
		"namespace terminating: its conditions kept": {
			in: &corev1.Namespace{ObjectMeta: meta("", "ml"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating,
				Conditions: []corev1.NamespaceCondition{{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Message: "pods"}}}},
			want: &corev1.Namespace{ObjectMeta: cached(meta("", "ml")), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating,
				Conditions: []corev1.NamespaceCondition{{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Message: "pods"}}}},
		},
		"labelled for another workspace: a bare stub": {
			in:   &rbacv1.RoleBinding{ObjectMeta: meta("ml", "victim"), RoleRef: rbacv1.RoleRef{Name: "admin"}},
			want: &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenancy:owner", Namespace: "ml", UID: "u1", ResourceVersion: "7"}},
		},
		"no workspace label in a namespace: a bare stub": {
			in:   &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ml", Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}}},
			want: &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ml"}},
		},
		"cluster-scoped: kept": {
			in:   &rbacv1.ClusterRole{ObjectMeta: meta("", "ml"), Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}}}},
			want: &rbacv1.ClusterRole{ObjectMeta: cached(meta("", "ml"))},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newTestCache(t, tc.in.DeepCopyObject().(client.Object))
			got := reflect.New(reflect.TypeOf(tc.want).Elem()).Interface().(client.Object)
			if err := c.Reader(nil).Get(context.Background(), client.ObjectKeyFromObject(tc.in), got); err != nil {
				t.Fatal(err)
			}
			gvk, _ := c.gvkOf(tc.want)
			tc.want.GetObjectKind().SetGroupVersionKind(gvk)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("read back mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecordCompactForms: a UID, resource version and hash in the forms
// the API server and the controller make them are kept as numbers, with
// nothing beside the record; any other text is kept as it is, and every
// one reads back exactly as it came.
func TestRecordCompactForms(t *testing.T) {
	c := newTestCache(t)
	for name, tc := range map[string]struct {
		uid         types.UID
		rv, hash    string
		wantCompact bool
	}{
		"canonical":        {uid: "0f6c4a3e-9b1d-4c2a-8e7f-1a2b3c4d5e6f", rv: "184467", hash: "00ff10aa20bb30cc40dd50ee", wantCompact: true},
		"empty":            {wantCompact: true},
		"upper-case UUID":  {uid: "0F6C4A3E-9B1D-4C2A-8E7F-1A2B3C4D5E6F", rv: "1", hash: "00ff10aa20bb30cc40dd50ee"},
		"not a UUID":       {uid: "u1", rv: "1"},
		"leading zero":     {uid: "0f6c4a3e-9b1d-4c2a-8e7f-1a2b3c4d5e6f", rv: "007"},
		"zero":             {rv: "0"},
		"not a number":     {rv: "v2"},
		"too big":          {rv: "18446744073709551616"},
		"short hash":       {hash: "abc"},
		"upper-case hash":  {hash: "00FF10AA20BB30CC40DD50EE"},
		"dashes misplaced": {uid: "0f6c4a3e9-b1d-4c2a-8e7f-1a2b3c4d5e6f"},
	} {
		t.Run(name, func(t *testing.T) {
			in := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ml", UID: tc.uid, ResourceVersion: tc.rv, Labels: managed("ml")}}
			if tc.hash != "" {
				in.Annotations = map[string]string{hashKey: tc.hash}
			}
			out, err := c.toRecord(in)
			if err != nil {
				t.Fatal(err)
			}
			r := out.(*record)
			if compact := r.ext == nil; compact != tc.wantCompact {
				t.Errorf("kept compact: %v, want %v (ext %+v)", compact, tc.wantCompact, r.ext)
			}
			if r.uidText() != tc.uid || r.resourceVersion() != tc.rv || r.hashText() != tc.hash {
				t.Errorf("read back uid %q, rv %q, hash %q; want %q, %q, %q", r.uidText(), r.resourceVersion(), r.hashText(), tc.uid, tc.rv, tc.hash)
			}
		})
	}
	if size := reflect.TypeFor[record]().Size(); size > 96 {
		t.Errorf("a record takes %d bytes, want at most 96", size)
	}
}

// TestRecordsShare: the objects of one workspace point to one copy of
// what they share, equal quota statuses to one copy, while each keeps its
// own hash; and what is read back is the caller's to change.
func TestRecordsShare(t *testing.T) {
	rb := func(name, hash string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ml", UID: types.UID(name), Labels: managed("ml"),
			Annotations:     map[string]string{hashKey: hash},
			OwnerReferences: ownedBy("ml"),
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "tenancy-controller", Operation: "Update", FieldsV1: metav1.NewFieldsV1(`{}`)}},
		}}
	}
	quota := func(name string) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ml", Labels: managed("ml")},
			Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse("50")}}}
	}
	c := newTestCache(t, rb("a", "1"), rb("b", "2"), quota("q1"), quota("q2"))
	rec := func(k client.Object, key string) *record {
		ns, name, _ := strings.Cut(key, "/")
		r, ok := c.kindOf(k).store.get(objKey{namespace: ns, name: name})
		if !ok {
			t.Fatalf("%s not cached", key)
		}
		return r
	}
	a, b := rec(&rbacv1.RoleBinding{}, "ml/a"), rec(&rbacv1.RoleBinding{}, "ml/b")
	if a.shape != b.shape {
		t.Error("two shapes for one workspace's objects, want one shared")
	}
	if a.hashText() != "1" || b.hashText() != "2" {
		t.Errorf("hashes = %q, %q; want each its own", a.hashText(), b.hashText())
	}
	if q1, q2 := rec(&corev1.ResourceQuota{}, "ml/q1"), rec(&corev1.ResourceQuota{}, "ml/q2"); q1.status() != q2.status() {
		t.Error("two copies of equal quota statuses, want one shared")
	}

	got := &rbacv1.RoleBinding{}
	if err := c.Reader(nil).Get(context.Background(), client.ObjectKey{Namespace: "ml", Name: "a"}, got); err != nil {
		t.Fatal(err)
	}
	got.Labels["x"] = "y"
	got.OwnerReferences[0].Name = "changed"
	if a.shape.labels.Has("x") || a.shape.owners[0].Name != "ml" {
		t.Error("changing what was read changed the cache")
	}
}

func TestList(t *testing.T) {
	c := newTestCache(t,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ml", Labels: managed("ml"), OwnerReferences: ownedBy("ml")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ml", Labels: managed("ml"), OwnerReferences: ownedBy("ml")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "cv", Labels: managed("cv")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "stub", Namespace: "ml", Labels: managed("cv")}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tenancy:workspace:ml:member", Labels: managed("ml")}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tenancy:workspace:cv:member", Labels: managed("cv")}},
	)
	names := func(list client.ObjectList, opts ...client.ListOption) []string {
		t.Helper()
		if err := c.Reader(nil).List(context.Background(), list, opts...); err != nil {
			t.Fatal(err)
		}
		var out []string
		switch l := list.(type) {
		case *rbacv1.RoleBindingList:
			for _, it := range l.Items {
				out = append(out, it.Namespace+"/"+it.Name)
			}
		case *rbacv1.ClusterRoleList:
			for _, it := range l.Items {
				out = append(out, it.Name)
			}
		}
		return out
	}
	tests := map[string]struct {
		list client.ObjectList
		opts []client.ListOption
		want []string
	}{
		"a workspace's objects in its namespace (prune)": {
			list: &rbacv1.RoleBindingList{},
			opts: []client.ListOption{client.InNamespace("ml"), client.MatchingLabels(managed("ml"))},
			want: []string{"ml/a", "ml/b"},
		},
		"a namespace, every object in it": {
			list: &rbacv1.RoleBindingList{}, opts: []client.ListOption{client.InNamespace("ml")},
			want: []string{"ml/a", "ml/b", "ml/stub"},
		},
		"cluster-scoped, by the workspace field (sweep)": {
			list: &rbacv1.ClusterRoleList{},
			opts: []client.ListOption{client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue},
				client.MatchingFields{"metadata.labels." + tenancyv1.LabelWorkspace: "cv"}},
			want: []string{"tenancy:workspace:cv:member"},
		},
		"everything": {
			list: &rbacv1.ClusterRoleList{},
			want: []string{"tenancy:workspace:cv:member", "tenancy:workspace:ml:member"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, slices.Sorted(slices.Values(names(tc.list, tc.opts...)))); diff != "" {
				t.Errorf("List mismatch (-want +got):\n%s", diff)
			}
		})
	}

	err := c.Reader(nil).List(context.Background(), &rbacv1.ClusterRoleList{}, client.MatchingFields{"spec.x": "y"})
	if err == nil || !strings.Contains(err.Error(), "field selectors on labels only") {
		t.Errorf("List with a field selector not on labels: %v, want a clear error", err)
	}
	err = c.Reader(nil).Get(context.Background(), client.ObjectKey{Namespace: "ml", Name: "nope"}, &rbacv1.RoleBinding{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Get of a missing object: %v, want NotFound", err)
	}
}

// TestReaderPassesOn: kinds the cache does not hold, and metadata-only
// reads, go to the next reader.
func TestReaderPassesOn(t *testing.T) {
	c := newTestCache(t)
	next := &countingReader{}
	r := c.Reader(next)
	_ = r.Get(context.Background(), client.ObjectKey{Name: "x"}, &corev1.Secret{})
	_ = r.Get(context.Background(), client.ObjectKey{Name: "x"}, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}})
	_ = r.List(context.Background(), &corev1.SecretList{})
	if next.n != 3 {
		t.Errorf("next reader asked %d times, want 3", next.n)
	}
}

type countingReader struct{ n int }

func (c *countingReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	c.n++
	return nil
}

func (c *countingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	c.n++
	return nil
}

func TestControllerOf(t *testing.T) {
	c := newTestCache(t)
	ws := schema.GroupKind{Group: tenancyv1.GroupVersion.Group, Kind: "Workspace"}
	rec := func(refs []metav1.OwnerReference) *record {
		r, _ := c.toRecord(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: managed("ml"), OwnerReferences: refs}})
		return r.(*record)
	}
	notController := ownedBy("ml")
	notController[0].Controller = nil
	otherGroup := ownedBy("ml")
	otherGroup[0].APIVersion = "example.com/v1"
	for name, tc := range map[string]struct {
		obj  *record
		want string
	}{
		"controlling Workspace":      {rec(ownedBy("ml")), "ml"},
		"owner but not controller":   {rec(notController), ""},
		"Workspace of another group": {rec(otherGroup), ""},
		"no owner":                   {rec(nil), ""},
	} {
		if got := controllerOf(tc.obj, ws); got != tc.want {
			t.Errorf("%s: controllerOf = %q, want %q", name, got, tc.want)
		}
	}
}

// TestInternerBounded: a full table starts over instead of growing.
func TestInternerBounded(t *testing.T) {
	table := map[string]string{}
	for i := range internLimit + 10 {
		s := strconv.Itoa(i)
		if got := shared(table, s, s); got != s {
			t.Fatalf("shared(%q) = %q", s, got)
		}
	}
	if len(table) > internLimit {
		t.Errorf("table holds %d entries, limit %d", len(table), internLimit)
	}
}

// TestStoreEvents: the handlers hear of every change the reflector makes,
// a relist included, and the workspace index follows.
func TestStoreEvents(t *testing.T) {
	c := newTestCache(t)
	s := newStore(c.toRecord)
	rb := func(name, ws, rv string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ws, ResourceVersion: rv, Labels: managed(ws)}}
	}
	if err := s.Replace([]any{rb("a", "ml", "1"), rb("b", "ml", "1")}, "1"); err != nil {
		t.Fatal(err)
	}
	var events []string
	s.addHandler(func(old, obj *record) {
		switch {
		case old == nil:
			events = append(events, "add "+obj.name)
		case obj == nil:
			events = append(events, "delete "+old.name)
		default:
			events = append(events, "update "+obj.name+"@"+obj.resourceVersion())
		}
	})
	if !s.hasSynced() {
		t.Error("not synced after a Replace")
	}
	if err := s.Replace([]any{rb("b", "ml", "2"), rb("c", "ml", "1")}, "2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(toolscache.DeletedFinalStateUnknown{Key: "ml/c", Obj: rb("c", "ml", "1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(rb("b", "ml", "3")); err != nil {
		t.Fatal(err)
	}
	slices.Sort(events[:2]) // replayed from a map
	want := []string{"add a", "add b", "delete a", "update b@2", "add c", "delete c", "update b@3"}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	if got := s.list("ml"); len(got) != 1 || got[0].name != "b" || got[0].resourceVersion() != "3" {
		t.Errorf("workspace index holds %d records, want b@3 alone", len(got))
	}
}

// TestSources: what each source asks to reconcile for an object.
func TestSources(t *testing.T) {
	c := newTestCache(t)
	r, _ := c.toRecord(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ml", Labels: managed("ml"), OwnerReferences: ownedBy("ml")}})
	stub, _ := c.toRecord(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "cv"}})
	owners, err := c.Source(&rbacv1.RoleBinding{}, schema.GroupKind{Group: tenancyv1.GroupVersion.Group, Kind: "Workspace"})
	if err != nil {
		t.Fatal(err)
	}
	namespaces, err := c.NamespaceSource(&rbacv1.RoleBinding{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		src  any
		obj  any
		want string
	}{
		"owner":                              {owners, r, "ml"},
		"owner of a stub":                    {owners, stub, ""},
		"namespace":                          {namespaces, r, "ml"},
		"namespace, of an unlabelled object": {namespaces, stub, "cv"},
	} {
		if got := tc.src.(*kindSource).to(tc.obj.(*record)); got != tc.want {
			t.Errorf("%s: request for %q, want %q", name, got, tc.want)
		}
	}
	if _, err := c.Source(&corev1.Secret{}, schema.GroupKind{}); err == nil {
		t.Error("a source for a kind not held: no error")
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "x"}, &corev1.Secret{}); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Errorf("Get of a kind not held: %v, want a clear error", err)
	}
}

// TestStoreBuckets: a namespace's records are found by name whether its
// group is a short list or has grown into a map, the workspace list holds
// only the workspace's own, and cluster-scoped records are listed by their
// workspace label.
func TestStoreBuckets(t *testing.T) {
	c := newTestCache(t)
	s := newStore(c.toRecord)
	rb := func(name, ns string, l map[string]string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l}}
	}
	for _, n := range []int{3, 3 * bucketList} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var objs []any
			for i := range n {
				l := managed("ml")
				if i%3 == 2 {
					l = managed("victim") // a stub
				}
				objs = append(objs, rb("rb"+strconv.Itoa(i), "ml", l), rb("rb"+strconv.Itoa(i), "cv", managed("cv")))
			}
			if err := s.Replace(objs, "1"); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if _, ok := s.get(objKey{namespace: "ml", name: "rb" + strconv.Itoa(i)}); !ok {
					t.Errorf("ml/rb%d not found", i)
				}
			}
			if _, ok := s.get(objKey{namespace: "ml", name: "rb" + strconv.Itoa(n)}); ok {
				t.Error("found a record never added")
			}
			if got, want := len(s.list("ml")), n-n/3; got != want {
				t.Errorf("workspace ml lists %d records, want %d (its stubs left out)", got, want)
			}
			if err := s.Delete(rb("rb0", "ml", nil)); err != nil {
				t.Fatal(err)
			}
			if _, ok := s.get(objKey{namespace: "ml", name: "rb0"}); ok {
				t.Error("ml/rb0 found after its delete")
			}
			if got, want := len(s.list("")), 2*n-1; got != want {
				t.Errorf("store lists %d records, want %d", got, want)
			}
			if got := len(s.list("victim")); got != 0 {
				t.Errorf("workspace victim lists %d records of another namespace, want none", got)
			}
		})
	}
	cr := func(name, ws string) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: managed(ws)}}
	}
	var objs []any
	for i := range 2 * bucketList {
		objs = append(objs, cr("cr"+strconv.Itoa(i), "ws"+strconv.Itoa(i%2)))
	}
	if err := s.Replace(objs, "2"); err != nil {
		t.Fatal(err)
	}
	if got := len(s.list("ws1")); got != bucketList {
		t.Errorf("workspace ws1 lists %d cluster-scoped records, want %d", got, bucketList)
	}
	if err := s.Update(cr("cr1", "ws0")); err != nil { // relabelled
		t.Fatal(err)
	}
	if got0, got1 := len(s.list("ws0")), len(s.list("ws1")); got0 != bucketList+1 || got1 != bucketList-1 {
		t.Errorf("after relabelling, ws0 and ws1 list %d and %d, want %d and %d", got0, got1, bucketList+1, bucketList-1)
	}
	if got := len(s.list("")); got != 2*bucketList {
		t.Errorf("store lists %d records after a relist, want %d", got, 2*bucketList)
	}
}
