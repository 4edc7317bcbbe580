//go:build integration

// Package user_test runs `tenancy user` as an admin would — the built
// binary, against a real control plane with the controller running — and
// checks what the users it onboards can and cannot do with kubectl and the
// kubeconfigs it wrote: the Arena multi-user guide end to end.
package user_test

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

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var (
	cluster *localcluster.Cluster
	admin   client.Client
	adminCS kubernetes.Interface
	// binDir holds the built tenancy binary and its kubectl-tenancy link.
	binDir string
)

func TestMain(m *testing.M) {
	// What `tenancy up` does before users are onboarded: install the CRDs
	// and self-serve policy, run the controller and create the default class.
	os.Exit(testenv.Main(m, testenv.Options{
		SelfServe: true,
		Binary:    true,
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			return install.CreateIfMissing(ctx, e.Admin, install.DefaultClass())
		},
	}, func(e *testenv.Env) {
		cluster, admin, adminCS, binDir = e.Cluster, e.Admin, e.AdminCS, e.BinDir
	}))
}

func needCluster(t *testing.T) {
	t.Helper()
	if cluster == nil {
		t.Skip("needs the local control plane (not with -short)")
	}
}

// result is what a command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs name in dir with env added, stdin from stdin; it fails the
// test only when the command cannot be started or hangs.
func run(t *testing.T, dir string, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish in 3 minutes:\n%s", name, strings.Join(args, " "), r)
	}
	return r
}

// tenancy runs the tenancy binary as the admin (KUBECONFIG is the admin's)
// in dir, where it writes NAME.kubeconfig by default.
func tenancy(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return run(t, dir, []string{"KUBECONFIG=" + cluster.AdminKubeconfig()}, "", filepath.Join(binDir, "tenancy"), args...)
}

// kubectl runs kubectl with kubeconfig, as the person it belongs to.
func kubectl(t *testing.T, kubeconfig string, stdin string, args ...string) result {
	t.Helper()
	return run(t, filepath.Dir(kubeconfig), []string{"KUBECONFIG=" + kubeconfig}, stdin, "kubectl", args...)
}

// mustSucceed fails the test unless r exited 0 and stdout has each of want.
func mustSucceed(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("command failed:\n%s", r)
	}
	stdoutHas(t, r, want...)
}

// stdoutHas fails the test unless stdout has each of want.
func stdoutHas(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r)
		}
	}
}

// mustFail fails the test unless r exited non-zero with each of want in
// its stderr.
func mustFail(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("command succeeded, want it to fail:\n%s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r)
		}
	}
}

// eventually polls cond every 250ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok && err == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
