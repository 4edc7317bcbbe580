//go:build integration

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
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

// Shared by the tests of the package, set up once by TestMain.
var (
	cluster    *localcluster.Cluster
	admin      client.Client // system:masters
	workDir    string        // kubeconfigs, HOME of the commands run
	tenancyBin string
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		SelfServe: true,
		Binary:    true,
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			cluster, admin = e.Cluster, e.Admin
			workDir = filepath.Join(e.Cluster.DataDir(), "work")
			if err := os.MkdirAll(workDir, 0o755); err != nil {
				return err
			}
			return setup(ctx)
		},
	}, func(e *testenv.Env) { tenancyBin = e.Tenancy() }))
}

// setup writes the admin's kubeconfig and creates the classes the tests
// use: the default "standard" and "gpu".
func setup(ctx context.Context) error {
	if err := cluster.WriteKubeconfig(kubeconfigPath("admin"), cluster.Config(), ""); err != nil {
		return err
	}
	gpu := &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu"},
		Spec: tenancyv1.WorkspaceClassSpec{
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("8")}},
			NodeSelector:  map[string]string{"tenancy.dev/pool": "gpu"},
		},
	}
	return install.CreateIfMissing(ctx, admin, install.DefaultClass(), gpu)
}

func kubeconfigPath(user string) string { return filepath.Join(workDir, user+".kubeconfig") }
