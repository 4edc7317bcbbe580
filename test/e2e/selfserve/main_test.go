// Package selfserve proves the self-serve workspace flow of the Kubeflow
// multi-user CUJ end to end: an admin grants, people create, share and
// delete their own workspaces with kubectl and with the tenancy binary, and
// the ValidatingAdmissionPolicy refuses everything else with a message that
// says what to do. One control plane for the package; the controller runs
// in-process as a non-admin identity; the tenancy binary is built once and
// run as a person would run it.
package selfserve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

// Shared by the tests of the package, set up once by TestMain.
var (
	cluster    *localcluster.Cluster
	admin      client.Client // system:masters
	workDir    string        // kubeconfigs, the binary, HOME of the commands run
	tenancyBin string
)

// controllerUser is the workspace controller's identity: the ClusterRole of
// config/rbac/role.yaml plus the verb "manage" on workspaces, which exempts
// it from the self-serve policy.
const controllerUser = "tenancy-controller"

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tenancy-selfserve-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "selfserve:", err)
		return 1
	}
	workDir = filepath.Join(dir, "work")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "selfserve:", err)
		return 1
	}
	// Build the binary while the control plane starts.
	tenancyBin = filepath.Join(workDir, "tenancy")
	built := make(chan error, 1)
	go func() {
		out, err := exec.Command("go", "build", "-o", tenancyBin, "github.com/tenancy-dev/tenancy/cmd/tenancy").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %w\n%s", err, out)
		}
		built <- err
	}()

	keep := os.Getenv("TENANCY_KEEP_CLUSTER") == "1"
	code := 1
	c, err := startCluster(filepath.Join(dir, "cluster"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "selfserve:", err)
		if err := <-built; err != nil {
			fmt.Fprintln(os.Stderr, "selfserve: also:", err)
		}
		return 1
	}
	cluster = c
	stop, err := setup(c)
	if err == nil {
		err = <-built
	} else {
		if berr := <-built; berr != nil {
			fmt.Fprintln(os.Stderr, "selfserve: also:", berr)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "selfserve: setup: %v\n", err)
	} else {
		code = m.Run()
	}
	if stop != nil {
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, "selfserve: controller manager:", err)
		}
	}
	_ = c.Stop()
	switch {
	case keep:
		fmt.Fprintf(os.Stderr, "selfserve: kept %s (TENANCY_KEEP_CLUSTER=1); admin kubeconfig %s, logs in %s\n", dir, c.AdminKubeconfig(), c.LogDir())
	case code != 0:
		_ = os.RemoveAll(filepath.Join(dir, "cluster", "etcd"))
		fmt.Fprintf(os.Stderr, "selfserve: tests failed; component and controller logs in %s\n", c.LogDir())
	default:
		_ = os.RemoveAll(dir)
	}
	return code
}

func startCluster(dir string) (*localcluster.Cluster, error) {
	if err := localcluster.EnsureBinaries(context.Background(), "", os.Stderr); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{DataDir: dir, UnsafeNoFsync: true, Progress: os.Stderr})
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w (logs: %s)", err, filepath.Join(dir, "logs"))
	}
	return c, nil
}

// setup installs the CRDs and the self-serve policy as `tenancy install`
// does, starts the controller as its own identity, creates the classes and
// waits until the policy is enforced. The returned function stops the
// controller.
func setup(c *localcluster.Cluster) (stop func() error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	logFile, err := os.Create(filepath.Join(c.LogDir(), "tenancy-controller.log"))
	if err != nil {
		return nil, err
	}
	logger := zap.New(zap.WriteTo(logFile), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	if admin, err = client.New(c.Config(), client.Options{Scheme: controller.Scheme()}); err != nil {
		return nil, err
	}
	if err := install.CRDs(ctx, admin); err != nil {
		return nil, fmt.Errorf("install CRDs: %w", err)
	}
	if err := install.SelfServe(ctx, admin); err != nil {
		return nil, fmt.Errorf("install self-serve policy: %w", err)
	}
	if err := grantController(ctx); err != nil {
		return nil, err
	}
	if err := c.WriteKubeconfig(kubeconfigPath("admin"), c.Config(), ""); err != nil {
		return nil, err
	}
	gpu := &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu"},
		Spec: tenancyv1.WorkspaceClassSpec{
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("8")}},
			NodeSelector:  map[string]string{"tenancy.dev/pool": "gpu"},
		},
	}
	if err := install.CreateIfMissing(ctx, admin, install.DefaultClass(), gpu); err != nil {
		return nil, err
	}

	cfg, err := c.UserConfig(controllerUser)
	if err != nil {
		return nil, err
	}
	mgr, err := controller.NewManager(cfg, controller.Options{Concurrency: 4, MetricsAddr: "0", ProbeAddr: "0"})
	if err != nil {
		return nil, err
	}
	mgrCtx, stopMgr := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	stop = func() error {
		stopMgr()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("did not stop within 30s")
		}
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return stop, errors.New("controller cache did not sync")
	}
	return stop, waitPolicyEnforced(ctx, c)
}

// grantController binds the controller's identity to the ClusterRole of
// config/rbac/role.yaml and to the verb "manage" on workspaces.
func grantController(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		return err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		return fmt.Errorf("decode config/rbac/role.yaml: %w", err)
	}
	manage := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "tenancy-controller-manage"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{tenancyv1.GroupVersion.Group}, Resources: []string{"workspaces"}, Verbs: []string{install.VerbManage},
		}},
	}
	for _, r := range []*rbacv1.ClusterRole{role, manage} {
		if err := admin.Create(ctx, r); err != nil {
			return fmt.Errorf("create ClusterRole %s: %w", r.Name, err)
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: r.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: controllerUser}},
		}
		if err := admin.Create(ctx, binding); err != nil {
			return fmt.Errorf("bind ClusterRole %s: %w", r.Name, err)
		}
	}
	return nil
}

// waitPolicyEnforced waits until the API server's admission plugin has
// loaded the policy: a probe user who may create workspaces is refused a
// (dry-run) workspace owned by someone else.
func waitPolicyEnforced(ctx context.Context, c *localcluster.Cluster) error {
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

func kubeconfigPath(user string) string { return filepath.Join(workDir, user+".kubeconfig") }
