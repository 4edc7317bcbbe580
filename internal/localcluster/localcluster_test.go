package localcluster_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/localcluster/clustertest"
)

// cluster is shared by the tests of this package; nil with -short.
var cluster *localcluster.Cluster

const gpuNode = "gpu-node-1"

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // unit tests only
	}
	o := localcluster.Options{
		Nodes: []localcluster.Node{{Name: gpuNode, CPU: "32", Memory: "256Gi", GPUs: 8}},
	}
	os.Exit(clustertest.Main(m, o, func(c *localcluster.Cluster) error {
		cluster = c
		return nil
	}))
}

func needCluster(t *testing.T) {
	t.Helper()
	if cluster == nil {
		t.Skip("no control plane with -short")
	}
}

func adminClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	return clientFor(t, cluster.Config())
}

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// createNamespace creates a namespace for one test.
func createNamespace(t *testing.T, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// eventually polls cond every 100ms until it returns true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var lastErr error
	for {
		ok, err := cond(ctx)
		if ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s (last error: %v); logs in %s", what, timeout, lastErr, cluster.LogDir())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestAdminCreatesNamespace(t *testing.T) {
	needCluster(t)
	cs := adminClient(t)
	ns := createNamespace(t, cs, "admin")
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("get namespace %s: %v", ns, err)
	}
}

func TestUserIsForbiddenUntilGranted(t *testing.T) {
	needCluster(t)
	t.Parallel()
	admin := adminClient(t)
	cfg, err := cluster.UserConfig("alice", "developers")
	if err != nil {
		t.Fatal(err)
	}
	alice := clientFor(t, cfg)
	ns := createNamespace(t, admin, "alice")

	_, err = alice.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("alice lists namespaces before any grant: err = %v, want Forbidden", err)
	}
	_, err = alice.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("alice lists configmaps before any grant: err = %v, want Forbidden", err)
	}

	ctx := t.Context()
	_, err = admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test-namespace-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-alice-namespace-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "test-namespace-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A RoleBinding to the built-in "view" role, for the group.
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "developers-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "developers"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "alice lists namespaces after the ClusterRoleBinding", func(ctx context.Context) (bool, error) {
		_, err := alice.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	eventually(t, 10*time.Second, "alice lists configmaps after the RoleBinding", func(ctx context.Context) (bool, error) {
		_, err := alice.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	// view does not allow writes.
	_, err = alice.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("alice creates a configmap with view: err = %v, want Forbidden", err)
	}
}

func TestResourceQuotaStatusIsFilled(t *testing.T) {
	needCluster(t)
	t.Parallel()
	cs := adminClient(t)
	ns := createNamespace(t, cs, "quota")
	hard := corev1.ResourceList{
		corev1.ResourceRequestsCPU: resource.MustParse("4"),
		"requests.nvidia.com/gpu":  resource.MustParse("2"),
		corev1.ResourceConfigMaps:  resource.MustParse("10"),
	}
	_, err := cs.CoreV1().ResourceQuotas(ns).Create(t.Context(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "quota status.hard filled by kube-controller-manager", func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "compute", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for name, want := range hard {
			if got, ok := q.Status.Hard[name]; !ok || got.Cmp(want) != 0 {
				return false, fmt.Errorf("status.hard = %v", q.Status.Hard)
			}
		}
		return true, nil
	})

	// Creating is charged by admission in the API server; deleting is
	// given back by the quota controller recounting the namespace.
	ctx := t.Context()
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "quota status.used recounted by kube-controller-manager", func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "compute", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		used := q.Status.Used[corev1.ResourceConfigMaps]
		return used.Value() == int64(len(cms.Items)), fmt.Errorf("status.used.configmaps = %s, %d configmaps exist", used.String(), len(cms.Items))
	})
}

func TestNamespaceDeletionCompletes(t *testing.T) {
	needCluster(t)
	t.Parallel()
	cs := adminClient(t)
	ctx := t.Context()
	ns := createNamespace(t, cs, "doomed")
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "data"}, Data: map[string]string{"k": "v"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "namespace "+ns+" deleted by the namespace controller", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func TestCSRIssuesWorkingClientCertificate(t *testing.T) {
	needCluster(t)
	t.Parallel()
	cs := adminClient(t)
	ctx := t.Context()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "bob", Organization: []string{"team-a"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "bob-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}),
			SignerName:        certificatesv1.KubeAPIServerClientSignerName,
			Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
			ExpirationSeconds: ptr.To[int32](3600),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test", Message: "approved by test",
	})
	if _, err := cs.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var certPEM []byte
	eventually(t, 30*time.Second, "CSR signed by kube-controller-manager", func(ctx context.Context) (bool, error) {
		got, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, csr.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		certPEM = got.Status.Certificate
		return len(certPEM) > 0, nil
	})

	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	bob := clientFor(t, &rest.Config{
		Host: cluster.Host(),
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   cluster.CAData(),
			CertData: certPEM,
			KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	})
	review, err := bob.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review with the CSR certificate: %v", err)
	}
	if u := review.Status.UserInfo; u.Username != "bob" || !slices.Contains(u.Groups, "team-a") {
		t.Errorf("authenticated as %q %v, want bob in team-a", u.Username, u.Groups)
	}
}

