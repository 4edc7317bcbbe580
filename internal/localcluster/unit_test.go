package localcluster

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/tenancy-dev/tenancy/internal/localcluster/procnode"
)

func TestComponentArgs(t *testing.T) {
	l := layout{dir: "/d"}
	p := ports{APIServer: 6443, EtcdClient: 2379, EtcdPeer: 2380}
	tests := map[string]struct {
		args []string
		want []string
	}{
		"etcd": {
			args: etcdArgs(l, p, true),
			want: []string{"--data-dir=/d/etcd", "--listen-client-urls=https://127.0.0.1:2379",
				"--listen-peer-urls=https://127.0.0.1:2380", "--unsafe-no-fsync",
				"--client-cert-auth=true", "--peer-client-cert-auth=true", "--trusted-ca-file=/d/pki/ca.crt"},
		},
		"kube-apiserver": {
			args: apiServerArgs(l, p, false),
			want: []string{
				"--etcd-servers=https://127.0.0.1:2379", "--etcd-certfile=/d/pki/apiserver-etcd-client.crt", "--bind-address=127.0.0.1", "--secure-port=6443",
				"--client-ca-file=/d/pki/ca.crt", "--service-account-key-file=/d/pki/sa.pub",
				"--service-account-signing-key-file=/d/pki/sa.key",
				"--service-account-issuer=https://kubernetes.default.svc", "--authorization-mode=RBAC",
				"--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction,ExtendedResourceToleration",
				"--kubelet-client-certificate=/d/pki/apiserver-kubelet-client.crt",
				"--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true",
			},
		},
		"kube-controller-manager": {
			args: controllerManagerArgs(l),
			want: []string{
				"--kubeconfig=/d/kube-controller-manager.kubeconfig", "--root-ca-file=/d/pki/ca.crt",
				"--service-account-private-key-file=/d/pki/sa.key", "--use-service-account-credentials=true",
				"--cluster-signing-cert-file=/d/pki/ca.crt", "--cluster-signing-key-file=/d/pki/ca.key",
				"--controllers=*", "--leader-elect=false",
			},
		},
		"kube-scheduler": {
			args: schedulerArgs(l),
			want: []string{"--kubeconfig=/d/kube-scheduler.kubeconfig", "--leader-elect=false"},
		},
		"kwok": {
			args: kwokArgs(l),
			want: []string{"--kubeconfig=/d/kwok.kubeconfig", "--manage-all-nodes=false",
				"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--enable-crds=Stage"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, w := range tc.want {
				if !slices.Contains(tc.args, w) {
					t.Errorf("missing %s in %q", w, tc.args)
				}
			}
		})
	}
	if slices.Contains(etcdArgs(l, p, false), "--unsafe-no-fsync") {
		t.Error("etcd runs without fsync although not asked to")
	}
}

func TestKubeLDFlags(t *testing.T) {
	want := "-s -w -X k8s.io/component-base/version.gitVersion=v1.36.3 -X k8s.io/component-base/version.gitMajor=1 " +
		"-X k8s.io/component-base/version.gitMinor=36 -X k8s.io/component-base/version.gitTreeState=clean " +
		"-X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=v1.36.3 " +
		"-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=36 " +
		"-X k8s.io/client-go/pkg/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.buildDate=2026-01-01T00:00:00Z"
	if diff := cmp.Diff(want, kubeLDFlags("v1.36.3")); diff != "" {
		t.Errorf("kubeLDFlags (-want +got):\n%s", diff)
	}
}

func TestEmbeddedToolModules(t *testing.T) {
	want := map[string]string{"kubernetes": "v1.36.3", "etcd": "v3.6.8", "kwok": "v0.8.0"}
	for _, m := range toolModules {
		gomod, err := toolMods.ReadFile("toolmods/" + m.name + "/go.mod.txt")
		if err != nil {
			t.Fatal(err)
		}
		if got := moduleVersion(gomod, m.module); got != want[m.name] {
			t.Errorf("%s: %s version = %s, want %s", m.name, m.module, got, want[m.name])
		}
		for bin, pkg := range m.binaries {
			if !strings.Contains(string(gomod), "tool "+pkg) && !strings.Contains(string(gomod), "\t"+pkg+"\n") {
				t.Errorf("%s: no tool directive for %s (%s)", m.name, pkg, bin)
			}
		}
	}
}

