package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

// Shared by the tests of the package, set up once by TestMain.
var (
	cluster *localcluster.Cluster
	admin   client.Client        // system:masters, for fixtures and for reading what the controller did
	adminCS kubernetes.Interface // the same identity, typed clientset
)

// controllerUser is the identity the workspace controller runs as: bound to
// the ClusterRole shipped in config/rbac/role.yaml and nothing else, so the
// tests also prove that role is enough.
const controllerUser = "tenancy-controller"

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

// run is localcluster.TestMain's life cycle with one step more: the
// controller manager is stopped after the tests and before the control
// plane, which localcluster.TestMain has no hook for.
func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tenancy-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	keep := os.Getenv("TENANCY_KEEP_CLUSTER") == "1"
	if err := localcluster.EnsureBinaries(context.Background(), "", os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	c, err := localcluster.Start(ctx, localcluster.Options{DataDir: dir, UnsafeNoFsync: true, Progress: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: start control plane: %v\nlogs: %s\n", err, filepath.Join(dir, "logs"))
		return 1
	}
	cluster = c

	code := 1
	stopManager, err := setup(c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: setup: %v\n", err)
	} else {
		code = m.Run()
	}
	if stopManager != nil {
		if err := stopManager(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: controller manager:", err)
		}
	}
	_ = c.Stop()
	switch {
	case keep:
		fmt.Fprintf(os.Stderr, "integration: kept %s (TENANCY_KEEP_CLUSTER=1); admin kubeconfig %s, logs in %s\n",
			dir, c.AdminKubeconfig(), c.LogDir())
	case code != 0:
		_ = os.RemoveAll(filepath.Join(dir, "etcd"))
		fmt.Fprintf(os.Stderr, "integration: tests failed; component and controller logs in %s\n", c.LogDir())
	default:
		_ = os.RemoveAll(dir)
	}
	return code
}

// setup installs the CRDs (Tenancy's, and a stand-in for Istio's
// AuthorizationPolicy, before the controller first asks discovery for it),
// gives the controller its ClusterRole and starts it. The returned function
// stops the controller.
func setup(c *localcluster.Cluster) (stop func() error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	logFile, err := os.Create(filepath.Join(c.LogDir(), "tenancy-controller.log"))
	if err != nil {
		return nil, err
	}
	logger := zap.New(zap.WriteTo(logFile), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger) // client-go's reflector errors too, instead of stderr

	if admin, err = client.New(c.Config(), client.Options{Scheme: controller.Scheme()}); err != nil {
		return nil, err
	}
	if adminCS, err = kubernetes.NewForConfig(c.Config()); err != nil {
		return nil, err
	}
	if err := install.CRDs(ctx, admin); err != nil {
		return nil, fmt.Errorf("install CRDs: %w", err)
	}
	if err := installIstioCRD(ctx); err != nil {
		return nil, err
	}
	if err := grantControllerRole(ctx); err != nil {
		return nil, err
	}

	cfg, err := c.UserConfig(controllerUser)
	if err != nil {
		return nil, err
	}
	mgr, err := controller.NewManager(cfg, controller.Options{
		Concurrency: 4, MetricsAddr: "0", ProbeAddr: "0",
		IstioUserHeader: istioUserHeader,
	})
	if err != nil {
		return nil, err
	}
	mgrCtx, stopMgr := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		stopMgr()
		return nil, errors.Join(errors.New("controller cache did not sync"), <-done)
	}
	return func() error {
		stopMgr()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("did not stop within 30s")
		}
	}, nil
}

// istioUserHeader is the header `tenancy controller` and `tenancy up` pass.
const istioUserHeader = "kubeflow-userid"

// grantControllerRole creates the ClusterRole from config/rbac/role.yaml
// and binds it to the controller's identity.
func grantControllerRole(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		return err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		return fmt.Errorf("decode config/rbac/role.yaml: %w", err)
	}
	if err := admin.Create(ctx, role); err != nil {
		return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: controllerUser}},
	}
	if err := admin.Create(ctx, binding); err != nil {
		return fmt.Errorf("bind ClusterRole %s: %w", role.Name, err)
	}
	return nil
}

// installIstioCRD installs a minimal authorizationpolicies.security.istio.io
// and waits until discovery serves it.
func installIstioCRD(ctx context.Context) error {
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "authorizationpolicies.security.istio.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "security.istio.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "authorizationpolicies", Singular: "authorizationpolicy",
				Kind: "AuthorizationPolicy", ListKind: "AuthorizationPolicyList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: &preserve},
					},
				}},
			}},
		},
	}
	if err := admin.Create(ctx, crd); err != nil {
		return fmt.Errorf("create Istio CRD: %w", err)
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		res, err := adminCS.Discovery().ServerResourcesForGroupVersion("security.istio.io/v1")
		if err != nil {
			last = err
			return false, nil
		}
		for _, r := range res.APIResources {
			if r.Name == "authorizationpolicies" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("Istio CRD not served: %w (last error: %v)", err, last)
	}
	return nil
}
