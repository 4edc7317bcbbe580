//go:build integration

package selfserve

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// result is what a command printed and how it exited.
type result struct {
	cmd            string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return "$ " + r.cmd + "\n" + r.stdout + r.stderr + "(exit " + strconv.Itoa(r.code) + ")"
}

var kubeconfigs sync.Map // user → path

// kubeconfig writes (once) a kubeconfig authenticating as user in groups,
// by a client certificate of the cluster's CA, and returns its path.
func kubeconfig(t *testing.T, user string, groups ...string) string {
	t.Helper()
	if user == "admin" {
		return kubeconfigPath("admin")
	}
	if p, ok := kubeconfigs.Load(user); ok {
		return p.(string)
	}
	cfg, err := cluster.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	path := kubeconfigPath(user)
	if err := cluster.WriteKubeconfig(path, cfg, ""); err != nil {
		t.Fatal(err)
	}
	kubeconfigs.Store(user, path)
	return path
}

// execute runs a program as a person would: its own HOME (no stray
// ~/.kube/config), no KUBECONFIG, stdin if given.
func execute(t *testing.T, stdin, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), "HOME="+workDir)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	name := bin
	if bin == tenancyBin {
		name = "tenancy"
	}
	return result{cmd: name + " " + strings.Join(args, " "), stdout: out.String(), stderr: errOut.String(), code: code}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tenancy runs the tenancy binary as user.
func tenancy(t *testing.T, user string, args ...string) result {
	t.Helper()
	r := execute(t, "", tenancyBin, append(args, "--kubeconfig", kubeconfig(t, user))...)
	t.Logf("%s", r)
	return r
}

// kubectl runs kubectl as user, with stdin.
func kubectl(t *testing.T, user, stdin string, args ...string) result {
	t.Helper()
	r := execute(t, stdin, "kubectl", append([]string{"--kubeconfig", kubeconfig(t, user)}, args...)...)
	t.Logf("%s", r)
	return r
}

// succeeds fails the test unless r exited 0; it returns stdout.
func succeeds(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("want success:\n%s", r)
	}
	return r.stdout
}

// fails fails the test unless r exited non-zero with each of wants in its
// stderr; it returns stderr.
func fails(t *testing.T, r result, wants ...string) string {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("want failure:\n%s", r)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr of %q\n%s\nwant it to contain %q", r.cmd, r.stderr, w)
		}
	}
	return r.stderr
}

// contains fails the test unless s contains each of wants.
func contains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s:\n%s\nwant it to contain %q", what, s, w)
		}
	}
}

// eventually polls cond every 100ms until it holds, for at most timeout.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, state := cond()
		last = state
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
	}
}

// canI waits until `kubectl auth can-i` answers want for user: RBAC
// changes reach the authorizer's cache a moment after they are written.
func canI(t *testing.T, user string, want bool, verb, resource string) {
	t.Helper()
	answer := "no"
	if want {
		answer = "yes"
	}
	eventually(t, user+" can-i "+verb+" "+resource+" = "+answer, 30*time.Second, func() (bool, string) {
		r := execute(t, "", "kubectl", "--kubeconfig", kubeconfig(t, user), "auth", "can-i", verb, resource)
		got := strings.TrimSpace(r.stdout)
		return got == answer, got + r.stderr
	})
}

// deleteWorkspace removes a workspace as admin and waits until it is gone.
func deleteWorkspace(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	ws := &tenancyv1.Workspace{}
	ws.Name = name
	if err := admin.Delete(ctx, ws); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete workspace %s: %v", name, err)
		return
	}
	eventually(t, "workspace "+name+" gone", 2*time.Minute, func() (bool, string) {
		err := admin.Get(ctx, client.ObjectKey{Name: name}, &tenancyv1.Workspace{})
		return apierrors.IsNotFound(err), "err=" + errString(err)
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
