//go:build integration

// Package incluster_test runs `tenancy up --in-cluster` as a person would:
// the controller and the server run as the Deployments of `tenancy
// install`, on the local process nodes, under their ServiceAccounts and
// RBAC. It checks leader election and handover, the server through
// kubectl port-forward, the pods' identity, and `tenancy uninstall`.
package incluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/install/installtest"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("incluster: -short: skipping tests that run tenancy up")
		os.Exit(0)
	}
	// Not under /tmp: the pods have a /tmp of their own. Searchable by
	// the pods' user (65532), as `up --in-cluster` requires.
	dir, err := os.MkdirTemp("/var/tmp", "tenancy-incluster-bin-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err == nil {
		err = testenv.BuildTenancy(dir)
	}
	if err == nil {
		err = localcluster.EnsureBinaries(context.Background(), localcluster.DefaultBinDir(), os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cluster is a running `tenancy up --in-cluster`.
type cluster struct {
	dataDir string
	out     *lockedBuffer
	c       client.Client
	cfg     *rest.Config
}

func (k *cluster) kubeconfig() string { return filepath.Join(k.dataDir, "admin.kubeconfig") }

// run runs a tenancy or kubectl command against the cluster.
func (k *cluster) run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	bin := filepath.Join(binDir, "tenancy")
	if name == "kubectl" {
		bin = filepath.Join(localcluster.DefaultBinDir(), "kubectl")
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", k.kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func startUp(t *testing.T) *cluster {
	t.Helper()
	k := &cluster{dataDir: t.TempDir(), out: &lockedBuffer{}}
	prefix := fmt.Sprintf("127.%d.1.", 10+rand.IntN(240))
	cmd := exec.Command(filepath.Join(binDir, "tenancy"), "up", "--in-cluster", "--data-dir", k.dataDir, "--port", "0",
		"--cpu-nodes", "2", "--gpu-nodes", "0", "--bin-dir", localcluster.DefaultBinDir(), "--node-ip-prefix", prefix)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = k.out, k.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("tenancy up --in-cluster said:\n%s", k.out.String())
		}
	})
	deadline := time.After(5 * time.Minute)
	for !strings.Contains(k.out.String(), "Tenancy is up") {
		select {
		case <-exited:
			t.Fatalf("tenancy up --in-cluster exited:\n%s", k.out.String())
		case <-deadline:
			t.Fatalf("tenancy up --in-cluster not up in 5 minutes:\n%s", k.out.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	k.cfg = cfg
	if k.c, err = client.New(cfg, client.Options{Scheme: controller.Scheme()}); err != nil {
		t.Fatal(err)
	}
	return k
}

func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	testenv.Eventually(t, timeout, what, f)
}

func (k *cluster) pods(ctx context.Context, name string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := k.c.List(ctx, pods, client.InNamespace(install.SystemNamespace), client.MatchingLabels{install.LabelName: name}); err != nil {
		return nil, err
	}
	return pods.Items, nil
}

func (k *cluster) lease(ctx context.Context) (*coordinationv1.Lease, error) {
	l := &coordinationv1.Lease{}
	err := k.c.Get(ctx, client.ObjectKey{Namespace: install.LeaseNamespace, Name: controller.LeaderElectionID}, l)
	return l, err
}

// leader is the controller pod holding the lease ("" when none does).
func leader(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	pod, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
	return pod
}

func newWorkspace(name string) *tenancyv1.Workspace {
	return &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "owner-" + name}},
	}
}

