//go:build integration

package user_test

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// The user files of the Arena multi-user guide, unchanged.
const (
	bobConfig = `quota:
  limits.cpu: "10"
  requests.cpu: "5"
  requests.memory: "10Gi"
  limits.memory: "20Gi"

clusterRoles:
  - apiGroups:
    - batch
    resources:
    - jobs
    verbs:
    - list
`
	tomConfig = `quota:
  requests.nvidia.com/gpu: 5

roles:
  - apiGroups:
    - batch
    resources:
    - jobs
    verbs:
    - list
`
)

// TestArenaScenario is the Arena multi-user guide done with Tenancy: alex
// with the defaults, bob with a CPU/memory quota and the right to list jobs
// cluster-wide, tom with five GPUs and the right to list jobs in his
// namespace (tom with a token, the others with certificates); then tom is
// deleted.
func TestArenaScenario(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "bob.yaml", bobConfig)
	writeFile(t, dir, "tom.yaml", tomConfig)
	alex, bob, tom := filepath.Join(dir, "alex.kubeconfig"), filepath.Join(dir, "bob.kubeconfig"), filepath.Join(dir, "tom.kubeconfig")

	r := tenancy(t, dir, "user", "add", "alex", "--namespace", "workplace1")
	mustSucceed(t, r,
		"User alex created\n",
		"Workspace workplace1 created, owned by User alex\n",
		"Workspace workplace1 is Ready\n",
		"Kubeconfig written to alex.kubeconfig (context alex@localcluster, namespace workplace1)\n",
	)
	if !regexp.MustCompile(`Certificate \(serial [0-9A-F]+\) issued for User alex, valid until \S+ \((29|30)d\)\n`).MatchString(r.stdout) {
		t.Errorf("no certificate line:\n%s", r)
	}
	if m := mode(t, alex); m != 0o600 {
		t.Errorf("alex.kubeconfig has mode %v, want 0600", m)
	}
	t.Logf("tenancy user add alex --namespace workplace1\n%s", r.stdout)

	r = tenancy(t, dir, "user", "add", "bob", "--namespace", "workplace2", "--config", "bob.yaml")
	mustSucceed(t, r, "User bob created\n", "Workspace workplace2 is Ready\n", "Kubeconfig written to bob.kubeconfig")
	t.Logf("tenancy user add bob --namespace workplace2 --config bob.yaml\n%s", r.stdout)
	r = tenancy(t, dir, "user", "add", "tom", "--namespace", "workplace3", "--config", "tom.yaml", "--credential", "token")
	mustSucceed(t, r, "User tom created\n", "Workspace workplace3 is Ready\n",
		"Token of ServiceAccount tenancy-system/user-tom issued for User tom",
		"Kubeconfig written to tom.kubeconfig (context tom@localcluster, namespace workplace3)\n")
	t.Logf("tenancy user add tom --namespace workplace3 --config tom.yaml --credential token\n%s", r.stdout)

	t.Run("alex runs a pod in workplace1 and nothing in workplace2", func(t *testing.T) {
		mustSucceed(t, kubectl(t, alex, "", "run", "web", "--image=busybox", "--restart=Never"), "pod/web created")
		mustSucceed(t, kubectl(t, alex, "", "get", "pods"), "web")
		for _, args := range [][]string{{"get", "pods", "-n", "workplace2"}, {"run", "web", "--image=busybox", "-n", "workplace2"}} {
			r := kubectl(t, alex, "", args...)
			if !isForbidden(r) {
				t.Errorf("alex: kubectl %v: want Forbidden, got\n%s", args, r)
			}
			t.Logf("alex: kubectl %v\n%s", args, r.stderr)
		}
	})
	t.Run("bob lists jobs cluster-wide, tom only in workplace3", func(t *testing.T) {
		mustSucceed(t, kubectl(t, bob, "", "get", "jobs", "-A"))
		r := kubectl(t, tom, "", "get", "jobs", "-A")
		if !isForbidden(r) {
			t.Errorf("tom: kubectl get jobs -A: want Forbidden, got\n%s", r)
		}
		t.Logf("tom: kubectl get jobs -A\n%s", r.stderr)
		mustSucceed(t, kubectl(t, tom, "", "get", "jobs", "-n", "workplace3"))
	})
	t.Run("quota refuses 6 CPUs to bob and 6 GPUs to tom", func(t *testing.T) {
		r := kubectl(t, bob, podManifest("big", map[string]string{"cpu": "6", "memory": "1Gi"}), "create", "-f", "-")
		mustFail(t, r, "exceeded quota", "requests.cpu=6", "limited: requests.cpu=5")
		t.Logf("bob: 6 CPUs\n%s", r.stderr)
		r = kubectl(t, tom, podManifest("gpus", map[string]string{"nvidia.com/gpu": "6"}), "create", "-f", "-")
		mustFail(t, r, "exceeded quota", "requests.nvidia.com/gpu=6", "limited: requests.nvidia.com/gpu=5")
		t.Logf("tom: 6 GPUs\n%s", r.stderr)
		// Within the quota it is admitted: the refusals are the quota's.
		mustSucceed(t, kubectl(t, bob, podManifest("small", map[string]string{"cpu": "2", "memory": "1Gi"}), "create", "-f", "-"), "pod/small created")
		mustSucceed(t, kubectl(t, tom, podManifest("gpus", map[string]string{"nvidia.com/gpu": "5"}), "create", "-f", "-"), "pod/gpus created")
	})

	t.Run("delete tom", func(t *testing.T) {
		r := tenancy(t, dir, "user", "delete", "tom")
		mustSucceed(t, r,
			"Workspace workplace3 deleted\n",
			"ServiceAccount tenancy-system/user-tom deleted\n",
			"User tom deleted\n",
			"Workspace workplace3 is gone\n",
		)
		t.Logf("tenancy user delete tom\n%s", r.stdout)
		// No binding names tom: refused at once. The token's ServiceAccount
		// is gone: once the API server's token cache (10s) forgets it, the
		// token is not even recognised.
		eventually(t, 30*time.Second, "tom's token is Unauthorized", func(context.Context) (bool, error) {
			r := kubectl(t, tom, "", "get", "jobs")
			if !isForbidden(r) && !isUnauthorized(r) {
				t.Fatalf("tom after delete: want Forbidden or Unauthorized, got\n%s", r)
			}
			if isUnauthorized(r) {
				t.Logf("tom after delete: kubectl get jobs\n%s", r.stderr)
			}
			return isUnauthorized(r), nil
		})
		nothingRefersTo(t, "tom", "workplace3")
		// The others are untouched.
		mustSucceed(t, kubectl(t, bob, "", "get", "jobs", "-A"))
	})
}

