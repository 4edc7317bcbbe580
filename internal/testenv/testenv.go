// Package testenv runs a test package against a real control plane with
// Tenancy installed, as `tenancy up` does: one local control plane per
// package, the CRDs (and, if asked, the self-serve policy), and the
// workspace controller running in the test process under its own identity
// — bound to the ClusterRole of config/rbac/role.yaml and nothing else, so
// every test also proves that role is enough.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/config"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/localcluster/clustertest"
)

// ControllerUser is the identity the controller runs as in tests.
const ControllerUser = "tenancy-controller"

// Options say what a test package needs besides the control plane.
type Options struct {
	// Nodes are simulated kwok nodes; none by default.
	Nodes []localcluster.Node
	// ProcessNodes really run pods as local processes (see
	// localcluster.Options.ProcessNodes), e.g. localcluster.DefaultNodes(2, 1);
	// none by default. They get loopback addresses of the package's own, so
	// packages running at once do not collide.
	ProcessNodes []localcluster.Node
	// SelfServe installs the self-serve ClusterRoles and admission policy
	// and waits until the API server enforces it.
	SelfServe bool
	// Binary builds the tenancy binary (and the kubectl-tenancy link) into
	// Env.BinDir, for tests that run it as a person would.
	Binary bool
	// ControllerBinary also builds tenancy-controller (cmd/tenancy-controller,
	// what the installed controller runs) into Env.BinDir; with Binary.
	ControllerBinary bool
	// BeforeController runs after the install, before the controller
	// starts (e.g. to install CRDs the controller looks for at start).
	BeforeController func(ctx context.Context, e *Env) error
	// NoController leaves the controller to the tests.
	NoController bool
	// Concurrency of the controller; 4 when 0.
	Concurrency int
}

// Env is what the tests of a package share.
type Env struct {
	Cluster *localcluster.Cluster
	Admin   client.Client        // system:masters
	AdminCS kubernetes.Interface // the same identity, typed
	// BinDir holds tenancy and kubectl-tenancy when Options.Binary.
	BinDir string
}

// Tenancy is the path of the built tenancy binary.
func (e *Env) Tenancy() string { return filepath.Join(e.BinDir, "tenancy") }

// Controller is the path of the built tenancy-controller binary
// (Options.ControllerBinary).
func (e *Env) Controller() string { return filepath.Join(e.BinDir, "tenancy-controller") }

// Main is a package's TestMain: it sets up the environment, hands it to
// ready (to keep it in a package variable), runs the tests and tears down
// in order (controller, then control plane). Under -short it runs nothing:
// every test of such a package needs the control plane.
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.Main(m, testenv.Options{}, func(e *testenv.Env) { env = e }))
//	}
func Main(m *testing.M, o Options, ready func(*Env)) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		fmt.Println("testenv: -short: skipping tests that need a control plane")
		return 0
	}
	lo := localcluster.Options{Nodes: o.Nodes, ProcessNodes: o.ProcessNodes}
	if len(o.ProcessNodes) > 0 {
		lo.NodeIPPrefix = fmt.Sprintf("127.%d.1.", 10+rand.IntN(240))
	}
	return clustertest.Main(m, lo, func(c *localcluster.Cluster) error {
		e, err := setUp(c, o)
		if err != nil {
			return err
		}
		ready(e)
		return nil
	})
}

func setUp(c *localcluster.Cluster, o Options) (*Env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := &Env{Cluster: c}
	var err error
	if e.Admin, err = client.New(c.Config(), client.Options{Scheme: controller.Scheme()}); err != nil {
		return nil, err
	}
	if e.AdminCS, err = kubernetes.NewForConfig(c.Config()); err != nil {
		return nil, err
	}
	if o.Binary {
		e.BinDir = filepath.Join(c.DataDir(), "tenancy-bin")
		if err := BuildTenancy(e.BinDir); err != nil {
			return nil, err
		}
		if o.ControllerBinary {
			if err := build(e.BinDir, "tenancy-controller"); err != nil {
				return nil, err
			}
		}
	}
	if err := install.CRDs(ctx, e.Admin); err != nil {
		return nil, fmt.Errorf("install CRDs: %w", err)
	}
	if _, err := install.Admission(ctx, e.Admin, c.Config()); err != nil {
		return nil, fmt.Errorf("install admission policies: %w", err)
	}
	if o.SelfServe {
		if err := install.SelfServe(ctx, e.Admin); err != nil {
			return nil, fmt.Errorf("install self-serve policy: %w", err)
		}
		if err := WaitPolicyEnforced(ctx, c, e.Admin); err != nil {
			return nil, err
		}
	}
	if o.BeforeController != nil {
		if err := o.BeforeController(ctx, e); err != nil {
			return nil, err
		}
	}
	if o.NoController {
		return e, nil
	}
	if err := GrantController(ctx, e.Admin, ControllerUser); err != nil {
		return nil, err
	}
	stop, err := startController(ctx, c, o.Concurrency)
	if err != nil {
		return nil, err
	}
	c.BeforeStop(stop)
	return e, nil
}

