//go:build integration

// Package crash tests that the controller, run as its own process and
// SIGKILLed at random moments while workspaces come and go, converges to
// exactly the desired objects: none missing, none duplicated, none left
// behind by a deleted workspace.
package crash

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tenancy-dev/tenancy/internal/testenv"
)

// env is the control plane with Tenancy's CRDs installed and the tenancy
// binary built; the tests run the controller themselves.
var env *testenv.Env

// The controller's RBAC is created once, for every test that needs it.
var (
	grantOnce sync.Once
	grantErr  error
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{NoController: true, Binary: true, ControllerBinary: true}, func(e *testenv.Env) { env = e }))
}

// controllerKubeconfig writes a kubeconfig for the controller's own
// identity, bound to the ClusterRole of config/rbac and nothing else, as in
// a real installation.
func controllerKubeconfig(ctx context.Context, t *testing.T) string {
	t.Helper()
	grantOnce.Do(func() { grantErr = testenv.GrantController(ctx, env.Admin, testenv.ControllerUser) })
	if grantErr != nil {
		t.Fatal(grantErr)
	}
	cfg, err := env.Cluster.UserConfig(testenv.ControllerUser)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "controller.kubeconfig")
	if err := env.Cluster.WriteKubeconfig(path, cfg, ""); err != nil {
		t.Fatal(err)
	}
	return path
}
