//go:build integration

package security

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/jobs"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

func class(t *testing.T, name string, mutate func(*tenancyv1.WorkspaceClass)) {
	t.Helper()
	c := &tenancyv1.WorkspaceClass{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if mutate != nil {
		mutate(c)
	}
	if err := env.Admin.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Admin.Delete(context.Background(), c) })
}

// TestSelfServeMetadata: a self-serve user may not put a finalizer or an
// owner reference on a workspace (either would take it out of its owner's
// hands), nor forge who created it.
func TestSelfServeMetadata(t *testing.T) {
	class(t, "meta", nil)
	c := creator(t, "meta-user")

	ws := workspace("meta-fin", "meta-user")
	ws.Spec.Class = "meta"
	ws.Finalizers = []string{"example.com/never"}
	refused(t, c, ws, "you may not set metadata.finalizers")

	ws = workspace("meta-own", "meta-user")
	ws.Spec.Class = "meta"
	ws.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "1234"}}
	refused(t, c, ws, "you may not set metadata.ownerReferences")

	// The creator annotation is the API server's: a forged one is
	// overwritten on create, and may not be changed later.
	ws = workspace("meta-created", "meta-user")
	ws.Spec.Class = "meta"
	ws.Annotations = map[string]string{tenancyv1.AnnotationCreatedBy: "somebody-else"}
	testenv.Eventually(t, 30*time.Second, "create with a forged creator", func(ctx context.Context) error {
		o := ws.DeepCopy()
		if err := c.Create(ctx, o, client.DryRunAll); err != nil {
			return err
		}
		if got := o.Annotations[tenancyv1.AnnotationCreatedBy]; got != "meta-user" {
			return fmt.Errorf("created-by = %q, want meta-user", got)
		}
		if !slices.Contains(o.Finalizers, tenancyv1.Finalizer) {
			return fmt.Errorf("finalizers = %v, want %s from admission", o.Finalizers, tenancyv1.Finalizer)
		}
		return nil
	})
	ws = workspace("meta-created", "meta-user")
	ws.Spec.Class = "meta"
	if err := c.Create(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, ws.Name)
	ws.Annotations[tenancyv1.AnnotationCreatedBy] = "somebody-else"
	if err := c.Update(context.Background(), ws); err == nil || !strings.Contains(err.Error(), "is set by the API server") {
		t.Errorf("changing the creator annotation: err = %v, want a refusal", err)
	}
}

// TestReservedNames: self-serve users may not squat the namespaces of the
// cluster and of well-known add-ons, nor names the admin adds in
// tenancy-system/tenancy-reserved-names, nor names outside their class's
// pattern. A Tenancy admin may.
func TestReservedNames(t *testing.T) {
	class(t, "names", nil)
	class(t, "teams", func(c *tenancyv1.WorkspaceClass) { c.Spec.WorkspaceNamePattern = "^team-[a-z0-9-]+$" })
	c := creator(t, "squatter")
	for _, name := range []string{"istio-system", "cert-manager", "monitoring", "kubeflow", "knative-serving", "gpu-operator", "argocd", "tigera-operator", "ingress-nginx"} {
		ws := workspace(name, "squatter")
		ws.Spec.Class = "names"
		refused(t, c, ws, "is reserved for the cluster and its add-ons")
	}
	ws := workspace("cert-manager", "squatter")
	if err := env.Admin.Create(context.Background(), ws, client.DryRunAll); err != nil {
		t.Errorf("a Tenancy admin was refused a reserved name: %v", err)
	}

	// The admin's own additions.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: install.SystemNamespace}}
	if err := env.Admin.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: install.ReservedNamesConfigMap, Namespace: install.SystemNamespace},
		Data:       map[string]string{"names": "finance,\nsecret-*"},
	}
	if err := env.Admin.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Admin.Delete(context.Background(), cm) }()
	for _, name := range []string{"finance", "secret-lab"} {
		ws := workspace(name, "squatter")
		ws.Spec.Class = "names"
		refused(t, c, ws, "in ConfigMap tenancy-system/tenancy-reserved-names")
	}

	// A class's pattern.
	ws = workspace("lab", "squatter")
	ws.Spec.Class = "teams"
	refused(t, c, ws, "does not match ^team-[a-z0-9-]+$")
	ok := workspace("team-lab", "squatter")
	ok.Spec.Class = "teams"
	if err := c.Create(context.Background(), ok, client.DryRunAll); err != nil {
		t.Errorf("a name matching the class pattern was refused: %v", err)
	}
	ok = workspace("my-lab", "squatter")
	ok.Spec.Class = "names"
	if err := c.Create(context.Background(), ok, client.DryRunAll); err != nil {
		t.Errorf("an ordinary name was refused: %v", err)
	}
}

