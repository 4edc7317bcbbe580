package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
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
		"a Workspace: kept whole": {
			in:   &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml"}, Spec: tenancyv1.WorkspaceSpec{Class: "c"}},
			want: &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml"}, Spec: tenancyv1.WorkspaceSpec{Class: "c"}},
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
			got, err := transform(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("transform() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
