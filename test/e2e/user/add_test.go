//go:build integration

package user_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// TestAddRefusesBadInput: wrong input gets one message naming what is
// wrong, a non-zero exit code, and nothing is created.
func TestAddRefusesBadInput(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	writeFile(t, dir, "typo.yaml", "quotas:\n  requests.cpu: \"10\"\n")
	writeFile(t, dir, "ten.yaml", "quota:\n  requests.cpu: ten\n")
	writeFile(t, dir, "rule.yaml", "roles:\n  - apiGroups: [batch]\n    resource: [jobs]\n    verbs: [list]\n")
	// Somebody else's workspace, and a namespace Tenancy did not make.
	if err := admin.Create(ctx, &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: "olgas"},
		Spec:       tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "olga"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}}); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		user string
		args []string
		want string
	}{
		"unknown config key": {"eve1", []string{"--config", "typo.yaml"},
			`error: typo.yaml: unknown key "quotas" (known keys: "quota", "roles", "clusterRoles", "class", "ownerRole", "groups", "contributors", "limitRange")`},
		"bad quantity": {"eve2", []string{"--config", "ten.yaml"},
			`error: ten.yaml: quota "requests.cpu": "ten" is not a quantity (e.g. "10" or "500m")`},
		"unknown key in a rule": {"eve3", []string{"--config", "rule.yaml"}, `error: rule.yaml: roles[0]: unknown key "resource"`},
		"missing config file":   {"eve4", []string{"--config", "nope.yaml"}, "error: read user config: open nope.yaml: no such file or directory"},
		"someone else's workspace": {"eve5", []string{"--namespace", "olgas"},
			`error: namespace "olgas" is the workspace of User olga: choose another --namespace`},
		"a namespace that is not a workspace": {"eve6", []string{"--namespace", "legacy"},
			`error: namespace "legacy" already exists and is not a Tenancy workspace: choose another --namespace`},
		"reserved namespace": {"eve7", []string{"--namespace", "kube-system"}, `error: --namespace "kube-system" is reserved for the system`},
		"uppercase name":     {"Eve", nil, `error: user name "Eve" is not valid: use at most 63 lowercase letters, digits, '-' or '.'`},
		"system name":        {"system:eve", nil, `error: user name "system:eve": names starting with "system:" are Kubernetes' own`},
		"long name":          {strings.Repeat("e", 64), nil, "is not valid: use at most 63"},
		"ttl too short":      {"eve8", []string{"--ttl", "5m"}, "error: --ttl 5m0s is too short: Kubernetes issues certificates and tokens for at least 10m0s (expirationSeconds >= 600)"},
		"ttl not a duration": {"eve9", []string{"--ttl", "a month"}, `invalid argument "a month" for "--ttl" flag`},
		"unknown credential": {"eve10", []string{"--credential", "password"}, `error: --credential "password" is not cert or token`},
		"unknown class":      {"eve11", []string{"--class", "gold"}, `error: --class: WorkspaceClass "gold" does not exist`},
		"system group":       {"eve12", []string{"--group", "system:masters"}, `error: --group: group "system:masters": groups starting with "system:" are Kubernetes' own`},
		"bad cluster url":    {"eve13", []string{"--cluster-url", "k8s:6443"}, `error: --cluster-url "k8s:6443" is not an https:// URL`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := tenancy(t, dir, append([]string{"user", "add", tc.user}, tc.args...)...)
			mustFail(t, r, tc.want)
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 {
				t.Errorf("want one line on stderr, got %d:\n%s", n+1, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r.stdout)
			}
			nothingRefersTo(t, tc.user, tc.user)
			noFile(t, filepath.Join(dir, tc.user+".kubeconfig"))
		})
	}
	t.Run("no name", func(t *testing.T) {
		mustFail(t, tenancy(t, dir, "user", "add"), "error: 'tenancy user add' takes exactly one user name, e.g. 'tenancy user add alex'; got 0 arguments")
	})
	// The workspace and namespace that were refused are left as they were.
	if ws := getWorkspace(t, "olgas"); ws.Spec.Owner.Name != "olga" || ws.Labels[tenancyv1.LabelUser] != "" {
		t.Errorf("workspace olgas changed: %+v", ws)
	}
	ns := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "legacy"}, ns); err != nil || ns.Labels[tenancyv1.LabelManagedBy] != "" {
		t.Errorf("namespace legacy changed: %v %v", ns.Labels, err)
	}
}

// TestAddForce: an existing user is not changed without --force; with it,
// the user and the workspace follow the new file.
func TestAddForce(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	writeFile(t, dir, "two.yaml", "quota:\n  requests.cpu: \"2\"\n")
	writeFile(t, dir, "three.yaml", "quota:\n  requests.cpu: \"3\"\ngroups: [ml]\n")
	quota := func() string {
		q := &corev1.ResourceQuota{}
		list := &corev1.ResourceQuotaList{}
		if err := admin.List(ctx, list, client.InNamespace("frank")); err != nil || len(list.Items) != 1 {
			t.Fatalf("list ResourceQuotas in frank: %d, %v", len(list.Items), err)
		}
		q = &list.Items[0]
		v := q.Spec.Hard[corev1.ResourceRequestsCPU]
		return v.String()
	}

	mustSucceed(t, tenancy(t, dir, "user", "add", "frank", "--config", "two.yaml"), "User frank created\n")
	if got := quota(); got != "2" {
		t.Errorf("requests.cpu quota %s, want 2", got)
	}
	r := tenancy(t, dir, "user", "add", "frank", "--config", "three.yaml")
	mustFail(t, r, "error: user frank exists; use --force to update it\n")
	if got := quota(); got != "2" {
		t.Errorf("requests.cpu quota %s after a refused add, want 2", got)
	}

	r = tenancy(t, dir, "user", "add", "frank", "--config", "three.yaml", "--force")
	mustSucceed(t, r, "User frank updated\n", "Workspace frank updated\n", "Workspace frank is Ready\n", "Kubeconfig written to frank.kubeconfig")
	if got := quota(); got != "3" {
		t.Errorf("requests.cpu quota %s after --force, want 3", got)
	}
	u := getUser(t, "frank")
	if !cmp.Equal(u.Spec.Groups, []string{"ml"}) || len(u.Status.Credentials) != 2 {
		t.Errorf("User frank: groups %v, %d credentials; want [ml] and 2", u.Spec.Groups, len(u.Status.Credentials))
	}
	// The new certificate carries the group.
	mustSucceed(t, kubectl(t, filepath.Join(dir, "frank.kubeconfig"), "", "auth", "whoami"), "frank", "ml")
}