// TestDeleteCertUserKeepsWorkspaces deletes a user with a certificate who
// contributes to another workspace, keeping their own workspace.
func TestDeleteCertUserKeepsWorkspaces(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	carol := filepath.Join(dir, "carol.kubeconfig")
	mustSucceed(t, tenancy(t, dir, "user", "add", "carol"), "Workspace carol is Ready\n")
	writeFile(t, dir, "dave.yaml", "contributors:\n- name: carol\n  role: edit\n")
	mustSucceed(t, tenancy(t, dir, "user", "add", "dave", "--config", "dave.yaml"), "Workspace dave is Ready\n")
	mustSucceed(t, kubectl(t, carol, "", "get", "pods", "-n", "dave"))

	r := tenancy(t, dir, "user", "delete", "carol", "--keep-workspaces")
	mustSucceed(t, r,
		"Workspace dave: User carol is no longer a contributor\n",
		"Workspace carol kept without an owner\n",
		"CertificateSigningRequest tenancy-carol-",
		"User carol deleted\n",
		"Certificates issued to carol stay valid until they expire (Kubernetes cannot revoke them) but are refused: no binding names User carol any more\n",
	)
	t.Logf("tenancy user delete carol --keep-workspaces\n%s", r.stdout)
	// The certificate still authenticates; nothing is allowed any more.
	for _, ns := range []string{"carol", "dave"} {
		if r := kubectl(t, carol, "", "get", "pods", "-n", ns); !isForbidden(r) {
			t.Errorf("carol after delete, namespace %s: want Forbidden, got\n%s", ns, r)
		}
	}
	eventually(t, time.Minute, "workspace carol Ready=False NoOwner", func(ctx context.Context) (bool, error) {
		got, err := readyReason(ctx, "carol")
		return got == "False/NoOwner", err
	})
	nothingRefersTo(t, "carol")
	mustSucceed(t, kubectl(t, filepath.Join(dir, "dave.kubeconfig"), "", "get", "pods"))
}
