//go:build integration

package user_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// grantDeadline bounds how long a disabled or deleted user's certificate
// may still create a workspace.
const grantDeadline = 10 * time.Second

// grantObjectNames are the objects of the create-workspaces grant of user.
func grantObjectNames(user string) (creator, classes string) {
	creator = "tenancy:create-workspaces:user:" + user
	return creator, creator + ":classes"
}

// selfServeWorkspace is a Workspace manifest user may create with a grant.
func selfServeWorkspace(name, user string) string {
	return fmt.Sprintf("apiVersion: tenancy.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: %s\nspec:\n  owner: {kind: User, name: %s}\n  class: standard\n", name, user)
}

// canCreateWorkspace tries, as the kubeconfig's user, a server-side
// dry-run create of a workspace (admission and RBAC run, nothing is kept).
func canCreateWorkspace(t *testing.T, kubeconfig, name, user string) result {
	t.Helper()
	return kubectl(t, kubeconfig, selfServeWorkspace(name, user), "create", "--dry-run=server", "-f", "-")
}

// refusedWithin fails the test unless the kubeconfig's user is refused a
// workspace within grantDeadline.
func refusedWithin(t *testing.T, kubeconfig, name, user, after string) {
	t.Helper()
	var last result
	eventually(t, grantDeadline, user+" is refused a workspace "+after, func(context.Context) (bool, error) {
		last = canCreateWorkspace(t, kubeconfig, name, user)
		return isForbidden(last), nil
	})
}

// grantOwners reads the owner references of user's grant objects; missing
// objects are reported as such.
func grantOwners(ctx context.Context, user string) (map[string][]string, error) {
	creator, classes := grantObjectNames(user)
	out := map[string][]string{}
	for _, o := range []struct {
		what, name string
		obj        client.Object
	}{
		{"ClusterRoleBinding", creator, &rbacv1.ClusterRoleBinding{}},
		{"ClusterRoleBinding", classes, &rbacv1.ClusterRoleBinding{}},
		{"ClusterRole", classes, &rbacv1.ClusterRole{}},
	} {
		o.what += " " + o.name
		name := o.name
		if err := admin.Get(ctx, client.ObjectKey{Name: name}, o.obj); err != nil {
			if apierrors.IsNotFound(err) {
				out[o.what] = []string{"<missing>"}
				continue
			}
			return nil, err
		}
		out[o.what] = []string{}
		for _, r := range o.obj.GetOwnerReferences() {
			out[o.what] = append(out[o.what], r.Kind+"/"+r.Name+"/"+string(r.UID))
		}
	}
	return out, nil
}

// grantGone fails unless every object of user's grant is gone within timeout.
func grantGone(t *testing.T, user string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "the grant objects of "+user+" are gone", func(ctx context.Context) (bool, error) {
		owners, err := grantOwners(ctx, user)
		if err != nil {
			return false, err
		}
		for k, v := range owners {
			if len(v) != 1 || v[0] != "<missing>" {
				return false, fmt.Errorf("%s still exists", k)
			}
		}
		return true, nil
	})
}