// TestAddRollsBack: when the workspace does not get Ready in time, what the
// run created is removed again.
func TestAddRollsBack(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	r := tenancy(t, dir, "user", "add", "gus", "--timeout", "1ms")
	mustFail(t, r, "error: workspace gus is not Ready after 1ms",
		"Rolled back: deleted Workspace gus\n", "Rolled back: deleted User gus\n")
	stdoutHas(t, r, "User gus created\n", "Workspace gus created, owned by User gus\n")
	nothingRefersTo(t, "gus", "gus")
	noFile(t, filepath.Join(dir, "gus.kubeconfig"))

	// A certificate the cluster does not sign in time: the message says so
	// and what to do, and the user and workspace are removed again.
	r = tenancy(t, dir, "user", "add", "kim", "--sign-timeout", "1ms")
	mustFail(t, r, "error: the cluster did not sign CertificateSigningRequest tenancy-kim-",
		"within 1ms: it may have no signer for kubernetes.io/kube-apiserver-client; use --credential token instead",
		"Rolled back: deleted Workspace kim\n", "Rolled back: deleted User kim\n")
	stdoutHas(t, r, "Workspace kim is Ready\n")
	nothingRefersTo(t, "kim", "kim")
	noFile(t, filepath.Join(dir, "kim.kubeconfig"))
}

// TestDryRun: --dry-run prints the User and Workspace and changes nothing;
// applied with kubectl, they are the same as what a real run makes.
func TestDryRun(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hal.yaml", tomConfig+"groups: [ml]\ncontributors:\n- name: alex\n  role: view\nlimitRange:\n  defaultRequest:\n    cpu: 200m\n")
	args := []string{"user", "add", "hal", "--namespace", "hal-ws", "--config", "hal.yaml", "--group", "gpu-users"}

	r := tenancy(t, dir, append(args, "--dry-run")...)
	mustSucceed(t, r, "---\napiVersion: tenancy.dev/v1alpha1\nkind: User\n", "---\napiVersion: tenancy.dev/v1alpha1\nkind: Workspace\n")
	if r.stderr != "" || strings.Contains(r.stdout, "status") || strings.Contains(r.stdout, "creationTimestamp") {
		t.Errorf("dry-run output has more than the manifests:\n%s", r)
	}
	t.Logf("tenancy user add hal … --dry-run\n%s", r.stdout)
	nothingRefersTo(t, "hal", "hal-ws")
	noFile(t, filepath.Join(dir, "hal.kubeconfig"))

	manifest := writeFile(t, dir, "hal-manifest.yaml", r.stdout)
	mustSucceed(t, kubectl(t, cluster.AdminKubeconfig(), "", "apply", "-f", manifest),
		"user.tenancy.dev/hal created", "workspace.tenancy.dev/hal-ws created")
	applied := snapshot(t, "hal", "hal-ws")
	// The credential comes after: kubeconfig waits until hal may use the workspace.
	mustSucceed(t, tenancy(t, dir, "user", "kubeconfig", "hal"), "Kubeconfig written to hal.kubeconfig (context hal@localcluster, namespace hal-ws)\n")
	mustSucceed(t, kubectl(t, filepath.Join(dir, "hal.kubeconfig"), "", "get", "jobs"))
	mustSucceed(t, tenancy(t, dir, "user", "delete", "hal"), "Workspace hal-ws is gone\n")

	mustSucceed(t, tenancy(t, dir, args...), "Workspace hal-ws is Ready\n")
	if diff := cmp.Diff(applied, snapshot(t, "hal", "hal-ws")); diff != "" {
		t.Errorf("kubectl apply of the dry run differs from the real run (-applied +real):\n%s", diff)
	}
	ws := getWorkspace(t, "hal-ws")
	if q := ws.Spec.ResourceQuota.Hard["requests.nvidia.com/gpu"]; q.Cmp(resource.MustParse("5")) != 0 || len(ws.Spec.Rules) != 1 || len(ws.Spec.Contributors) != 1 {
		t.Errorf("workspace hal-ws spec %+v", ws.Spec)
	}
}

// declared is what a User and its Workspace declare.
type declared struct {
	UserLabels, WorkspaceLabels map[string]string
	User                        tenancyv1.UserSpec
	Workspace                   tenancyv1.WorkspaceSpec
}

func snapshot(t *testing.T, user, ws string) declared {
	t.Helper()
	u, w := getUser(t, user), getWorkspace(t, ws)
	return declared{UserLabels: u.Labels, WorkspaceLabels: w.Labels, User: u.Spec, Workspace: w.Spec}
}
