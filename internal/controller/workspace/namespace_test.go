package workspace

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestDesiredNamespace(t *testing.T) {
	tests := map[string]struct {
		ws    *tenancyv1.Workspace
		class *tenancyv1.WorkspaceClass
		want  *corev1.Namespace
	}{
		"bare workspace: Tenancy's labels and baseline": {
			ws: testutil.Workspace("ml").Owner("alex").Obj(),
			want: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: "ml",
				Labels: map[string]string{
					"app.kubernetes.io/managed-by":       "tenancy",
					"tenancy.dev/workspace":              "ml",
					"pod-security.kubernetes.io/enforce": "baseline",
				},
				OwnerReferences: wantOwnerRefs("ml"),
			}},
		},
		"class labels, pod security, node selector sorted, tolerations": {
			ws: testutil.Workspace("ml").
				NodeSelector("zone", "a").NodeSelector("pool", "gpu").NodeSelector("arch", "amd64").
				Obj(),
			class: testutil.Class("gpu").
				NamespaceLabel("team", "research").NamespaceLabel("cost-center", "42").
				PodSecurity(tenancyv1.PodSecurityRestricted).
				Toleration(gpuToleration).Toleration(spotToleration).
				Obj(),
			want: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: "ml",
				Labels: map[string]string{
					"team":                               "research",
					"cost-center":                        "42",
					"app.kubernetes.io/managed-by":       "tenancy",
					"tenancy.dev/workspace":              "ml",
					"pod-security.kubernetes.io/enforce": "restricted",
				},
				Annotations: map[string]string{
					"scheduler.alpha.kubernetes.io/node-selector": "arch=amd64,pool=gpu,zone=a",
					"scheduler.alpha.kubernetes.io/defaultTolerations": `[` +
						`{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"},` +
						`{"key":"spot","operator":"Equal","value":"true","effect":"NoExecute"}]`,
				},
				OwnerReferences: wantOwnerRefs("ml"),
			}},
		},
		"Tenancy's labels win over a class label of the same key": {
			ws: testutil.Workspace("ml").PodSecurity(tenancyv1.PodSecurityPrivileged).Obj(),
			// The class CRD refuses these keys; the builder must hold anyway.
			class: testutil.Class("c").
				NamespaceLabel("tenancy.dev/workspace", "other").
				NamespaceLabel("pod-security.kubernetes.io/enforce", "restricted").
				Obj(),
			want: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: "ml",
				Labels: map[string]string{
					"app.kubernetes.io/managed-by":       "tenancy",
					"tenancy.dev/workspace":              "ml",
					"pod-security.kubernetes.io/enforce": "privileged",
				},
				OwnerReferences: wantOwnerRefs("ml"),
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ac := desiredNamespace(effectiveSpec(tc.ws, tc.class), metaOf(tc.ws))
			got := decode[corev1.Namespace](t, ac)
			if diff := cmp.Diff(tc.want, got, ignoreTypeMeta); diff != "" {
				t.Errorf("desiredNamespace() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDesiredNamespaceLeavesClassLabelsAlone guards the class's label map,
// shared by every workspace of the class.
func TestDesiredNamespaceLeavesClassLabelsAlone(t *testing.T) {
	class := testutil.Class("c").NamespaceLabel("team", "research").Obj()
	ws := testutil.Workspace("ml").Obj()

	desiredNamespace(effectiveSpec(ws, class), metaOf(ws))

	want := map[string]string{"team": "research"}
	if diff := cmp.Diff(want, class.Spec.NamespaceLabels); diff != "" {
		t.Errorf("class labels changed (-want +got):\n%s", diff)
	}
}

func TestIsOurs(t *testing.T) {
	tests := map[string]struct {
		labels map[string]string
		want   bool
	}{
		"ours": {
			labels: map[string]string{"app.kubernetes.io/managed-by": "tenancy", "tenancy.dev/workspace": "ml"},
			want:   true,
		},
		"no labels":                {labels: nil, want: false},
		"another manager":          {labels: map[string]string{"app.kubernetes.io/managed-by": "helm", "tenancy.dev/workspace": "ml"}, want: false},
		"another workspace":        {labels: map[string]string{"app.kubernetes.io/managed-by": "tenancy", "tenancy.dev/workspace": "ml2"}, want: false},
		"managed but no workspace": {labels: map[string]string{"app.kubernetes.io/managed-by": "tenancy"}, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := isOurs(tc.labels, "ml"); got != tc.want {
				t.Errorf("isOurs(%v, ml) = %v, want %v", tc.labels, got, tc.want)
			}
		})
	}
}