// TestDefaultClassAtAdmission: the Kubeflow CUJ's Profile, a Workspace
// naming only its owner, is given the default class at admission, and the
// check that the user may use that class still holds.
func TestDefaultClassAtAdmission(t *testing.T) {
	class(t, "fallback", func(c *tenancyv1.WorkspaceClass) {
		c.Annotations = map[string]string{tenancyv1.AnnotationIsDefaultClass: "true"}
	})
	c := creator(t, "kf-user")
	ws := workspace("kf-user-ws", "kf-user")
	testenv.Eventually(t, 30*time.Second, "default class set at admission", func(ctx context.Context) error {
		o := ws.DeepCopy()
		if err := c.Create(ctx, o, client.DryRunAll); err != nil {
			return err
		}
		if o.Spec.Class != "fallback" {
			return fmt.Errorf("spec.class = %q, want fallback", o.Spec.Class)
		}
		return nil
	})
	// Somebody who may not use the default class is still refused.
	bind(t, "no-class-user", install.CreatorRole)
	refused(t, as(t, "no-class-user"), workspace("no-class-ws", "no-class-user"), "you may not create workspaces of WorkspaceClass fallback")
}

// TestOwnerLimit: a self-serve user's workspaces past the class's
// maxWorkspacesPerOwner are not provisioned, counting those an admin made
// for them; when one goes, the next is provisioned by itself. An admin's
// workspace for the user is never held back.
func TestOwnerLimit(t *testing.T) {
	class(t, "two", func(c *tenancyv1.WorkspaceClass) { c.Spec.MaxWorkspacesPerOwner = ptr.To[int32](2) })
	c := creator(t, "hoarder")
	ctx := context.Background()

	byAdmin := workspace("hoard-admin", "hoarder")
	byAdmin.Spec.Class = "two"
	if err := env.Admin.Create(ctx, byAdmin); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, byAdmin.Name)
	time.Sleep(1100 * time.Millisecond) // creation order is by the second
	for i := 1; i <= 2; i++ {
		ws := workspace(fmt.Sprintf("hoard-%d", i), "hoarder")
		ws.Spec.Class = "two"
		if err := c.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		defer deleteWorkspace(t, ws.Name)
		time.Sleep(1100 * time.Millisecond)
	}
	waitReason(t, "hoard-admin", tenancyv1.ReasonReconciled)
	waitReason(t, "hoard-1", tenancyv1.ReasonReconciled)
	over := waitReason(t, "hoard-2", tenancyv1.ReasonOwnerLimitExceeded)
	msg := over.Condition(tenancyv1.ConditionReady).Message
	if !strings.Contains(msg, "hoarder owns 3 workspaces and WorkspaceClass two allows 2 per owner") {
		t.Errorf("message = %q", msg)
	}
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: "hoard-2"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("the workspace over the limit has a namespace (err %v)", err)
	}

	// An admin may always add one for the user.
	extra := workspace("hoard-admin-2", "hoarder")
	extra.Spec.Class = "two"
	if err := env.Admin.Create(ctx, extra); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, extra.Name)
	waitReason(t, "hoard-admin-2", tenancyv1.ReasonReconciled)

	// In creation order: hoard-admin, hoard-1, hoard-2, hoard-admin-2.
	// With hoard-1 gone, hoard-2 is second and within the limit.
	deleteWorkspace(t, "hoard-1")
	waitReason(t, "hoard-2", tenancyv1.ReasonReconciled)
}

// TestJobSubmitterUnforgeable: a Job's tenancy.dev/submitted-by names
// whoever created it; nobody, not even a cluster admin, sets it to another
// name or changes it.
func TestJobSubmitterUnforgeable(t *testing.T) {
	ctx := context.Background()
	ws := workspace("jobs-ws", "jobber")
	if err := env.Admin.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, ws.Name)
	waitReason(t, ws.Name, tenancyv1.ReasonReconciled)
	c := as(t, "jobber")
	job := func(submitter string) *batchv1.Job {
		j := jobs.Build("jobs-ws", submitter, jobs.Submission{Name: "j-" + submitter, Command: []string{"true"}})
		j.Spec.Suspend = ptr.To(true) // nothing needs to run
		return j
	}
	refused(t, c, job("somebody-else"), "must name you, who submit the job: set it to jobber")
	own := job("jobber")
	testenv.Eventually(t, 30*time.Second, "creating one's own job", func(ctx context.Context) error {
		return c.Create(ctx, own.DeepCopy())
	})
	got := &batchv1.Job{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: "jobs-ws", Name: own.Name}, got); err != nil {
		t.Fatal(err)
	}
	// A patch, not an update: the Job controller writes the Job meanwhile.
	before := got.DeepCopy()
	got.Annotations[jobs.AnnotationSubmittedBy] = "root"
	if err := env.Admin.Patch(ctx, got, client.MergeFrom(before)); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Errorf("a cluster admin changed the submitter: %v", err)
	}
}

// TestOrphanDeleteCompletes: deleting a self-serve workspace with
// propagationPolicy Orphan finishes. The API server puts its "orphan"
// finalizer on the workspace and only the garbage collector removes it;
// the self-serve policy, which lets nobody else change finalizers, must
// not refuse the garbage collector (it did, and the workspace hung in
// deletion for good).
func TestOrphanDeleteCompletes(t *testing.T) {
	class(t, "orphan", nil)
	c := creator(t, "orphan-user")
	ws := workspace("orphan-ws", "orphan-user")
	ws.Spec.Class = "orphan"
	if err := c.Create(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	defer deleteWorkspace(t, ws.Name)
	if err := c.Delete(context.Background(), ws, client.PropagationPolicy(metav1.DeletePropagationOrphan)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ws)
}
