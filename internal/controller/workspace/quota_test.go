package workspace

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestDesiredQuota(t *testing.T) {
	tests := map[string]struct {
		ws    *tenancyv1.Workspace
		class *tenancyv1.WorkspaceClass
		want  *corev1.ResourceQuota
	}{
		"no quota anywhere: none": {
			ws:    testutil.Workspace("ml").Owner("alex").Obj(),
			class: testutil.Class("c").DefaultRequest("cpu", "100m").Obj(),
			want:  nil,
		},
		"hard entries passed through, GPUs included": {
			ws:    testutil.Workspace("ml").GPU(4).Obj(),
			class: testutil.Class("c").Quota("requests.cpu", "8").Quota("limits.memory", "32Gi").Obj(),
			want: &corev1.ResourceQuota{
				ObjectMeta: wantMeta("ml", "ml", "tenancy"),
				Spec: corev1.ResourceQuotaSpec{
					Hard: list("requests.cpu", "8", "limits.memory", "32Gi", "requests.nvidia.com/gpu", "4"),
				},
			},
		},
		"scopes passed through": {
			ws: testutil.Workspace("ml").Quota("pods", "10").
				QuotaScopes(corev1.ResourceQuotaScopeNotTerminating).Obj(),
			want: &corev1.ResourceQuota{
				ObjectMeta: wantMeta("ml", "ml", "tenancy"),
				Spec: corev1.ResourceQuotaSpec{
					Hard:   list("pods", "10"),
					Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating},
				},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ac := desiredQuota(effectiveSpec(tc.ws, tc.class), metaOf(tc.ws))
			got := decode[corev1.ResourceQuota](t, ac)
			if diff := cmp.Diff(tc.want, got, ignoreTypeMeta); diff != "" {
				t.Errorf("desiredQuota() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredQuotaScopeSelector(t *testing.T) {
	ws := testutil.Workspace("ml").Quota("pods", "10").Obj()
	ws.Spec.ResourceQuota.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
		{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}},
		{ScopeName: corev1.ResourceQuotaScopeBestEffort, Operator: corev1.ScopeSelectorOpExists},
	}}

	got := decode[corev1.ResourceQuota](t, desiredQuota(effectiveSpec(ws, nil), metaOf(ws)))

	if diff := cmp.Diff(ws.Spec.ResourceQuota.ScopeSelector, got.Spec.ScopeSelector); diff != "" {
		t.Errorf("desiredQuota() scopeSelector mismatch (-want +got):\n%s", diff)
	}
}

func TestDesiredLimitRange(t *testing.T) {
	tests := map[string]struct {
		ws    *tenancyv1.Workspace
		class *tenancyv1.WorkspaceClass
		want  *corev1.LimitRange
	}{
		"nothing set, quota counts only GPUs: none": {
			ws:   testutil.Workspace("ml").GPU(4).Obj(),
			want: nil,
		},
		"nothing set, no quota: none": {
			ws:   testutil.Workspace("ml").Obj(),
			want: nil,
		},
		"built-in defaults for what the quota counts": {
			ws: testutil.Workspace("ml").Quota("requests.cpu", "8").Quota("limits.memory", "16Gi").Obj(),
			want: &corev1.LimitRange{
				ObjectMeta: wantMeta("ml", "ml", "tenancy"),
				Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
					Type:           corev1.LimitTypeContainer,
					Default:        list("memory", "1Gi"),
					DefaultRequest: list("cpu", "100m", "memory", "256Mi"),
				}}},
			},
		},
		"class and workspace entries, max only where set": {
			ws:    testutil.Workspace("ml").Max("cpu", "4").Obj(),
			class: testutil.Class("c").DefaultLimit("cpu", "2").Obj(),
			want: &corev1.LimitRange{
				ObjectMeta: wantMeta("ml", "ml", "tenancy"),
				Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
					Type:    corev1.LimitTypeContainer,
					Default: list("cpu", "2"),
					Max:     list("cpu", "4"),
				}}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ac := desiredLimitRange(effectiveSpec(tc.ws, tc.class), metaOf(tc.ws))
			got := decode[corev1.LimitRange](t, ac)
			if diff := cmp.Diff(tc.want, got, ignoreTypeMeta); diff != "" {
				t.Errorf("desiredLimitRange() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
