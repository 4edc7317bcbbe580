package controller

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller/objcache"
)

func TestTransform(t *testing.T) {
	fields := metav1.NewFieldsV1(`{"f:metadata":{}}`)
	in := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml", Annotations: map[string]string{
		corev1.LastAppliedConfigAnnotation: `{"spec":{"class":"c"}}`, tenancyv1.AnnotationCreatedBy: "alice"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: "Apply", FieldsV1: fields}}},
		Spec: tenancyv1.WorkspaceSpec{Class: "c"}}
	want := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml", Annotations: map[string]string{tenancyv1.AnnotationCreatedBy: "alice"}},
		Spec: tenancyv1.WorkspaceSpec{Class: "c"}}
	got, err := newTransform(objcache.NewInterner())(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transform() mismatch (-want +got):\n%s", diff)
	}
}

// TestTransformShares: Workspaces point to one copy of the quotas and
// condition words they share.
func TestTransformShares(t *testing.T) {
	transform := newTransform(objcache.NewInterner())
	same := func(what string, x, y any) {
		t.Helper()
		if reflect.ValueOf(x).UnsafePointer() != reflect.ValueOf(y).UnsafePointer() {
			t.Errorf("%s: two copies, want one shared", what)
		}
	}
	ws := func(name string) *tenancyv1.Workspace {
		hard := corev1.ResourceList{"pods": resource.MustParse("50")}
		w := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{tenancyv1.AnnotationCreatedBy: "alice"}, Finalizers: []string{"tenancy.dev/workspace"}},
			Spec: tenancyv1.WorkspaceSpec{ResourceQuota: &corev1.ResourceQuotaSpec{Hard: hard}},
			Status: tenancyv1.WorkspaceStatus{Quota: &tenancyv1.QuotaStatus{Hard: hard.DeepCopy(), Used: corev1.ResourceList{"pods": resource.MustParse("0")}},
				Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Provisioned"}}}}
		out, _ := transform(w)
		return out.(*tenancyv1.Workspace)
	}
	w1, w2 := ws("ml"), ws("cv")
	same("annotations", w1.Annotations, w2.Annotations)
	same("finalizers", w1.Finalizers, w2.Finalizers)
	same("workspace quota", w1.Spec.ResourceQuota.Hard, w2.Spec.ResourceQuota.Hard)
	same("workspace quota status", w1.Status.Quota.Used, w2.Status.Quota.Used)
	same("equal conditions", w1.Status.Conditions, w2.Status.Conditions)
	later := ws("cv")
	later.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Provisioned", LastTransitionTime: metav1.Now()}}
	out, _ := transform(later)
	if later = out.(*tenancyv1.Workspace); later.Status.Conditions[0].LastTransitionTime.IsZero() {
		t.Error("conditions of another time were replaced by a shared list")
	}
	if w1.Name != "ml" || w2.Name != "cv" || w2.Status.Conditions[0].Reason != "Provisioned" {
		t.Errorf("workspaces changed: %s %s %+v", w1.Name, w2.Name, w2.Status.Conditions)
	}
}