// TestGrantFollowsUser: a granted user's certificate may create workspaces;
// `tenancy user disable` suspends the grant, `enable` restores it, and
// `tenancy user delete` removes it — promptly, without waiting for its
// timeout — so the certificate, which Kubernetes cannot revoke, is refused.
func TestGrantFollowsUser(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	kc := filepath.Join(dir, "gina.kubeconfig")
	mustSucceed(t, tenancy(t, dir, "user", "add", "gina"), "Workspace gina is Ready\n")
	mustSucceed(t, tenancy(t, dir, "grant", "create-workspaces", "--user", "gina"), "User gina may create workspaces of class standard\n")

	// The grant is owned by the User.
	u := getUser(t, "gina")
	owners, err := grantOwners(context.Background(), "gina")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range owners {
		if len(v) != 1 || v[0] != "User/gina/"+string(u.UID) {
			t.Errorf("%s: owners %v, want User gina (uid %s)", k, v, u.UID)
		}
	}
	eventually(t, grantDeadline, "gina may create a workspace", func(context.Context) (bool, error) {
		if r := canCreateWorkspace(t, kc, "gina-self", "gina"); r.code != 0 {
			return false, fmt.Errorf("%s", r)
		}
		return true, nil
	})

	start := time.Now()
	mustSucceed(t, tenancy(t, dir, "user", "disable", "gina"), "User gina disabled\n", "User gina's grant to create workspaces is suspended\n")
	refusedWithin(t, kc, "gina-self", "gina", "once disabled")
	t.Logf("disabled gina's grant in %s", time.Since(start).Round(10*time.Millisecond))
	r := tenancy(t, dir, "grant", "list")
	if !regexp.MustCompile(`(?m)^User/gina\s+standard \(suspended: the User is disabled\)$`).MatchString(r.stdout) {
		t.Errorf("grant list does not show gina's grant suspended:\n%s", r)
	}

	mustSucceed(t, tenancy(t, dir, "user", "enable", "gina"), "User gina enabled\n", "User gina may create workspaces again\n")
	mustSucceed(t, canCreateWorkspace(t, kc, "gina-self", "gina"))

	start = time.Now()
	r = tenancy(t, dir, "user", "delete", "gina", "--timeout", "30s")
	mustSucceed(t, r, "Grant create-workspaces of User gina revoked\n", "User gina deleted\n", "Workspace gina is gone\n")
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("user delete took %s", d.Round(time.Second))
	}
	refusedWithin(t, kc, "gina-self", "gina", "once deleted")
	grantGone(t, "gina", time.Second)
	nothingRefersTo(t, "gina", "gina")

	// A grant is all that names an identity with no User: delete takes it.
	mustSucceed(t, tenancy(t, dir, "grant", "create-workspaces", "--user", "gina-oidc"))
	mustSucceed(t, tenancy(t, dir, "user", "delete", "gina-oidc", "--timeout", "30s"), "Grant create-workspaces of User gina-oidc revoked\n")
	grantGone(t, "gina-oidc", time.Second)
	nothingRefersTo(t, "gina-oidc")
}

// TestGrantGoesWithUserDeletedByKubectl: a grant made before its User
// exists is taken over by the User once it does (owner and subjects), a
// grant of an identity with no User is left as it is, and `kubectl delete
// user` takes the grant with it: the certificate is refused within seconds
// and garbage collection deletes the grant's objects.
func TestGrantGoesWithUserDeletedByKubectl(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	adminKC := cluster.AdminKubeconfig()
	creator, _ := grantObjectNames("ida")

	// No User ida yet: an OIDC identity, say. The grant names her as is.
	mustSucceed(t, tenancy(t, dir, "grant", "create-workspaces", "--user", "ida"))
	b := &rbacv1.ClusterRoleBinding{}
	if err := admin.Get(ctx, client.ObjectKey{Name: creator}, b); err != nil {
		t.Fatal(err)
	}
	if len(b.OwnerReferences) != 0 || len(b.Subjects) != 1 || b.Subjects[0].Name != "ida" {
		t.Fatalf("grant of ida with no User: owners %v, subjects %v", b.OwnerReferences, b.Subjects)
	}

	mustSucceed(t, tenancy(t, dir, "user", "add", "ida"), "Workspace ida is Ready\n")
	kc := filepath.Join(dir, "ida.kubeconfig")
	u := getUser(t, "ida")
	eventually(t, grantDeadline, "the controller makes User ida own her grant", func(ctx context.Context) (bool, error) {
		owners, err := grantOwners(ctx, "ida")
		if err != nil {
			return false, err
		}
		for k, v := range owners {
			if len(v) != 1 || v[0] != "User/ida/"+string(u.UID) {
				return false, fmt.Errorf("%s: owners %v", k, v)
			}
		}
		return true, nil
	})
	mustSucceed(t, canCreateWorkspace(t, kc, "ida-self", "ida"))

	// A disabled User's grant names nobody, whoever wrote it last.
	mustSucceed(t, tenancy(t, dir, "user", "disable", "ida"))
	mustSucceed(t, tenancy(t, dir, "grant", "create-workspaces", "--user", "ida", "--all-classes"))
	refusedWithin(t, kc, "ida-self", "ida", "disabled, after a new grant")
	mustSucceed(t, tenancy(t, dir, "user", "enable", "ida"), "User ida may create workspaces again\n")

	start := time.Now()
	mustSucceed(t, kubectl(t, adminKC, "", "delete", "user", "ida", "--wait=false"), `user.tenancy.dev "ida" deleted`)
	refusedWithin(t, kc, "ida-self", "ida", "once kubectl deleted her User")
	t.Logf("ida refused %s after kubectl delete user", time.Since(start).Round(10*time.Millisecond))
	grantGone(t, "ida", time.Minute)

	// What her User's deletion left (her workspace) is cleaned up by the CLI.
	mustSucceed(t, tenancy(t, dir, "user", "delete", "ida", "--timeout", "60s"))
	nothingRefersTo(t, "ida", "ida")
}