// startController runs the controller manager in this process as
// ControllerUser, logging to the cluster's log directory, and returns a
// function that stops it.
func startController(ctx context.Context, c *localcluster.Cluster, concurrency int) (func() error, error) {
	logFile, err := os.Create(filepath.Join(c.LogDir(), "tenancy-controller.log"))
	if err != nil {
		return nil, err
	}
	logger := zap.New(zap.WriteTo(logFile), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger) // client-go's reflector errors too, instead of stderr

	cfg, err := c.UserConfig(ControllerUser)
	if err != nil {
		return nil, err
	}
	if concurrency == 0 {
		concurrency = 4
	}
	mgr, err := controller.NewManager(cfg, controller.Options{
		Concurrency: concurrency, MetricsAddr: "0", ProbeAddr: "0", IstioUserHeader: "kubeflow-userid",
	})
	if err != nil {
		return nil, err
	}
	mgrCtx, stopMgr := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	stop := func() error {
		stopMgr()
		defer func() { _ = logFile.Close() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("controller manager did not stop within 30s")
		}
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, errors.Join(errors.New("controller cache did not sync"), stop())
	}
	return stop, nil
}

// GrantController creates the controller's ClusterRole and Roles
// (config/rbac) and binds them to user.
func GrantController(ctx context.Context, c client.Client, user string) error {
	role, roles, err := config.ControllerRoles()
	if err != nil {
		return err
	}
	subjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}
	if err := c.Create(ctx, role); err != nil {
		return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   subjects,
	}
	if err := c.Create(ctx, binding); err != nil {
		return fmt.Errorf("bind ClusterRole %s: %w", role.Name, err)
	}
	for i := range roles {
		r := &roles[i]
		if err := c.Create(ctx, r); err != nil {
			return fmt.Errorf("create Role %s/%s: %w", r.Namespace, r.Name, err)
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
			Subjects:   subjects,
		}
		if err := c.Create(ctx, rb); err != nil {
			return fmt.Errorf("bind Role %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	return nil
}

// BuildTenancy builds the tenancy binary into dir, with kubectl-tenancy
// linked to it.
func BuildTenancy(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := build(dir, "tenancy"); err != nil {
		return err
	}
	link := filepath.Join(dir, "kubectl-tenancy")
	if _, err := os.Lstat(link); err == nil {
		return nil
	}
	return os.Symlink("tenancy", link)
}

// build builds ./cmd/<name> into dir.
func build(dir, name string) error {
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/tenancy-dev/tenancy/cmd/"+name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("build %s: %w\n%s", name, err, out)
	}
	return nil
}

// WaitPolicyEnforced waits until the API server enforces the self-serve
// admission policy (it loads policies asynchronously): a probe user who may
// create workspaces is refused a dry-run workspace owned by someone else.
func WaitPolicyEnforced(ctx context.Context, c *localcluster.Cluster, admin client.Client) error {
	const probe = "policy-probe"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test:" + probe},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: install.CreatorRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: probe}},
	}
	if err := admin.Create(ctx, binding); err != nil {
		return err
	}
	defer func() { _ = admin.Delete(context.Background(), binding) }()
	cfg, err := c.UserConfig(probe)
	if err != nil {
		return err
	}
	pc, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		ws := &tenancyv1.Workspace{
			ObjectMeta: metav1.ObjectMeta{Name: "probe"},
			Spec:       tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "someone-else"}, Class: "standard"},
		}
		last = pc.Create(ctx, ws, client.DryRunAll)
		return last != nil && strings.Contains(last.Error(), install.SelfServePolicy), nil
	})
	if err != nil {
		return fmt.Errorf("policy %s not enforced after a minute (last answer: %v)", install.SelfServePolicy, last)
	}
	return nil
}

// Leftovers says what remains, at this moment, of the workspace name that
// is gone: its namespace if not at least terminating, and any
// cluster-scoped object labelled with it. Tests call it the moment a
// Workspace disappears, not after a garbage-collection wait.
func Leftovers(ctx context.Context, c client.Client, name string) ([]string, error) {
	var out []string
	ns := &corev1.Namespace{}
	switch err := c.Get(ctx, client.ObjectKey{Name: name}, ns); {
	case err == nil && ns.DeletionTimestamp.IsZero():
		out = append(out, "namespace "+name+" is not terminating")
	case err != nil && !apierrors.IsNotFound(err):
		return nil, err
	}
	sel := client.MatchingLabels{tenancyv1.LabelWorkspace: name}
	crs, crbs := &rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{}
	if err := c.List(ctx, crs, sel); err != nil {
		return nil, err
	}
	if err := c.List(ctx, crbs, sel); err != nil {
		return nil, err
	}
	for _, o := range crs.Items {
		out = append(out, "ClusterRole "+o.Name)
	}
	for _, o := range crbs.Items {
		out = append(out, "ClusterRoleBinding "+o.Name)
	}
	return out, nil
}

// Eventually polls f every 200ms until it returns nil, and fails the test
// with f's last error once timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last = f(ctx)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s: %v", what, timeout, last)
	}
}

// Serve starts the built `tenancy serve` (Options.Binary) as the identity
// user with args (an --address, say), stops it when t ends, and returns its
// URL and what it has said on stderr so far.
func (e *Env) Serve(t testing.TB, dir, user string, args ...string) (string, *bytes.Buffer) {
	t.Helper()
	cfg, err := e.Cluster.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "server.kubeconfig")
	if err := e.Cluster.WriteKubeconfig(kc, cfg, ""); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.Tenancy(), append([]string{"serve", "--kubeconfig", kc}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "Tenancy is served at "); ok {
				urls <- u
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			t.Fatalf("tenancy serve ended: %s", stderr)
		}
		return u, stderr
	case <-time.After(time.Minute):
		t.Fatalf("tenancy serve did not say where it serves within a minute: %s", stderr)
	}
	return "", nil
}