func TestWrittenKubeconfigWorksWithKubectl(t *testing.T) {
	needCluster(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl on PATH")
	}
	dir := t.TempDir()
	adminKC := filepath.Join(dir, "admin.kubeconfig")
	if err := cluster.WriteKubeconfig(adminKC, cluster.Config(), ""); err != nil {
		t.Fatal(err)
	}
	out := run(t, kubectl, "--kubeconfig", adminKC, "get", "ns", "-o", "name")
	if !strings.Contains(out, "namespace/default") {
		t.Errorf("kubectl get ns as admin: %q, want namespace/default", out)
	}

	cfg, err := cluster.UserConfig("carol", "devs")
	if err != nil {
		t.Fatal(err)
	}
	userKC := filepath.Join(dir, "carol.kubeconfig")
	if err := cluster.WriteKubeconfig(userKC, cfg, "team-x"); err != nil {
		t.Fatal(err)
	}
	out = run(t, kubectl, "--kubeconfig", userKC, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if out != "carol" {
		t.Errorf("kubectl auth whoami as carol: %q", out)
	}
	out = run(t, kubectl, "--kubeconfig", userKC, "config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.namespace}")
	if out != "team-x" {
		t.Errorf("kubeconfig namespace: %q, want team-x", out)
	}
	if st, err := os.Stat(userKC); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode: %v %v, want 0600", st.Mode(), err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func TestGPUJobCompletesOnSimulatedNode(t *testing.T) {
	needCluster(t)
	t.Parallel()
	cs := adminClient(t)
	ctx := t.Context()
	ns := createNamespace(t, cs, "gpu")
	gpus := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")}
	_, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "train"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "train", Image: "example.com/train:1",
					Resources: corev1.ResourceRequirements{Requests: gpus, Limits: gpus},
				}},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "GPU job complete", func(ctx context.Context) (bool, error) {
		job, err := cs.BatchV1().Jobs(ns).Get(ctx, "train", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return false, fmt.Errorf("job failed: %s", c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("job status %+v", job.Status)
	})
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=train"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Spec.NodeName != gpuNode || pods.Items[0].Status.Phase != corev1.PodSucceeded {
		for _, p := range pods.Items {
			t.Errorf("pod %s on node %q phase %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
		t.Fatalf("want one pod, Succeeded on %s", gpuNode)
	}
}

// TestStopAndRestart runs its own cluster: Stop must leave no process, and
// a restart on the same data directory must keep the objects.
func TestStopAndRestart(t *testing.T) {
	needCluster(t)
	dir := t.TempDir()
	o := localcluster.Options{DataDir: dir, UnsafeNoFsync: true, Nodes: []localcluster.Node{{Name: "n1", GPUs: 4}}}

	start := time.Now()
	c, err := localcluster.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start to ready (new data dir, binaries present): %s", time.Since(start).Round(10*time.Millisecond))
	t.Cleanup(func() { _ = c.Stop() })
	cs := clientFor(t, c.Config())
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	oldHost := c.Host()
	pids := localcluster.PIDs(c)
	if len(pids) != 5 {
		t.Fatalf("pids = %v, want etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok", pids)
	}

	start = time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop: %s", time.Since(start).Round(10*time.Millisecond))
	for pid, name := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop: kill -0 = %v", name, pid, err)
		}
		if members := processGroupMembers(t, pid); len(members) > 0 {
			t.Errorf("%s's process group %d still has processes %v", name, pid, members)
		}
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// The same data dir, with the old API server port now taken: the API
	// server moves and the kubeconfigs follow.
	ln, err := net.Listen("tcp", strings.TrimPrefix(oldHost, "https://"))
	if err != nil {
		t.Fatalf("take the old API server port: %v", err)
	}
	defer func() { _ = ln.Close() }()
	o.Nodes = append(o.Nodes, localcluster.Node{Name: "n2", GPUs: 2})
	start = time.Now()
	c2, err := localcluster.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart to ready: %s", time.Since(start).Round(10*time.Millisecond))
	t.Cleanup(func() { _ = c2.Stop() })
	if c2.Host() == oldHost {
		t.Errorf("API server at %s, a port that was taken", oldHost)
	}
	if _, err := clientFor(t, c2.Config()).CoreV1().Namespaces().Get(t.Context(), "survivor", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace created before the restart: %v", err)
	}
	// The admin kubeconfig on disk points at the running API server.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out := run(t, kubectl, "--kubeconfig", c2.AdminKubeconfig(), "get", "ns", "survivor", "-o", "name")
		if out != "namespace/survivor" {
			t.Errorf("kubectl with AdminKubeconfig after restart: %q", out)
		}
	}
	cs2 := clientFor(t, c2.Config())
	for _, n := range []string{"n1", "n2"} {
		node, err := cs2.CoreV1().Nodes().Get(t.Context(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node %s after restart: %v", n, err)
		}
		if gpus := node.Status.Allocatable["nvidia.com/gpu"]; gpus.IsZero() {
			t.Errorf("node %s allocatable %v, want nvidia.com/gpu", n, node.Status.Allocatable)
		}
	}
	// A second cluster on a data dir in use is refused.
	if _, err := localcluster.Start(t.Context(), o); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Start on a running data dir: err = %v, want 'in use'", err)
	}

	// Reset starts afresh.
	if err := c2.Stop(); err != nil {
		t.Fatal(err)
	}
	c3, err := localcluster.Start(t.Context(), localcluster.Options{DataDir: dir, UnsafeNoFsync: true, Reset: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c3.Stop() })
	_, err = clientFor(t, c3.Config()).CoreV1().Namespaces().Get(t.Context(), "survivor", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("namespace after Reset: err = %v, want NotFound", err)
	}

	// A component dying is reported on Failed.
	for pid, name := range localcluster.PIDs(c3) {
		if name == "kube-scheduler" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case err := <-c3.Failed():
		if !strings.Contains(err.Error(), "kube-scheduler exited unexpectedly") {
			t.Errorf("Failed() = %v, want kube-scheduler exited unexpectedly", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Failed() reported nothing after kube-scheduler was killed")
	}
}

// processGroupMembers lists the processes whose process group is pgid.
func processGroupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid pgrp ...
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestStartFailureQuotesLogAndCleansUp starts a cluster whose API server
// cannot bind its port.
func TestStartFailureQuotesLogAndCleansUp(t *testing.T) {
	needCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	dir := t.TempDir()
	_, err = localcluster.Start(t.Context(), localcluster.Options{
		DataDir:       dir,
		UnsafeNoFsync: true,
		APIServerPort: ln.Addr().(*net.TCPAddr).Port,
	})
	if err == nil {
		t.Fatal("Start with the API server port taken succeeded")
	}
	t.Logf("Start error:\n%v", err)
	for _, want := range []string{"kube-apiserver", "address already in use", filepath.Join(dir, "logs", "kube-apiserver.log")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if left := processesMentioning(t, dir); len(left) > 0 {
		t.Errorf("processes left after a failed start: %v", left)
	}
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			found = append(found, e.Name()+" "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return found
}

func TestEtcdRefusesClientsWithoutCertificate(t *testing.T) {
	needCluster(t)
	url := cluster.EtcdURL()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("etcd URL %s is not TLS", url)
	}
	// Plain HTTP to the client port is not served.
	plain := "http://" + strings.TrimPrefix(url, "https://") + "/v3/kv/range"
	if resp, err := http.Post(plain, "application/json", strings.NewReader(`{"key":"AA=="}`)); err == nil {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP read of etcd succeeded: %s", body)
		}
	}
	// TLS that trusts the CA but presents no client certificate is refused.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cluster.CAData())
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := anon.Post(url+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"AA=="}`))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		t.Fatalf("anonymous TLS read of etcd answered %d: %s", resp.StatusCode, body)
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("anonymous TLS read of etcd: %v, want a refusal for want of a certificate", err)
	}
}

func TestDeadComponentIsReportedWithItsLog(t *testing.T) {
	needCluster(t)
	for _, victim := range []string{"etcd", "kube-apiserver"} {
		t.Run(victim, func(t *testing.T) {
			c, err := localcluster.Start(t.Context(), localcluster.Options{DataDir: t.TempDir(), UnsafeNoFsync: true, StopGracePeriod: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Stop() })
			for pid, name := range localcluster.PIDs(c) {
				if name == victim {
					if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
				}
			}
			select {
			case err := <-c.Failed():
				log := filepath.Join(c.LogDir(), victim+".log")
				if !strings.HasPrefix(err.Error(), victim+" ") || !strings.Contains(err.Error(), log) {
					t.Errorf("Failed() = %v; want it to name %s and its log %s", err, victim, log)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no failure reported 30s after %s was killed", victim)
			}
		})
	}
}
