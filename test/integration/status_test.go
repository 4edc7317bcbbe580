//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
)

// The status reports every part for the current generation, and kubectl
// shows it.
func TestStatus(t *testing.T) {
	t.Parallel()
	const ns = "status-ws"
	ws := workspace(ns, "stan")
	ws.Spec.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: resources("requests.nvidia.com/gpu", "3")}
	createWorkspace(t, ws)
	waitReady(t, ns)
	waitGPUs(t, ns, "0/3")
	checkConditions(t, ns)

	// A spec change: every condition moves to the new generation.
	updateWorkspace(t, ns, func(ws *tenancyv1.Workspace) {
		ws.Spec.ResourceQuota.Hard["requests.cpu"] = resources("requests.cpu", "1")["requests.cpu"]
	})
	waitReady(t, ns)
	got := checkConditions(t, ns)
	if got.Generation < 2 {
		t.Errorf("generation %d after a spec change, want 2 or more", got.Generation)
	}

	t.Run("kubectl get workspaces", func(t *testing.T) {
		if _, err := exec.LookPath("kubectl"); err != nil {
			t.Skip("kubectl not on PATH")
		}
		cmd := exec.CommandContext(t.Context(), "kubectl", "--kubeconfig", cluster.AdminKubeconfig(), "get", "workspaces", ns)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl get workspaces: %v\n%s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			t.Fatalf("kubectl get workspaces %s printed %d lines, want a header and one row:\n%s", ns, len(lines), out)
		}
		header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
		if want := []string{"NAME", "OWNER", "READY", "GPUS", "AGE"}; !slices.Equal(header, want) {
			t.Errorf("columns %v, want %v:\n%s", header, want, out)
		}
		if len(row) != 5 || !slices.Equal(row[:4], []string{ns, "stan", "True", "0/3"}) {
			t.Errorf("row %q, want %s stan True 0/3 <age>:\n%s", row, ns, out)
		}
	})
}

// checkConditions fails the test unless every condition, and the status,
// were observed at the workspace's generation and every part is True.
func checkConditions(t *testing.T, name string) *tenancyv1.Workspace {
	t.Helper()
	// Ready is written with the other conditions in one status update, so
	// once Ready is at the generation every condition is.
	return waitWorkspace(t, name, "every condition at the current generation", func(ws *tenancyv1.Workspace) error {
		if ws.Status.ObservedGeneration != ws.Generation {
			return fmt.Errorf("status.observedGeneration %d, generation %d", ws.Status.ObservedGeneration, ws.Generation)
		}
		for _, typ := range []string{
			tenancyv1.ConditionReady, tenancyv1.ConditionNamespace, tenancyv1.ConditionRBAC, tenancyv1.ConditionQuota,
			tenancyv1.ConditionNetwork, tenancyv1.ConditionStorage, tenancyv1.ConditionIstio, tenancyv1.ConditionPlugins,
		} {
			c := ws.Condition(typ)
			switch {
			case c == nil:
				return fmt.Errorf("no %s condition: %s", typ, conditions(ws))
			case c.ObservedGeneration != ws.Generation:
				return fmt.Errorf("%s observedGeneration %d, generation %d", typ, c.ObservedGeneration, ws.Generation)
			case c.Status != metav1.ConditionTrue:
				return fmt.Errorf("%s=%s: %s", typ, c.Status, conditions(ws))
			}
		}
		return nil
	})
}

// A workspace without an owner is applied but not Ready, and says why.
func TestNoOwner(t *testing.T) {
	t.Parallel()
	const ns = "status-orphan"
	createWorkspace(t, &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	waitCondition(t, ns, tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonNoOwner)
	eventually(t, timeout, "namespace "+ns+" created", func(ctx context.Context) error {
		_, err := adminCS.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err
	})
}

// On its way to Ready a healthy workspace never reports a part as failed:
// every status it goes through is watched.
func TestHealthyWorkspaceReportsNoFailure(t *testing.T) {
	t.Parallel()
	const ns = "status-clean"
	wc, err := client.NewWithWatch(cluster.Config(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(t.Context(), &tenancyv1.WorkspaceList{}, client.MatchingFields{"metadata.name": ns})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	createWorkspace(t, workspace(ns, "clea"))

	deadline := time.After(timeout)
	for {
		select {
		case <-deadline:
			t.Fatalf("Workspace %s not Ready after %s", ns, timeout)
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			ws, ok := ev.Object.(*tenancyv1.Workspace)
			if !ok {
				t.Fatalf("watch event %s: %v", ev.Type, ev.Object)
			}
			for _, c := range ws.Status.Conditions {
				if c.Status == metav1.ConditionFalse {
					t.Errorf("status at resourceVersion %s reported %s=False %s: %s", ws.ResourceVersion, c.Type, c.Reason, c.Message)
				}
			}
			if c := ws.Condition(tenancyv1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
				return
			}
		}
	}
}
