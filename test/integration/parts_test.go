//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// TestWorkspaceVolumeAndPlugins: the shared volume is a ReadWriteMany claim
// of the asked size; the plugins annotate default-editor and nothing else.
func TestWorkspaceVolumeAndPlugins(t *testing.T) {
	t.Parallel()
	ws := workspace("parts-volume", "paula")
	ws.Spec.Storage = &tenancyv1.StorageSpec{Size: resource.MustParse("5Gi")}
	ws.Spec.Plugins = &tenancyv1.Plugins{
		GKEWorkloadIdentity: &tenancyv1.GKEWorkloadIdentity{GCPServiceAccount: "ml-team@my-project.iam.gserviceaccount.com"},
		AWSIAMRole:          &tenancyv1.AWSIAMRole{RoleARN: "arn:aws:iam::123456789012:role/ml-team"},
	}
	createWorkspace(t, ws)
	got := waitReady(t, ws.Name)
	for _, c := range []string{tenancyv1.ConditionStorage, tenancyv1.ConditionPlugins} {
		if cond := got.Condition(c); cond == nil || cond.Reason != tenancyv1.ReasonReconciled {
			t.Errorf("condition %s = %+v, want True/Reconciled", c, cond)
		}
	}

	pvc := &corev1.PersistentVolumeClaim{}
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: ws.Name, Name: "workspace"}, pvc); err != nil {
		t.Fatalf("get the workspace volume's claim: %v", err)
	}
	if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}) {
		t.Errorf("claim access modes = %v, want [ReadWriteMany]", pvc.Spec.AccessModes)
	}
	if size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; size.Cmp(resource.MustParse("5Gi")) != 0 {
		t.Errorf("claim size = %s, want 5Gi", size.String())
	}
	if pvc.Labels[tenancyv1.LabelWorkspace] != ws.Name {
		t.Errorf("claim labels = %v, want %s=%s", pvc.Labels, tenancyv1.LabelWorkspace, ws.Name)
	}

	editor, viewer := &corev1.ServiceAccount{}, &corev1.ServiceAccount{}
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: ws.Name, Name: "default-editor"}, editor); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: ws.Name, Name: "default-viewer"}, viewer); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"iam.gke.io/gcp-service-account": "ml-team@my-project.iam.gserviceaccount.com",
		"eks.amazonaws.com/role-arn":     "arn:aws:iam::123456789012:role/ml-team",
	} {
		if editor.Annotations[k] != want {
			t.Errorf("default-editor annotation %s = %q, want %q", k, editor.Annotations[k], want)
		}
		if _, ok := viewer.Annotations[k]; ok {
			t.Errorf("default-viewer has plugin annotation %s; only default-editor should", k)
		}
	}

	// Removing the volume from the spec keeps the claim: it holds data.
	updateWorkspace(t, ws.Name, func(w *tenancyv1.Workspace) { w.Spec.Storage = nil })
	waitCondition(t, ws.Name, tenancyv1.ConditionStorage, metav1.ConditionTrue, tenancyv1.ReasonNotRequested)
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: ws.Name, Name: "workspace"}, &corev1.PersistentVolumeClaim{}); err != nil {
		t.Errorf("the claim is gone after spec.storage was removed; it must be kept: %v", err)
	}
}

// TestNodePoolAndPodSecurity: the namespace's node pool and pod-security
// level are enforced by the API server's own admission plugins
// (PodNodeSelector, PodTolerationRestriction, PodSecurity) on the owner's
// pods.
func TestNodePoolAndPodSecurity(t *testing.T) {
	t.Parallel()
	ws := workspace("parts-pool", "pete")
	ws.Spec.NodeSelector = map[string]string{"tenancy.dev/pool": "gpu"}
	ws.Spec.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	ws.Spec.PodSecurity = tenancyv1.PodSecurityRestricted
	createWorkspace(t, ws)
	waitReady(t, ws.Name)
	pete := userClient(t, "pete")

	// A pod that runs as root is refused at the restricted level.
	eventually(t, timeout, "a root pod is refused by PodSecurity restricted", func(ctx context.Context) error {
		_, err := createPod(ctx, pete, ws.Name, pod("rooted", corev1.ResourceRequirements{}))
		switch {
		case err == nil:
			return fmt.Errorf("a root pod was admitted in a restricted namespace")
		case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted`):
			return fmt.Errorf("want a PodSecurity refusal, got: %v", err)
		}
		return nil
	})

	restricted := pod("pooled", corev1.ResourceRequirements{})
	restricted.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](1000),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	restricted.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	created := eventuallyCreatePod(t, pete, "pete", ws.Name, restricted)
	if created.Spec.NodeSelector["tenancy.dev/pool"] != "gpu" {
		t.Errorf("pod node selector = %v, want the workspace's tenancy.dev/pool=gpu added by PodNodeSelector", created.Spec.NodeSelector)
	}
	if !slices.ContainsFunc(created.Spec.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Key == "nvidia.com/gpu" && tol.Effect == corev1.TaintEffectNoSchedule
	}) {
		t.Errorf("pod tolerations = %v, want the workspace's nvidia.com/gpu toleration added by PodTolerationRestriction", created.Spec.Tolerations)
	}

	// A pod asking for another pool conflicts with the namespace's.
	other := restricted.DeepCopy()
	other.Name = "elsewhere"
	other.Spec.NodeSelector = map[string]string{"tenancy.dev/pool": "cpu"}
	if _, err := createPod(t.Context(), pete, ws.Name, other); err == nil || !strings.Contains(err.Error(), "conflicts with its namespace node label selector") {
		t.Errorf("a pod choosing another node pool: err = %v, want refused for conflicting node selector", err)
	}
}
