package install

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply server-side applies objs (from Render) in order, as FieldManager,
// taking over fields an earlier writer (an older release) held. Then it
// waits until the CRDs among them are served and the policies among them
// type-checked (and, with mutating policies, applied by the API server).
// Deployments are not waited for: see WaitAvailable.
func Apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	var crds []string
	policies, mutating := false, false
	for _, obj := range objs {
		u := obj.DeepCopy()
		//nolint:staticcheck // Patch with client.Apply is the unstructured form of server-side apply.
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s: %w", u.GetKind(), objectName(u), err)
		}
		switch u.GetKind() {
		case "CustomResourceDefinition":
			crds = append(crds, u.GetName())
		case "ValidatingAdmissionPolicy":
			policies = true
		case "MutatingAdmissionPolicy":
			mutating = true
		}
	}
	if err := waitEstablished(ctx, c, crds); err != nil {
		return err
	}
	if policies {
		if err := waitPolicyChecked(ctx, c, time.Minute); err != nil {
			return err
		}
	}
	if mutating {
		return waitDefaulted(ctx, c, time.Minute)
	}
	return nil
}

func objectName(u *unstructured.Unstructured) string {
	if u.GetNamespace() != "" {
		return u.GetNamespace() + "/" + u.GetName()
	}
	return u.GetName()
}

// waitEstablished waits until the API server serves the CRDs named.
func waitEstablished(ctx context.Context, c client.Client, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, n := range names {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: n}, crd); err != nil {
				return false, nil //nolint:nilerr // not there yet
			}
			established := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	})
}

// Deployments are the names of the Deployments among objs.
func Deployments(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			out = append(out, u.GetName())
		}
	}
	return out
}

// WaitAvailable waits until each Deployment named (in tenancy-system) has
// rolled out: every replica updated and available. Its error says what
// the pods that are not are waiting for.
func WaitAvailable(ctx context.Context, c client.Client, timeout time.Duration, names ...string) error {
	var why string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			d := &appsv1.Deployment{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: SystemNamespace, Name: name}, d); err != nil {
				why = err.Error()
				return false, nil
			}
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			s := d.Status
			if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.AvailableReplicas != want || s.Replicas != want {
				why = fmt.Sprintf("Deployment %s: %d of %d replicas updated and available; %s", name, min(s.UpdatedReplicas, s.AvailableReplicas), want, podsWaiting(ctx, c, name))
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("not rolled out after %s: %s", timeout, why)
	}
	return err
}

// podsWaiting says why name's pods are not ready.
func podsWaiting(ctx context.Context, c client.Client, name string) string {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(SystemNamespace), client.MatchingLabels{LabelName: name}); err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range pods.Items {
		var s strings.Builder
		s.WriteString(string(p.Status.Phase))
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status != corev1.ConditionTrue {
				s.WriteString(" (" + cond.Reason + ": " + cond.Message + ")")
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			switch {
			case cs.State.Waiting != nil:
				s.WriteString(" (" + cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message + ")")
			case cs.State.Terminated != nil:
				fmt.Fprintf(&s, " (exited %d: %s)", cs.State.Terminated.ExitCode, cs.State.Terminated.Message)
			case !cs.Ready:
				fmt.Fprintf(&s, " (not ready, %d restarts)", cs.RestartCount)
			}
		}
		out = append(out, "pod "+p.Name+" "+s.String())
	}
	if len(out) == 0 {
		return "no pods yet"
	}
	return strings.Join(out, "; ")
}
