package controller

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller/workspace"
)

func TestTransform(t *testing.T) {
	fields := metav1.NewFieldsV1(`{"f:metadata":{}}`)
	meta := func(ns, workspaceLabel string) metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: "tenancy:owner", Namespace: ns, UID: "u1", ResourceVersion: "7",
			Labels:          map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: workspaceLabel},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "tenancy.dev/v1alpha1", Kind: "Workspace", Name: workspaceLabel, UID: "w", Controller: ptr.To(true)}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "tenancy-controller", FieldsV1: fields}},
		}
	}
	tests := map[string]struct {
		in   any
		want any
	}{
		"own namespace: metadata kept, field sets and the rest dropped": {
			in: &rbacv1.RoleBinding{ObjectMeta: meta("ml", "ml"), RoleRef: rbacv1.RoleRef{Name: "admin"},
				Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}},
			want: func() any {
				m := meta("ml", "ml")
				m.ManagedFields[0].FieldsV1 = nil
				return &rbacv1.RoleBinding{ObjectMeta: m}
			}(),
		},
		"quota: metadata and status kept": {
			in: &corev1.ResourceQuota{ObjectMeta: meta("ml", "ml"),
				Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("5")}},
				Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse("5")}}},
			want: func() any {
				m := meta("ml", "ml")
				m.ManagedFields[0].FieldsV1 = nil
				return &corev1.ResourceQuota{ObjectMeta: m, Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse("5")}}}
			}(),
		},
		"a Workspace: kept whole but for kubectl's last applied copy": {
			in: &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml", Annotations: map[string]string{
				corev1.LastAppliedConfigAnnotation: `{"spec":{"class":"c"}}`, tenancyv1.AnnotationCreatedBy: "alice"}},
				Spec: tenancyv1.WorkspaceSpec{Class: "c"}},
			want: &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml", Annotations: map[string]string{tenancyv1.AnnotationCreatedBy: "alice"}},
				Spec: tenancyv1.WorkspaceSpec{Class: "c"}},
		},
		"labelled for another workspace: a bare stub": {
			in: &rbacv1.RoleBinding{ObjectMeta: meta("ml", "victim"), RoleRef: rbacv1.RoleRef{Name: "admin"}},
			want: &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{
				Name: "tenancy:owner", Namespace: "ml", UID: "u1", ResourceVersion: "7",
			}},
		},
		"no workspace label in a namespace: a bare stub": {
			in:   &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ml", Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}}},
			want: &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ml"}},
		},
		"annotations: only the applied hash kept": {
			in: func() any {
				m := meta("ml", "ml")
				m.Annotations = map[string]string{workspace.AnnotationApplied: "abc", "kubectl.kubernetes.io/last-applied-configuration": "{…}"}
				return &corev1.ServiceAccount{ObjectMeta: m, Secrets: []corev1.ObjectReference{{Name: "s"}}}
			}(),
			want: func() any {
				m := meta("ml", "ml")
				m.ManagedFields[0].FieldsV1 = nil
				m.Annotations = map[string]string{workspace.AnnotationApplied: "abc"}
				return &corev1.ServiceAccount{ObjectMeta: m}
			}(),
		},
		"cluster-scoped: kept": {
			in: &corev1.Namespace{ObjectMeta: meta("", "ml")},
			want: func() any {
				m := meta("", "ml")
				m.ManagedFields[0].FieldsV1 = nil
				return &corev1.Namespace{ObjectMeta: m}
			}(),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := newTransform(newInterner())(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("transform() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTransformShares: the objects of one workspace point to one copy of
// their labels, owner references and managers, and equal quota limits to
// one copy, while each keeps its own hash.
func TestTransformShares(t *testing.T) {
	transform := newTransform(newInterner())
	decode := func(name, hash string) *rbacv1.RoleBinding {
		// Fresh maps and slices each time, as the decoder makes them.
		in := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ml", UID: types.UID(name),
			Labels:          map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: "ml"},
			Annotations:     map[string]string{workspace.AnnotationApplied: hash},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "tenancy.dev/v1alpha1", Kind: "Workspace", Name: "ml", UID: "w", Controller: ptr.To(true)}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "tenancy-controller", Operation: "Update", FieldsV1: metav1.NewFieldsV1(`{}`)}},
		}}
		out, err := transform(in)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*rbacv1.RoleBinding)
	}
	a, b := decode("a", "1"), decode("b", "2")
	same := func(what string, x, y any) {
		t.Helper()
		if reflect.ValueOf(x).UnsafePointer() != reflect.ValueOf(y).UnsafePointer() {
			t.Errorf("%s: two copies, want one shared", what)
		}
	}
	same("labels", a.Labels, b.Labels)
	same("owner references", a.OwnerReferences, b.OwnerReferences)
	same("managed fields", a.ManagedFields, b.ManagedFields)
	if a.Annotations[workspace.AnnotationApplied] != "1" || b.Annotations[workspace.AnnotationApplied] != "2" {
		t.Errorf("hashes = %v, %v; want each its own", a.Annotations, b.Annotations)
	}

	// Another workspace's labels are not shared with these.
	other := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "cv",
		Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: "cv"}}}
	out, _ := transform(other)
	if got := out.(*rbacv1.RoleBinding).Labels[tenancyv1.LabelWorkspace]; got != "cv" {
		t.Errorf("other workspace's label = %q", got)
	}

	quota := func() *corev1.ResourceQuota {
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "tenancy", Namespace: "ml",
			Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: "ml"}},
			Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse("50")}}}
		out, _ := transform(q)
		return out.(*corev1.ResourceQuota)
	}
	same("quota limits", quota().Status.Hard, quota().Status.Hard)

	ws := func(name string) *tenancyv1.Workspace {
		hard := corev1.ResourceList{"pods": resource.MustParse("50")}
		w := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: tenancyv1.WorkspaceSpec{ResourceQuota: &corev1.ResourceQuotaSpec{Hard: hard}},
			Status: tenancyv1.WorkspaceStatus{Quota: &tenancyv1.QuotaStatus{Hard: hard.DeepCopy(), Used: corev1.ResourceList{"pods": resource.MustParse("0")}},
				Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Provisioned"}}}}
		out, _ := transform(w)
		return out.(*tenancyv1.Workspace)
	}
	w1, w2 := ws("ml"), ws("cv")
	same("workspace quota", w1.Spec.ResourceQuota.Hard, w2.Spec.ResourceQuota.Hard)
	same("workspace quota status", w1.Status.Quota.Used, w2.Status.Quota.Used)
	if w1.Name != "ml" || w2.Name != "cv" || w2.Status.Conditions[0].Reason != "Provisioned" {
		t.Errorf("workspaces changed: %s %s %+v", w1.Name, w2.Name, w2.Status.Conditions)
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

// TestIdentityOnly: of a default ServiceAccount only its identity is kept.
func TestIdentityOnly(t *testing.T) {
	sa := metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}
	in := &metav1.PartialObjectMetadata{TypeMeta: sa, ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ml", UID: "u", ResourceVersion: "3",
		Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"c": "d"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}}}
	got, err := identityOnly(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &metav1.PartialObjectMetadata{TypeMeta: sa, ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ml", UID: "u", ResourceVersion: "3"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identityOnly mismatch (-want +got):\n%s", diff)
	}
}