func TestGoBinaryName(t *testing.T) {
	for pkg, want := range map[string]string{
		"go.etcd.io/etcd/server/v3":            "server",
		"k8s.io/kubernetes/cmd/kube-apiserver": "kube-apiserver",
		"sigs.k8s.io/kwok/cmd/kwok":            "kwok",
	} {
		if got := goBinaryName(pkg); got != want {
			t.Errorf("goBinaryName(%s) = %s, want %s", pkg, got, want)
		}
	}
}

func TestPlanBuilds(t *testing.T) {
	dir := t.TempDir()
	names := func(plans []buildPlan) (build []string, stampOnly []string) {
		for _, p := range plans {
			build = append(build, p.build...)
			if p.stampOnly {
				stampOnly = append(stampOnly, p.mod.name)
			}
		}
		return build, stampOnly
	}
	plans, err := planBuilds(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	build, _ := names(plans)
	wantAll := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
	if diff := cmp.Diff(wantAll, build); diff != "" {
		t.Errorf("empty dir: builds (-want +got):\n%s", diff)
	}

	// Binaries put there by hand are adopted: only stamps are written.
	for _, b := range wantAll {
		if err := os.WriteFile(filepath.Join(dir, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plans, _ = planBuilds(dir, nil)
	build, stampOnly := names(plans)
	if len(build) != 0 || len(stampOnly) != 3 {
		t.Errorf("unstamped binaries: build %v, stamp %v; want no build, 3 stamps", build, stampOnly)
	}
	for _, p := range plans {
		if err := writeFileAtomic(stampPath(dir, p.mod.name), []byte(p.stamp+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if plans, _ = planBuilds(dir, nil); len(plans) != 0 {
		t.Errorf("stamped binaries: got %d plans, want none", len(plans))
	}
	if plans, _ = planBuilds(dir, map[string]bool{Kubectl: true}); len(plans) != 1 || !slices.Equal(plans[0].build, []string{Kubectl}) {
		t.Errorf("kubectl requested: got %+v, want kubectl built", plans)
	}

	// Another version of a tools module rebuilds its binaries.
	if err := os.WriteFile(stampPath(dir, "etcd"), []byte("go.etcd.io/etcd/server/v3 v3.5.0 0123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plans, _ = planBuilds(dir, nil)
	if build, _ = names(plans); !slices.Equal(build, []string{"etcd"}) {
		t.Errorf("stale etcd stamp: builds %v, want [etcd]", build)
	}
}

func TestDefaultBinDir(t *testing.T) {
	t.Setenv("TENANCY_BIN_DIR", "/opt/bins")
	if got := DefaultBinDir(); got != "/opt/bins" {
		t.Errorf("with TENANCY_BIN_DIR: %s", got)
	}
	t.Setenv("TENANCY_BIN_DIR", "")
	// The test runs inside the repository: bin/ at its root.
	got := DefaultBinDir()
	if filepath.Base(got) != "bin" || !isTenancyModuleRoot(filepath.Dir(got)) {
		t.Errorf("inside the repository: %s, want <module root>/bin", got)
	}
}

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := loadOrCreateAuthority(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadOrCreateAuthority(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !again.cert.Equal(ca.cert) {
		t.Error("second load returned another CA")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)

	serving, err := ca.issue(apiServerCertSpec(), now)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, serving.CertPEM)
	for _, name := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc", firstServiceIP} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("serving cert for %s: %v", name, err)
		}
	}

	client, err := ca.issue(certSpec{CommonName: "alice", Organization: []string{"devs", "ops"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert = parseCert(t, client.CertPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert: %v", err)
	}
	if cert.Subject.CommonName != "alice" || !slices.Equal(slices.Sorted(slices.Values(cert.Subject.Organization)), []string{"devs", "ops"}) {
		t.Errorf("client cert subject = %v", cert.Subject)
	}
	if _, err := parseKey(client.KeyPEM); err != nil {
		t.Errorf("client key: %v", err)
	}

	k1, _, err := loadOrCreateKey(filepath.Join(dir, "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	k2, _, _ := loadOrCreateKey(filepath.Join(dir, "sa.key"))
	p1, _ := encodePublicKey(k1)
	p2, _ := encodePublicKey(k2)
	if string(p1) != string(p2) {
		t.Error("service-account key not kept")
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKubeconfigFor(t *testing.T) {
	cfg := &rest.Config{
		TLSClientConfig: rest.TLSClientConfig{CertData: []byte("cert"), KeyData: []byte("key")},
		Impersonate:     rest.ImpersonationConfig{UserName: "bob"},
	}
	kc, err := kubeconfigFor(cfg, "https://127.0.0.1:1", []byte("ca"), "team")
	if err != nil {
		t.Fatal(err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	user, cluster := kc.AuthInfos[ctx.AuthInfo], kc.Clusters[ctx.Cluster]
	got := []string{cluster.Server, string(cluster.CertificateAuthorityData), string(user.ClientCertificateData),
		string(user.ClientKeyData), user.Impersonate, ctx.Namespace}
	want := []string{"https://127.0.0.1:1", "ca", "cert", "key", "bob", "team"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kubeconfig (-want +got):\n%s", diff)
	}
}

func TestNodeApplyConfig(t *testing.T) {
	n := nodeApplyConfig(Node{Name: "gpu-1", CPU: "32", GPUs: 8, Labels: map[string]string{"pool": "a"},
		Taints: []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}}})
	capacity := *n.Status.Capacity
	for res, want := range map[corev1.ResourceName]string{"cpu": "32", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": "8"} {
		if q := capacity[res]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("capacity %s = %s, want %s", res, q.String(), want)
		}
	}
	if n.Annotations[kwokNodeAnnotation] != "fake" || n.Labels["pool"] != "a" || n.Labels["kubernetes.io/hostname"] != "gpu-1" {
		t.Errorf("metadata: annotations %v labels %v", n.Annotations, n.Labels)
	}
	if len(n.Spec.Taints) != 1 || *n.Spec.Taints[0].Key != "gpu" {
		t.Errorf("taints = %+v", n.Spec.Taints)
	}
	if _, ok := (*nodeApplyConfig(Node{Name: "cpu-1"}).Status.Capacity)["nvidia.com/gpu"]; ok {
		t.Error("node without GPUs has nvidia.com/gpu capacity")
	}
	for _, bad := range [][]Node{{{Name: ""}}, {{Name: "a"}, {Name: "a"}}, {{Name: "a", CPU: "ten"}}} {
		if err := validateNodes(bad); err == nil {
			t.Errorf("validateNodes(%+v) = nil, want error", bad)
		}
	}
}

func TestDeleteStaleNodes(t *testing.T) {
	node := func(name string, kwok, proc bool) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}, Annotations: map[string]string{}}}
		if kwok {
			n.Annotations[kwokNodeAnnotation] = kwokNodeAnnotationValue
		}
		if proc {
			n.Labels[procnode.ManagedLabel] = "true"
		}
		return n
	}
	cs := fake.NewClientset(
		node("old-kwok", true, false),       // a kwok node of an earlier start: gone
		node("cpu-node-1", true, false),     // was kwok, is a process node now: gone, re-registered
		node("sim-node-1", true, false),     // still a kwok node: kept
		node("cpu-node-2", false, true),     // still a process node: kept
		node("gpu-node-9", false, true),     // no longer listed: gone
		node("someone-elses", false, false), // not ours: kept
	)
	err := deleteStaleNodes(t.Context(), cs, []Node{{Name: "sim-node-1"}}, []Node{{Name: "cpu-node-1"}, {Name: "cpu-node-2"}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range list.Items {
		got = append(got, n.Name)
	}
	slices.Sort(got)
	if want := []string{"cpu-node-2", "sim-node-1", "someone-elses"}; !slices.Equal(got, want) {
		t.Errorf("nodes left %v, want %v", got, want)
	}
}
