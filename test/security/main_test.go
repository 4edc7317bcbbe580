//go:build integration

// Package security proves, against a real control plane, the guarantees
// of docs/design/security.md: nobody gains through Tenancy a right they do
// not hold, self-serve users keep to their own names, counts and objects,
// a namespace belongs to one Workspace by UID, and a Workspace deleted at
// once leaves nothing behind at the moment it is gone.
package security

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{SelfServe: true, Concurrency: 4}, func(e *testenv.Env) { env = e }))
}

// as returns a client authenticated as user (a client certificate of the
// cluster's CA).
func as(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg, err := env.Cluster.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bind binds user to a ClusterRole cluster-wide for the test's duration.
func bind(t *testing.T, user, role string) {
	t.Helper()
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test:" + user + ":" + strings.ReplaceAll(role, ":", "-")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if err := env.Admin.Create(context.Background(), crb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Admin.Delete(context.Background(), crb) })
}

var useAllClasses sync.Once

// creator is a self-serve user: may create workspaces of every class.
func creator(t *testing.T, user string) client.Client {
	t.Helper()
	useAllClasses.Do(func() {
		role := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "test:use-all-classes"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"tenancy.dev"}, Resources: []string{"workspaceclasses"}, Verbs: []string{install.VerbUse}}},
		}
		if err := env.Admin.Create(context.Background(), role); err != nil {
			t.Fatal(err)
		}
	})
	bind(t, user, install.CreatorRole)
	bind(t, user, "test:use-all-classes")
	return as(t, user)
}

// refused polls until creating obj as c fails with a message containing
// want (admission policies load asynchronously), and fails if it ever
// succeeds.
func refused(t *testing.T, c client.Client, obj client.Object, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "refusal of "+obj.GetName(), func(ctx context.Context) error {
		o := obj.DeepCopyObject().(client.Object)
		err := c.Create(ctx, o, client.DryRunAll)
		switch {
		case err == nil:
			return errors.New("accepted")
		case !strings.Contains(err.Error(), want):
			return err
		}
		return nil
	})
}

func workspace(name, owner string) *tenancyv1.Workspace {
	return &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: owner}},
	}
}

func deleteWorkspace(t *testing.T, name string) {
	t.Helper()
	ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Admin.Delete(context.Background(), ws); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete workspace %s: %v", name, err)
	}
}

func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	testenv.Eventually(t, 2*time.Minute, "deletion of "+obj.GetName(), func(ctx context.Context) error {
		err := env.Admin.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
		if apierrors.IsNotFound(err) {
			return nil
		}
		return errors.New("still there")
	})
}

// waitReason waits until workspace name's Ready condition has reason.
func waitReason(t *testing.T, name, reason string) *tenancyv1.Workspace {
	t.Helper()
	ws := &tenancyv1.Workspace{}
	testenv.Eventually(t, time.Minute, "workspace "+name+" Ready reason "+reason, func(ctx context.Context) error {
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
			return err
		}
		if c := ws.Condition(tenancyv1.ConditionReady); c == nil || c.Reason != reason {
			return errors.New("conditions: " + conditions(ws))
		}
		return nil
	})
	return ws
}

func conditions(ws *tenancyv1.Workspace) string {
	var b strings.Builder
	for _, c := range ws.Status.Conditions {
		b.WriteString(c.Type + "=" + string(c.Status) + "(" + c.Reason + ": " + c.Message + ") ")
	}
	return b.String()
}
