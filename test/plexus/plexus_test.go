//go:build integration

// Package plexus proves the Plexus cluster requirements (seed 004) with
// one `tenancy user add`: the exact workload-manager Role and nothing
// more, read-only nodes and namespaces, the user's RWX volume in every pod,
// kubectl cp, Deployments and Jobs, GPU and CPU pools, and exposed ports
// under quota. Real control plane, process nodes that really run pods, the
// built binary and kubectl as a person runs them.
package plexus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{Binary: true, ProcessNodes: localcluster.DefaultNodes(2, 1)}, func(e *testenv.Env) { env = e }))
}

// The user file of the Plexus worked example in the README.
const plexusFile = `class: plexus
ownerRole: workload-manager
clusterRoles:
  - apiGroups: [""]
    resources: ["nodes", "namespaces"]
    verbs: ["get", "list", "watch"]
`

// run runs a program in dir with no KUBECONFIG of the environment.
func run(t *testing.T, dir, stdin, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestPlexus(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	class := &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "plexus"},
		Spec: tenancyv1.WorkspaceClassSpec{
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				"requests.cpu": resource.MustParse("8"), "requests.memory": resource.MustParse("16Gi"),
				"requests.nvidia.com/gpu": resource.MustParse("2"),
				"services.nodeports":      resource.MustParse("1"), "services.loadbalancers": resource.MustParse("0"),
			}},
			Storage: &tenancyv1.StorageSpec{Size: resource.MustParse("1Gi"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}},
		},
	}
	if err := env.Admin.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plexus.yaml"), []byte(plexusFile), 0o644); err != nil {
		t.Fatal(err)
	}
	admin := env.Cluster.AdminKubeconfig()
	if out, err := run(t, dir, "", env.Tenancy(), "user", "add", "plexus", "--config", "plexus.yaml", "--kubeconfig", admin); err != nil {
		t.Fatalf("tenancy user add plexus: %v\n%s", err, out)
	}
	kc := filepath.Join(dir, "plexus.kubeconfig")
	kubectl := func(args ...string) (string, error) {
		return run(t, dir, "", "kubectl", append([]string{"--kubeconfig", kc}, args...)...)
	}
	// canI is kubectl auth can-i's answer, its last line (warnings come first).
	canI := func(args ...string) string {
		out, _ := kubectl(append([]string{"auth", "can-i"}, args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}

	t.Run("the exact workload-manager rights, and no more", func(t *testing.T) {
		yes := [][]string{
			{"create", "deployments.apps"}, {"patch", "deployments.apps/status"}, {"delete", "replicasets.apps"},
			{"create", "statefulsets.apps"}, {"create", "pods"}, {"get", "pods/log"}, {"create", "pods/exec"},
			{"create", "pods/portforward"}, {"list", "events"}, {"create", "services"}, {"update", "services/status"},
			{"create", "jobs.batch"}, {"update", "jobs.batch/status"}, {"create", "persistentvolumeclaims"},
			{"get", "secrets"}, {"create", "networkpolicies.networking.k8s.io"},
			{"list", "resourcequotas"}, {"list", "limitranges"},
		}
		for _, v := range yes {
			if out := canI(v[0], v[1], "-n", "plexus"); out != "yes" {
				t.Errorf("plexus may not %s %s in plexus: %s", v[0], v[1], out)
			}
		}
		// Datashim is not installed, so kubectl cannot map its resource: ask
		// the API server directly.
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "plexus", Verb: "create", Group: "com.ie.ibm.hpsys", Resource: "datasets"},
		}}
		if err := userClient(t).Create(ctx, review); err != nil || !review.Status.Allowed {
			t.Errorf("plexus may not create datasets.com.ie.ibm.hpsys: %v %+v", err, review.Status)
		}
		for _, v := range [][]string{{"list", "nodes"}, {"watch", "nodes"}, {"get", "namespaces"}} {
			if out := canI(v[0], v[1]); out != "yes" {
				t.Errorf("plexus may not %s %s cluster-wide: %s", v[0], v[1], out)
			}
		}
		no := [][]string{
			{"create", "rolebindings", "-n", "plexus"}, {"create", "roles", "-n", "plexus"},
			{"update", "resourcequotas", "-n", "plexus"}, {"delete", "limitranges", "-n", "plexus"},
			{"get", "resourcequotas", "-n", "plexus"}, {"create", "configmaps", "-n", "plexus"},
			{"get", "pods", "-n", "default"}, {"create", "deployments.apps", "-n", "default"},
			{"create", "clusterrolebindings"}, {"delete", "nodes"}, {"create", "namespaces"},
			{"patch", "workspaces.tenancy.dev/plexus"},
		}
		for _, v := range no {
			if out := canI(v...); out != "no" {
				t.Errorf("plexus may %s: %s", strings.Join(v, " "), out)
			}
		}
	})

	ws := &tenancyv1.Workspace{}
	testenv.Eventually(t, 2*time.Minute, "workspace plexus Ready", func(ctx context.Context) error {
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "plexus"}, ws); err != nil {
			return err
		}
		if c := ws.Condition(tenancyv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("not Ready: %+v", ws.Status.Conditions)
		}
		return nil
	})
	if ws.Status.OwnerRole != tenancyv1.WorkloadManagerClusterRole {
		t.Errorf("status.ownerRole = %q", ws.Status.OwnerRole)
	}

	t.Run("the user's volume in every pod, shared", func(t *testing.T) {
		deploy := `apiVersion: apps/v1
kind: Deployment
metadata: {name: writers, namespace: plexus}
spec:
  replicas: 2
  selector: {matchLabels: {app: writers}}
  template:
    metadata: {labels: {app: writers}}
    spec:
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "echo hello from $HOSTNAME > /workspace/$HOSTNAME; exec sleep 3600"]
`
		if out, err := run(t, dir, deploy, "kubectl", "--kubeconfig", kc, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v\n%s", err, out)
		}
		var pods []corev1.Pod
		testenv.Eventually(t, 2*time.Minute, "two writers Running", func(ctx context.Context) error {
			list := &corev1.PodList{}
			if err := env.Admin.List(ctx, list, client.InNamespace("plexus"), client.MatchingLabels{"app": "writers"}); err != nil {
				return err
			}
			pods = nil
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp.IsZero() {
					pods = append(pods, p)
				}
			}
			if len(pods) != 2 {
				return fmt.Errorf("%d of 2 Running", len(pods))
			}
			return nil
		})
		for _, p := range pods {
			found := false
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "workspace" {
					found = true
				}
			}
			mounted := false
			for _, m := range p.Spec.Containers[0].VolumeMounts {
				mounted = mounted || m.MountPath == tenancyv1.DefaultMountPath
			}
			if !found || !mounted {
				t.Fatalf("pod %s: workspace claim in volumes %v, mounted at /workspace %v", p.Name, found, mounted)
			}
		}
		// What one wrote, the other reads.
		testenv.Eventually(t, time.Minute, "one pod reads the other's file", func(context.Context) error {
			out, err := kubectl("-n", "plexus", "exec", pods[0].Name, "--", "cat", "/workspace/"+pods[1].Name)
			if err != nil || !strings.Contains(out, "hello from "+pods[1].Name) {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})

		// kubectl cp, both ways.
		if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("copied in\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := kubectl("cp", "in.txt", "plexus/"+pods[0].Name+":/workspace/in.txt"); err != nil {
			t.Fatalf("kubectl cp in: %v\n%s", err, out)
		}
		if out, err := kubectl("cp", "plexus/"+pods[1].Name+":/workspace/in.txt", "out.txt"); err != nil {
			t.Fatalf("kubectl cp out: %v\n%s", err, out)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "copied in\n" {
			t.Errorf("kubectl cp round trip: %q, %v", b, err)
		}

		// A pod that opts out is left alone.
		optOut := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "no-volume", Namespace: "plexus", Annotations: map[string]string{"tenancy.dev/workspace-volume": "false"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"true"}}}},
		}
		if err := env.Admin.Create(ctx, optOut); err != nil {
			t.Fatal(err)
		}
		for _, v := range optOut.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				t.Errorf("an opted-out pod got the volume %s", v.Name)
			}
		}
	})

	t.Run("exposed ports under quota", func(t *testing.T) {
		svc := func(name string, typ corev1.ServiceType) *corev1.Service {
			return &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "plexus"},
				Spec:       corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": "writers"}, Ports: []corev1.ServicePort{{Port: 8080}}},
			}
		}
		user := userClient(t)
		if err := user.Create(ctx, svc("web", corev1.ServiceTypeNodePort)); err != nil {
			t.Fatalf("the first NodePort service: %v", err)
		}
		for _, s := range []*corev1.Service{svc("web-2", corev1.ServiceTypeNodePort), svc("lb", corev1.ServiceTypeLoadBalancer)} {
			err := user.Create(ctx, s)
			if err == nil || !strings.Contains(err.Error(), "exceeded quota") {
				t.Errorf("service %s (%s): err = %v, want the quota's refusal", s.Name, s.Spec.Type, err)
			}
		}
	})

	t.Run("a GPU pod lands on the GPU pool", func(t *testing.T) {
		job := `apiVersion: batch/v1
kind: Job
metadata: {name: train, namespace: plexus}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: cuda
        command: ["sh", "-c", "echo GPUs $NVIDIA_VISIBLE_DEVICES"]
        resources: {limits: {nvidia.com/gpu: 1}}
`
		if out, err := run(t, dir, job, "kubectl", "--kubeconfig", kc, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v\n%s", err, out)
		}
		testenv.Eventually(t, 2*time.Minute, "the GPU job's pod scheduled", func(ctx context.Context) error {
			list := &corev1.PodList{}
			if err := env.Admin.List(ctx, list, client.InNamespace("plexus"), client.MatchingLabels{"job-name": "train"}); err != nil {
				return err
			}
			if len(list.Items) == 0 || list.Items[0].Spec.NodeName == "" {
				return errors.New("not scheduled")
			}
			node := &corev1.Node{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: list.Items[0].Spec.NodeName}, node); err != nil {
				return err
			}
			if node.Labels["tenancy.dev/pool"] != "gpu" {
				t.Errorf("the GPU pod ran on %s, pool %q", node.Name, node.Labels["tenancy.dev/pool"])
			}
			return nil
		})
	})
}

// userClient is a client with the plexus user's own kubeconfig.
func userClient(t *testing.T) client.Client {
	t.Helper()
	cfg, err := env.Cluster.UserConfig("plexus")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Admin.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
