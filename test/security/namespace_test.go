//go:build integration

package security

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

// TestLeftoverNamespaceNotAdopted: a namespace Tenancy made for an earlier
// Workspace of the same name (its labels right, its owner's UID another)
// is deleted, never adopted; the new Workspace gets a namespace of its own.
func TestLeftoverNamespaceNotAdopted(t *testing.T) {
	ctx := context.Background()
	leftover := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   "leftover",
		Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: "leftover"},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: tenancyv1.GroupVersion.String(), Kind: "Workspace", Name: "leftover",
			UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true),
		}},
	}}
	// Something of the earlier owner's inside it: it must not reach the new one.
	if err := env.Admin.Create(ctx, leftover); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "old-owners", Namespace: "leftover"}}
	if err := env.Admin.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	ws := workspace("leftover", "new-owner")
	if err := env.Admin.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, ws.Name)
	waitReason(t, "leftover", tenancyv1.ReasonReconciled)
	ns := &corev1.Namespace{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: "leftover"}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.UID == leftover.UID {
		t.Fatal("the leftover namespace was adopted")
	}
	if got := tenancyv1.ControllerUID(ns); got != ws.UID {
		t.Errorf("namespace owner UID = %q, want the Workspace's %q", got, ws.UID)
	}
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the earlier owner's secret survived into the new workspace (err %v)", err)
	}
}

// TestConflictRetried: a workspace whose name is taken by a namespace that
// is not Tenancy's waits, and becomes Ready by itself within seconds once
// that namespace is gone — no other event needed.
func TestConflictRetried(t *testing.T) {
	ctx := context.Background()
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "taken",
		// Tenancy's labels, but no owner reference: still not ours.
		Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: "taken"}}}
	if err := env.Admin.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	ws := workspace("taken", "alex")
	if err := env.Admin.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, ws.Name)
	waitReason(t, "taken", tenancyv1.ReasonNamespaceConflict)
	if err := env.Admin.Delete(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitReason(t, "taken", tenancyv1.ReasonReconciled)
	t.Logf("Ready %s after the foreign namespace was deleted", time.Since(start).Round(time.Second))
}

// TestStuckTerminating: while a workspace's namespace cannot finish
// terminating, the Workspace says why, in the namespace's own words.
func TestStuckTerminating(t *testing.T) {
	ctx := context.Background()
	ws := workspace("stuck", "alex")
	if err := env.Admin.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	waitReason(t, "stuck", tenancyv1.ReasonReconciled)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: "stuck", Finalizers: []string{"example.com/hold"}}}
	if err := env.Admin.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	deleteWorkspace(t, "stuck")
	got := waitReason(t, "stuck", tenancyv1.ReasonTerminating)
	testenv.Eventually(t, time.Minute, "the namespace's reason quoted", func(ctx context.Context) error {
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "stuck"}, got); err != nil {
			return err
		}
		if msg := got.Condition(tenancyv1.ConditionReady).Message; !strings.Contains(msg, "example.com/hold") {
			return errors.New(msg)
		}
		return nil
	})
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(cm), cm); err != nil {
		t.Fatal(err)
	}
	cm.Finalizers = nil
	if err := env.Admin.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitGone(t, got)
}

// TestFinalizerRemovalKeepsOthers: the controller removes only its own
// finalizer, and a removal computed from a stale copy is refused by the
// API server instead of dropping a finalizer added since.
func TestFinalizerRemovalKeepsOthers(t *testing.T) {
	ctx := context.Background()
	ws := workspace("fin", "alex")
	ws.Finalizers = []string{"example.com/keep"}
	if err := env.Admin.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	waitReason(t, "fin", tenancyv1.ReasonReconciled)
	deleteWorkspace(t, "fin")
	testenv.Eventually(t, time.Minute, "only Tenancy's finalizer removed", func(ctx context.Context) error {
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "fin"}, ws); err != nil {
			return err
		}
		if fmt.Sprint(ws.Finalizers) != "[example.com/keep]" {
			return fmt.Errorf("finalizers %v", ws.Finalizers)
		}
		return nil
	})
	ws.Finalizers = nil
	if err := env.Admin.Update(ctx, ws); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ws)
}

// TestFastDelete: workspaces deleted the moment they are created, many at
// once, leave nothing behind at the moment each Workspace is gone: its
// namespace is gone or terminating and no cluster-scoped object of it
// remains (kubernetes#77988: a DELETE could skip a finalizer added while it
// was in flight; the finalizer now comes at admission).
func TestFastDelete(t *testing.T) {
	const n, workers = 100, 8
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	wc, err := client.NewWithWatch(env.Cluster.Config(), client.Options{Scheme: env.Admin.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &tenancyv1.WorkspaceList{}, client.MatchingLabels{"test": "fast-delete"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	names := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for name := range names {
				ws := workspace(name, "alex")
				ws.Labels = map[string]string{"test": "fast-delete"}
				ws.Spec.ClusterRules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}}
				if err := env.Admin.Create(ctx, ws); err != nil {
					t.Errorf("create %s: %v", name, err)
					continue
				}
				// From at once to while the controller is at work on it.
				time.Sleep(time.Duration(len(ws.UID)%2+int(ws.UID[0])%8) * 5 * time.Millisecond)
				if err := env.Admin.Delete(ctx, ws, client.Preconditions{UID: &ws.UID}); err != nil {
					t.Errorf("delete %s: %v", name, err)
				}
			}
		})
	}
	go func() {
		for i := range n {
			names <- fmt.Sprintf("fast-%03d", i)
		}
		close(names)
	}()

	gone := 0
	for gone < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d of %d workspaces were gone", gone, n)
			}
			if ev.Type != watch.Deleted {
				continue
			}
			gone++
			name := ev.Object.(*tenancyv1.Workspace).Name
			// At this moment: nothing of it may remain.
			left, err := testenv.Leftovers(ctx, env.Admin, name)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Errorf("workspace %s is gone but %s remain", name, strings.Join(left, ", "))
			}
		case <-ctx.Done():
			t.Fatalf("only %d of %d workspaces were gone in time", gone, n)
		}
	}
	wg.Wait()

	// Nor does anything of them appear afterwards (a reconcile still in
	// flight when its Workspace went).
	time.Sleep(3 * time.Second)
	crbs := &rbacv1.ClusterRoleBindingList{}
	if err := env.Admin.List(ctx, crbs, client.HasLabels{tenancyv1.LabelWorkspace}); err != nil {
		t.Fatal(err)
	}
	for _, b := range crbs.Items {
		if strings.HasPrefix(b.Labels[tenancyv1.LabelWorkspace], "fast-") {
			t.Errorf("ClusterRoleBinding %s of a deleted workspace appeared after it was gone", b.Name)
		}
	}
	nss := &corev1.NamespaceList{}
	if err := env.Admin.List(ctx, nss); err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss.Items {
		if strings.HasPrefix(ns.Name, "fast-") && ns.DeletionTimestamp.IsZero() {
			t.Errorf("namespace %s of a deleted workspace is not terminating", ns.Name)
		}
	}
}
