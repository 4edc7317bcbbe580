//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const gpu corev1.ResourceName = "nvidia.com/gpu"

// The API server enforces the workspace's quota, and the LimitRange lets a
// pod that states no resources in.
func TestQuotaEnforced(t *testing.T) {
	t.Parallel()
	const ns = "quota-bob"
	hard := resources("requests.cpu", "5", "limits.cpu", "10", "requests.memory", "10Gi", "limits.memory", "20Gi")
	ws := workspace(ns, "bob")
	ws.Spec.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: hard}
	createWorkspace(t, ws)
	bob := userClient(t, "bob")

	// The quota admission plugin refuses every pod until
	// kube-controller-manager has counted the quota, which the status
	// mirrors.
	waitQuotaStatus(t, ns, hard)

	plain := eventuallyCreatePod(t, bob, "bob", ns, pod("plain", corev1.ResourceRequirements{}))
	res := plain.Spec.Containers[0].Resources
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := res.Requests[r]; !ok || q.IsZero() {
			t.Errorf("pod without resources: container got no %s request from the LimitRange; resources %v", r, res)
		}
		if q, ok := res.Limits[r]; !ok || q.IsZero() {
			t.Errorf("pod without resources: container got no %s limit from the LimitRange (the quota counts limits.%s); resources %v", r, r, res)
		}
	}

	six := resources("cpu", "6")
	_, err := createPod(t.Context(), bob, ns, pod("too-big", corev1.ResourceRequirements{Requests: six, Limits: six}))
	switch {
	case err == nil:
		t.Errorf("pod asking requests.cpu 6 under a quota of 5 was admitted")
	case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota"):
		t.Errorf("pod asking requests.cpu 6 under a quota of 5: want Forbidden \"exceeded quota\", got %v", err)
	}

	// The status follows what the quota counts.
	want := res.Requests[corev1.ResourceCPU]
	eventually(t, timeout, "status.quota.used[requests.cpu] counts pod plain", func(ctx context.Context) error {
		ws, err := getWorkspace(ctx, ns)
		if err != nil {
			return err
		}
		if ws.Status.Quota == nil {
			return errors.New("no status.quota")
		}
		if got := ws.Status.Quota.Used["requests.cpu"]; got.Cmp(want) != 0 {
			return fmt.Errorf("used requests.cpu %s, want %s", got.String(), want.String())
		}
		return nil
	})
}

// GPUs are counted by the quota and shown as used/hard.
func TestGPUQuota(t *testing.T) {
	t.Parallel()
	const ns = "quota-tom"
	hard := resources("requests.nvidia.com/gpu", "5")
	ws := workspace(ns, "tom")
	ws.Spec.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: hard}
	createWorkspace(t, ws)
	tom := userClient(t, "tom")

	waitQuotaStatus(t, ns, hard)
	waitGPUs(t, ns, "0/5")

	two := resources(string(gpu), "2")
	eventuallyCreatePod(t, tom, "tom", ns, pod("two-gpus", corev1.ResourceRequirements{Requests: two, Limits: two}))
	six := resources(string(gpu), "6")
	_, err := createPod(t.Context(), tom, ns, pod("six-gpus", corev1.ResourceRequirements{Requests: six, Limits: six}))
	switch {
	case err == nil:
		t.Errorf("pod asking 6 GPUs under a quota of 5 was admitted")
	case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota"):
		t.Errorf("pod asking 6 GPUs under a quota of 5: want Forbidden \"exceeded quota\", got %v", err)
	}
	waitGPUs(t, ns, "2/5")
}

// resources builds a ResourceList from name, quantity pairs.
func resources(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

// diffResources says how got differs from want, or returns nil.
func diffResources(want, got corev1.ResourceList) error {
	var diffs []string
	for r, w := range want {
		g, ok := got[r]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s missing (want %s)", r, w.String()))
		case g.Cmp(w) != 0:
			diffs = append(diffs, fmt.Sprintf("%s=%s (want %s)", r, g.String(), w.String()))
		}
	}
	for r, g := range got {
		if _, ok := want[r]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s=%s not wanted", r, g.String()))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	slices.Sort(diffs)
	return errors.New(strings.Join(diffs, ", "))
}

// waitQuotaStatus waits until the workspace's status.quota.hard is want:
// kube-controller-manager has counted the ResourceQuota and the controller
// mirrored it.
func waitQuotaStatus(t *testing.T, name string, want corev1.ResourceList) {
	t.Helper()
	eventually(t, timeout, "Workspace "+name+" status.quota.hard", func(ctx context.Context) error {
		ws, err := getWorkspace(ctx, name)
		if err != nil {
			return err
		}
		if ws.Status.Quota == nil {
			return errors.New("no status.quota")
		}
		return diffResources(want, ws.Status.Quota.Hard)
	})
}

// waitGPUs waits until the workspace's status.gpus is want.
func waitGPUs(t *testing.T, name, want string) {
	t.Helper()
	eventually(t, timeout, "Workspace "+name+" status.gpus", func(ctx context.Context) error {
		ws, err := getWorkspace(ctx, name)
		if err != nil {
			return err
		}
		if ws.Status.GPUs != want {
			return fmt.Errorf("status.gpus %q, want %q", ws.Status.GPUs, want)
		}
		return nil
	})
}

// waitQuotaSpec waits until the workspace's ResourceQuota asks for want.
func waitQuotaSpec(t *testing.T, ns string, want corev1.ResourceList) {
	t.Helper()
	eventually(t, timeout, "ResourceQuota "+ns+"/tenancy spec.hard", func(ctx context.Context) error {
		rq, err := adminCS.CoreV1().ResourceQuotas(ns).Get(ctx, "tenancy", metav1.GetOptions{})
		if err != nil {
			return err
		}
		return diffResources(want, rq.Spec.Hard)
	})
}