// readyProblems says how the named workspaces are not Ready for their
// generation with their own namespace.
func (k *cluster) readyProblems(ctx context.Context, names ...string) []string {
	var out []string
	for _, n := range names {
		ws := &tenancyv1.Workspace{}
		if err := k.c.Get(ctx, client.ObjectKey{Name: n}, ws); err != nil {
			out = append(out, err.Error())
			continue
		}
		ready := ws.Condition(tenancyv1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != ws.Generation {
			out = append(out, fmt.Sprintf("workspace %s not Ready for generation %d: %+v", n, ws.Generation, ready))
			continue
		}
		ns := &corev1.Namespace{}
		if err := k.c.Get(ctx, client.ObjectKey{Name: ws.Status.Namespace}, ns); err != nil {
			out = append(out, fmt.Sprintf("workspace %s: namespace: %v", n, err))
		} else if !ws.Owns(ns) {
			out = append(out, fmt.Sprintf("workspace %s: namespace %s not its own", n, ns.Name))
		}
	}
	return out
}

func TestInCluster(t *testing.T) {
	k := startUp(t)
	ctx := t.Context()

	t.Run("a leader is elected and a workspace becomes Ready", func(t *testing.T) {
		eventually(t, time.Minute, "a controller pod holds the lease in tenancy-system", func(ctx context.Context) error {
			l, err := k.lease(ctx)
			if err != nil {
				return err
			}
			pods, err := k.pods(ctx, install.ControllerName)
			if err != nil {
				return err
			}
			if len(pods) != 2 || pods[0].Spec.NodeName == pods[1].Spec.NodeName {
				return fmt.Errorf("want 2 controller pods on 2 nodes, got %d", len(pods))
			}
			if h := leader(l); !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == h }) {
				return fmt.Errorf("lease holder %q is no controller pod", h)
			}
			return nil
		})
		if err := k.c.Create(ctx, newWorkspace("incluster-a")); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "workspace incluster-a Ready", func(ctx context.Context) error {
			if p := k.readyProblems(ctx, "incluster-a"); len(p) > 0 {
				return fmt.Errorf("%s", strings.Join(p, "; "))
			}
			return nil
		})
	})

	t.Run("deleting the leader pod hands over within the lease time", func(t *testing.T) {
		l, err := k.lease(ctx)
		if err != nil {
			t.Fatal(err)
		}
		old, transitions := leader(l), ptrInt(l.Spec.LeaseTransitions)
		if old == "" {
			t.Fatal("no leader")
		}
		var names []string
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			name := fmt.Sprintf("handover-%02d", i)
			names = append(names, name)
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 150 * time.Millisecond) // before, during and after the handover
				errs <- k.c.Create(ctx, newWorkspace(name))
			})
		}
		time.Sleep(time.Second)
		deleted := time.Now()
		if err := k.c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: install.SystemNamespace, Name: old}}); err != nil {
			t.Fatal(err)
		}
		var took time.Duration
		eventually(t, 2*time.Minute, "another controller pod takes the lease", func(ctx context.Context) error {
			l, err := k.lease(ctx)
			if err != nil {
				return err
			}
			if h := leader(l); h == "" || h == old {
				return fmt.Errorf("holder still %q", h)
			}
			took = time.Since(deleted)
			return nil
		})
		// A stopping leader releases the lease once its reconciles are done
		// (at most the 10 s graceful shutdown); a follower that finds it
		// held retries every 2 s: so the lease duration, 15 s, plus one
		// retry at the most.
		if limit := 15*time.Second + 2*time.Second; took > limit {
			t.Errorf("handover took %s, more than the lease duration and a retry, %s", took, limit)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 2*time.Minute, "every workspace Ready with its own namespace under the new leader", func(ctx context.Context) error {
			if p := k.readyProblems(ctx, names...); len(p) > 0 {
				return fmt.Errorf("%d problems: %s", len(p), p[0])
			}
			return nil
		})
		l, err = k.lease(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// One handover, no flapping between two leaders.
		if got := ptrInt(l.Spec.LeaseTransitions); got != transitions+1 {
			t.Errorf("lease transitions went from %d to %d, want one handover", transitions, got)
		}
		eventually(t, 2*time.Minute, "the Deployment replaces the deleted pod", func(ctx context.Context) error {
			return install.WaitAvailable(ctx, k.c, time.Second, install.ControllerName)
		})
		t.Logf("handover %s after deleting %s; %d workspaces created around it all Ready", took, old, len(names))
	})

	t.Run("the server answers through kubectl port-forward and sign-in works", func(t *testing.T) {
		pw := regexp.MustCompile(`(?m)^\s+alex\s+(\S+)$`).FindStringSubmatch(k.out.String())
		if pw == nil {
			t.Fatalf("no password for alex in the output of up")
		}
		base := portForward(t, k)
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz: %s", resp.Status)
		}
		login := func(password string) (*http.Response, error) {
			body, _ := json.Marshal(map[string]string{"username": "alex", "password": password})
			return http.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
		}
		bad, err := login(pw[1] + "x")
		if err != nil {
			t.Fatal(err)
		}
		_ = bad.Body.Close()
		if bad.StatusCode != http.StatusUnauthorized {
			t.Errorf("a wrong password: %s, want 401", bad.Status)
		}
		good, err := login(pw[1])
		if err != nil {
			t.Fatal(err)
		}
		var tok struct{ Token string }
		err = json.NewDecoder(good.Body).Decode(&tok)
		_ = good.Body.Close()
		if good.StatusCode != http.StatusOK || err != nil || tok.Token == "" {
			t.Fatalf("sign-in as alex: %s (%v)", good.Status, err)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/workspaces", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		list, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(list.Body)
		_ = list.Body.Close()
		if list.StatusCode != http.StatusOK || !strings.Contains(string(b), "workplace1") || strings.Contains(string(b), "workplace2") {
			t.Errorf("alex's workspaces through the server: %s %s, want workplace1 only", list.Status, b)
		}
	})

	t.Run("the pods run as non-root with nothing to write to", func(t *testing.T) {
		for _, name := range []string{install.ControllerName, install.ServerName} {
			pods, err := k.pods(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pods {
				if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
					continue
				}
				sc := p.Spec.Containers[0].SecurityContext
				if sc == nil || !ptrTrue(sc.RunAsNonRoot) || !ptrTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("pod %s: securityContext %+v", p.Name, sc)
				}
				// What the process nodes can show: the command runs as the
				// image's user, holds no capability and cannot write to
				// the root filesystem (by permission: see docs/design/install.md).
				out, err := k.run(t, "kubectl", "-n", install.SystemNamespace, "exec", p.Name, "--", "sh", "-c",
					`id -u; grep CapEff /proc/1/status; tr '\0' ' ' </proc/1/cmdline; echo; touch /tenancy-probe /usr/tenancy-probe 2>/dev/null && echo WROTE || echo read-only`)
				if err != nil {
					t.Fatalf("exec in %s: %v\n%s", p.Name, err, out)
				}
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 4 || lines[0] != "65532" || !strings.HasSuffix(lines[1], "0000000000000000") ||
					!strings.HasPrefix(lines[2], "tenancy ") || lines[3] != "read-only" {
					t.Errorf("pod %s: uid, capabilities, command, root write:\n%s", p.Name, out)
				}
			}
		}
	})

	t.Run("uninstall refuses while workspaces exist, then keeps their namespaces", func(t *testing.T) {
		out, err := k.run(t, "tenancy", "uninstall")
		if err == nil || !strings.Contains(out, "--keep-namespaces") || !strings.Contains(out, "--delete-workspaces") {
			t.Fatalf("uninstall with workspaces and no flag: err %v, want a refusal naming the flags:\n%s", err, out)
		}
		if err := install.WaitAvailable(ctx, k.c, time.Second, install.ControllerName, install.ServerName); err != nil {
			t.Fatalf("a refused uninstall changed something: %v", err)
		}
		wsList := &tenancyv1.WorkspaceList{}
		if err := k.c.List(ctx, wsList); err != nil {
			t.Fatal(err)
		}
		nsUID := map[string]string{}
		for _, ws := range wsList.Items {
			ns := &corev1.Namespace{}
			if err := k.c.Get(ctx, client.ObjectKey{Name: ws.Status.Namespace}, ns); err != nil {
				t.Fatal(err)
			}
			nsUID[ns.Name] = string(ns.UID)
		}
		out, err = k.run(t, "tenancy", "uninstall", "--keep-namespaces")
		if err != nil {
			t.Fatalf("uninstall --keep-namespaces: %v\n%s", err, out)
		}
		t.Logf("uninstall said:\n%s", out)
		for name, uid := range nsUID {
			ns := &corev1.Namespace{}
			if err := k.c.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
				t.Errorf("namespace %s: %v", name, err)
				continue
			}
			if string(ns.UID) != uid || ns.DeletionTimestamp != nil || len(ns.OwnerReferences) > 0 {
				t.Errorf("namespace %s not kept as it was: uid %s (was %s), deleting %v, owners %v", name, ns.UID, uid, ns.DeletionTimestamp, ns.OwnerReferences)
			}
			if !strings.Contains(out, name) {
				t.Errorf("uninstall did not say it kept namespace %s", name)
			}
		}
		// A little later the garbage collector still has nothing to take.
		time.Sleep(3 * time.Second)
		for name := range nsUID {
			ns := &corev1.Namespace{}
			if err := k.c.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil || ns.DeletionTimestamp != nil {
				t.Errorf("namespace %s went after uninstall: %v", name, err)
			}
		}
		left, err := installtest.Labelled(ctx, k.cfg, "app.kubernetes.io/component=install")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("uninstall left installed objects: %v", left)
		}
		// Of Tenancy's, only the namespaces kept and what is in them.
		managed, err := installtest.Labelled(ctx, k.cfg, tenancyv1.LabelManagedBy+"="+tenancyv1.ManagedByValue)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range managed {
			kind, name, _ := strings.Cut(o, " ")
			ns, _, _ := strings.Cut(name, "/")
			if _, kept := nsUID[ns]; !kept || (kind == "Namespace") != !strings.Contains(name, "/") {
				t.Errorf("uninstall left %s, outside the namespaces kept", o)
			}
		}
		pods, err := k.pods(ctx, install.ControllerName)
		if err != nil || len(pods) > 0 {
			t.Errorf("controller pods after uninstall: %d (%v)", len(pods), err)
		}
		if err := k.c.Get(ctx, client.ObjectKey{Name: install.SystemNamespace}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s after uninstall: %v, want NotFound", install.SystemNamespace, err)
		}
	})
}

// portForward runs kubectl port-forward to the server's Service and
// returns its local URL.
func portForward(t *testing.T, k *cluster) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(localcluster.DefaultBinDir(), "kubectl"), "--kubeconfig", k.kubeconfig(),
		"-n", install.SystemNamespace, "port-forward", "--address", "127.0.0.1", "svc/"+install.ServerName, ":80")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) ->`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward did not start: %s", stderr.String())
	}
	return ""
}

func ptrInt(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func ptrTrue(p *bool) bool { return p != nil && *p }
