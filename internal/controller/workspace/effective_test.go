package workspace

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

var (
	gpuToleration  = corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	spotToleration = corev1.Toleration{Key: "spot", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoExecute}
	readPods       = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}
	readNodes      = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}
)

// list builds a ResourceList from name/quantity pairs.
func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func TestEffectiveSpec(t *testing.T) {
	fast := "fast"
	classStorage := tenancyv1.StorageSpec{
		Size:             resource.MustParse("100Gi"),
		StorageClassName: &fast,
		AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
	}
	fullClass := testutil.Class("gpu").
		Quota("requests.cpu", "8").Quota("requests.memory", "16Gi").
		DefaultRequest("cpu", "200m").
		NamespaceLabel("team", "research").
		NodeSelector("pool", "gpu").NodeSelector("zone", "a").
		Toleration(gpuToleration).
		StorageSpec(classStorage).
		NetworkIsolation(false).
		PodSecurity(tenancyv1.PodSecurityRestricted).
		Obj()

	tests := map[string]struct {
		ws    *tenancyv1.Workspace
		class *tenancyv1.WorkspaceClass
		want  effective
	}{
		"nil class, empty workspace: isolation on, baseline": {
			ws: testutil.Workspace("ml").Owner("alex").Obj(),
			want: effective{
				Name:             "ml",
				Owner:            &tenancyv1.Subject{Kind: "User", Name: "alex"},
				NetworkIsolation: true,
				PodSecurity:      tenancyv1.PodSecurityBaseline,
			},
		},
		"class only: every default comes from the class": {
			ws:    testutil.Workspace("ml").Owner("alex").Obj(),
			class: fullClass,
			want: effective{
				Name:  "ml",
				Owner: &tenancyv1.Subject{Kind: "User", Name: "alex"},
				Quota: &corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "8", "requests.memory", "16Gi")},
				LimitRange: tenancyv1.LimitRangeSpec{
					// cpu from the class, memory built in because the quota counts it.
					DefaultRequest: list("cpu", "200m", "memory", "256Mi"),
				},
				NamespaceLabels:  map[string]string{"team": "research"},
				NodeSelector:     map[string]string{"pool": "gpu", "zone": "a"},
				Tolerations:      []corev1.Toleration{gpuToleration},
				Storage:          &classStorage,
				NetworkIsolation: false,
				PodSecurity:      tenancyv1.PodSecurityRestricted,
			},
		},
		"workspace only": {
			ws: testutil.Workspace("ml").Owner("alex").
				Contributor(testutil.User("bob"), tenancyv1.RoleEdit).
				GPU(4).
				Max("cpu", "4").
				NodeSelector("pool", "gpu").
				Toleration(gpuToleration).
				Storage("10Gi").
				NetworkIsolation(false).
				PodSecurity(tenancyv1.PodSecurityPrivileged).
				Rules(readPods).ClusterRules(readNodes).
				AWSIAMRole("arn:aws:iam::123456789012:role/ml").
				Obj(),
			want: effective{
				Name:  "ml",
				Owner: &tenancyv1.Subject{Kind: "User", Name: "alex"},
				Contributors: []tenancyv1.Contributor{
					{Subject: tenancyv1.Subject{Kind: "User", Name: "bob"}, Role: tenancyv1.RoleEdit},
				},
				Quota:            &corev1.ResourceQuotaSpec{Hard: list("requests.nvidia.com/gpu", "4")},
				LimitRange:       tenancyv1.LimitRangeSpec{Max: list("cpu", "4")},
				NodeSelector:     map[string]string{"pool": "gpu"},
				Tolerations:      []corev1.Toleration{gpuToleration},
				Storage:          &tenancyv1.StorageSpec{Size: resource.MustParse("10Gi")},
				NetworkIsolation: false,
				PodSecurity:      tenancyv1.PodSecurityPrivileged,
				Rules:            []rbacv1.PolicyRule{readPods},
				ClusterRules:     []rbacv1.PolicyRule{readNodes},
				Plugins:          &tenancyv1.Plugins{AWSIAMRole: &tenancyv1.AWSIAMRole{RoleARN: "arn:aws:iam::123456789012:role/ml"}},
			},
		},
		"quota: workspace entry overrides the class's, other class entries kept": {
			ws: testutil.Workspace("ml").Quota("requests.cpu", "16").GPU(2).Obj(),
			class: testutil.Class("c").
				Quota("requests.cpu", "8").Quota("requests.memory", "16Gi").Obj(),
			want: effective{
				Name: "ml",
				Quota: &corev1.ResourceQuotaSpec{Hard: list(
					"requests.cpu", "16", "requests.memory", "16Gi", "requests.nvidia.com/gpu", "2")},
				LimitRange: tenancyv1.LimitRangeSpec{
					DefaultRequest: list("cpu", "100m", "memory", "256Mi"),
				},
				NetworkIsolation: true,
				PodSecurity:      tenancyv1.PodSecurityBaseline,
			},
		},
		"quota: workspace scopes replace the class's whole": {
			ws: testutil.Workspace("ml").Quota("pods", "10").
				QuotaScopes(corev1.ResourceQuotaScopeTerminating).Obj(),
			class: testutil.Class("c").Quota("pods", "5").
				QuotaScopes(corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeNotTerminating).Obj(),
			want: effective{
				Name: "ml",
				Quota: &corev1.ResourceQuotaSpec{
					Hard:   list("pods", "10"),
					Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating},
				},
				NetworkIsolation: true,
				PodSecurity:      tenancyv1.PodSecurityBaseline,
			},
		},
		"quota: class scopes kept when the workspace sets none": {
			ws:    testutil.Workspace("ml").Quota("pods", "10").Obj(),
			class: testutil.Class("c").QuotaScopes(corev1.ResourceQuotaScopeNotBestEffort).Quota("pods", "5").Obj(),
			want: effective{
				Name: "ml",
				Quota: &corev1.ResourceQuotaSpec{
					Hard:   list("pods", "10"),
					Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort},
				},
				NetworkIsolation: true,
				PodSecurity:      tenancyv1.PodSecurityBaseline,
			},
		},
		"quota: scopes alone make no quota": {
			ws:    testutil.Workspace("ml").QuotaScopes(corev1.ResourceQuotaScopeTerminating).Obj(),
			class: testutil.Class("c").QuotaScopes(corev1.ResourceQuotaScopeNotBestEffort).Obj(),
			want: effective{
				Name:             "ml",
				NetworkIsolation: true,
				PodSecurity:      tenancyv1.PodSecurityBaseline,
			},
		},
		"limit range: entries merge one resource at a time": {
			ws: testutil.Workspace("ml").DefaultLimit("memory", "2Gi").Max("cpu", "8").Obj(),
			class: testutil.Class("c").DefaultLimit("cpu", "1").DefaultLimit("memory", "1Gi").
				Max("cpu", "4").Max("memory", "8Gi").Obj(),
			want: effective{
				Name: "ml",
				LimitRange: tenancyv1.LimitRangeSpec{
					Default: list("cpu", "1", "memory", "2Gi"),
					Max:     list("cpu", "8", "memory", "8Gi"),
				},
				NetworkIsolation: true,
				PodSecurity:      tenancyv1.PodSecurityBaseline,
			},
		},
		"node selector, tolerations and storage are taken whole from the workspace": {
			ws: testutil.Workspace("ml").
				NodeSelector("pool", "cpu").
				Toleration(spotToleration).
				Storage("10Gi").Obj(),
			class: fullClass,
			want: effective{
				Name:  "ml",
				Quota: &corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "8", "requests.memory", "16Gi")},
				LimitRange: tenancyv1.LimitRangeSpec{
					DefaultRequest: list("cpu", "200m", "memory", "256Mi"),
				},
				NamespaceLabels: map[string]string{"team": "research"},
				// No zone from the class, no gpu toleration, no storage class.
				NodeSelector:     map[string]string{"pool": "cpu"},
				Tolerations:      []corev1.Toleration{spotToleration},
				Storage:          &tenancyv1.StorageSpec{Size: resource.MustParse("10Gi")},
				NetworkIsolation: false,
				PodSecurity:      tenancyv1.PodSecurityRestricted,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := effectiveSpec(tc.ws, tc.class)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("effectiveSpec() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEffectiveSpecPrecedence(t *testing.T) {
	type want struct {
		NetworkIsolation bool
		PodSecurity      tenancyv1.PodSecurityLevel
	}
	tests := map[string]struct {
		ws    *tenancyv1.Workspace
		class *tenancyv1.WorkspaceClass
		want  want
	}{
		"no class: defaults": {
			ws:   testutil.Workspace("ml").Obj(),
			want: want{true, tenancyv1.PodSecurityBaseline},
		},
		"class without opinion: defaults": {
			ws:    testutil.Workspace("ml").Obj(),
			class: testutil.Class("c").Obj(),
			want:  want{true, tenancyv1.PodSecurityBaseline},
		},
		"class over defaults": {
			ws:    testutil.Workspace("ml").Obj(),
			class: testutil.Class("c").NetworkIsolation(false).PodSecurity(tenancyv1.PodSecurityRestricted).Obj(),
			want:  want{false, tenancyv1.PodSecurityRestricted},
		},
		"workspace over class": {
			ws:    testutil.Workspace("ml").NetworkIsolation(true).PodSecurity(tenancyv1.PodSecurityPrivileged).Obj(),
			class: testutil.Class("c").NetworkIsolation(false).PodSecurity(tenancyv1.PodSecurityRestricted).Obj(),
			want:  want{true, tenancyv1.PodSecurityPrivileged},
		},
		"workspace false over default true": {
			ws:   testutil.Workspace("ml").NetworkIsolation(false).Obj(),
			want: want{false, tenancyv1.PodSecurityBaseline},
		},
		"workspace false over class true": {
			ws:    testutil.Workspace("ml").NetworkIsolation(false).Obj(),
			class: testutil.Class("c").NetworkIsolation(true).Obj(),
			want:  want{false, tenancyv1.PodSecurityBaseline},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := effectiveSpec(tc.ws, tc.class)
			got := want{e.NetworkIsolation, e.PodSecurity}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("effectiveSpec() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEffectiveSpecLeavesInputsAlone guards the class, which is shared by
// every workspace of the class, against the merge writing into it.
func TestEffectiveSpecLeavesInputsAlone(t *testing.T) {
	class := testutil.Class("c").Quota("requests.cpu", "8").DefaultRequest("cpu", "200m").Obj()
	ws := testutil.Workspace("ml").Quota("requests.cpu", "16").Quota("limits.memory", "4Gi").Obj()
	classBefore, wsBefore := class.DeepCopy(), ws.DeepCopy()

	effectiveSpec(ws, class)

	if diff := cmp.Diff(classBefore, class); diff != "" {
		t.Errorf("class changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wsBefore, ws); diff != "" {
		t.Errorf("workspace changed (-before +after):\n%s", diff)
	}
}

func TestMergeLimitRange(t *testing.T) {
	tests := map[string]struct {
		class, ws *tenancyv1.LimitRangeSpec
		quota     *corev1.ResourceQuotaSpec
		want      tenancyv1.LimitRangeSpec
	}{
		"nothing set, no quota": {},
		"no quota: only what was set": {
			class: &tenancyv1.LimitRangeSpec{Max: list("cpu", "4")},
			want:  tenancyv1.LimitRangeSpec{Max: list("cpu", "4")},
		},
		"quota counts requests.cpu: default request cpu 100m only": {
			quota: &corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "8")},
			want:  tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "100m")},
		},
		"quota counts plain cpu as requests.cpu": {
			quota: &corev1.ResourceQuotaSpec{Hard: list("cpu", "8")},
			want:  tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "100m")},
		},
		"quota counts limits.memory: default limit 1Gi and default request 256Mi": {
			quota: &corev1.ResourceQuotaSpec{Hard: list("limits.memory", "32Gi")},
			want: tenancyv1.LimitRangeSpec{
				Default:        list("memory", "1Gi"),
				DefaultRequest: list("memory", "256Mi"),
			},
		},
		"quota counts requests and limits of both": {
			quota: &corev1.ResourceQuotaSpec{Hard: list(
				"requests.cpu", "8", "limits.cpu", "16", "requests.memory", "16Gi", "limits.memory", "32Gi")},
			want: tenancyv1.LimitRangeSpec{
				Default:        list("cpu", "1", "memory", "1Gi"),
				DefaultRequest: list("cpu", "100m", "memory", "256Mi"),
			},
		},
		"built-in default limit never below an explicit default request": {
			class: &tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "2")},
			quota: &corev1.ResourceQuotaSpec{Hard: list("limits.cpu", "16")},
			want:  tenancyv1.LimitRangeSpec{Default: list("cpu", "2"), DefaultRequest: list("cpu", "2")},
		},
		"built-in defaults never above max": {
			class: &tenancyv1.LimitRangeSpec{Max: list("cpu", "500m", "memory", "128Mi")},
			quota: &corev1.ResourceQuotaSpec{Hard: list("limits.cpu", "16", "requests.memory", "8Gi")},
			want: tenancyv1.LimitRangeSpec{
				Max:            list("cpu", "500m", "memory", "128Mi"),
				Default:        list("cpu", "500m"),
				DefaultRequest: list("cpu", "100m", "memory", "128Mi"),
			},
		},
		"explicit default limit and no default request: Kubernetes requests the limit": {
			class: &tenancyv1.LimitRangeSpec{Default: list("cpu", "2")},
			quota: &corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "8", "limits.cpu", "16")},
			want:  tenancyv1.LimitRangeSpec{Default: list("cpu", "2")},
		},
		"explicit class default request wins over built-in": {
			class: &tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "500m")},
			quota: &corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "8")},
			want:  tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "500m")},
		},
		"explicit class default request kept beside a built-in default limit": {
			class: &tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "500m")},
			quota: &corev1.ResourceQuotaSpec{Hard: list("limits.cpu", "8")},
			want: tenancyv1.LimitRangeSpec{
				Default:        list("cpu", "1"),
				DefaultRequest: list("cpu", "500m"),
			},
		},
		"explicit default limit stands in for the request (Kubernetes copies it)": {
			class: &tenancyv1.LimitRangeSpec{Default: list("cpu", "2")},
			quota: &corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "8", "limits.cpu", "16")},
			want:  tenancyv1.LimitRangeSpec{Default: list("cpu", "2")},
		},
		"workspace entry over class entry": {
			class: &tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "500m", "memory", "1Gi")},
			ws:    &tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "250m")},
			want:  tenancyv1.LimitRangeSpec{DefaultRequest: list("cpu", "250m", "memory", "1Gi")},
		},
		"quota counts only GPUs: no defaults": {
			quota: &corev1.ResourceQuotaSpec{Hard: list("requests.nvidia.com/gpu", "4")},
			want:  tenancyv1.LimitRangeSpec{},
		},
		"quota counts only objects: no defaults": {
			quota: &corev1.ResourceQuotaSpec{Hard: list("pods", "10", "count/services", "5")},
			want:  tenancyv1.LimitRangeSpec{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := mergeLimitRange(tc.class, tc.ws, tc.quota)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mergeLimitRange() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
