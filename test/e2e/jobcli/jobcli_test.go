//go:build integration

// Package jobcli_test runs `tenancy job` as people would — the built
// binary with the kubeconfigs `tenancy user add` wrote for them — against
// a real control plane whose nodes really run the pods as processes: alex
// submits, follows, reads, cancels and deletes his jobs, and tom, with his
// own kubeconfig, can do none of that to alex's.
package jobcli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		SelfServe:    true,
		Binary:       true,
		ProcessNodes: localcluster.DefaultNodes(1, 0),
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			return install.CreateIfMissing(ctx, e.Admin, install.DefaultClass())
		},
	}, func(e *testenv.Env) { env = e }))
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// tenancy runs the binary in dir with kubeconfig (the admin's when "").
func tenancy(t *testing.T, dir, kubeconfig string, args ...string) result {
	t.Helper()
	if kubeconfig == "" {
		kubeconfig = env.Cluster.AdminKubeconfig()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Tenancy(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("tenancy %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("tenancy %s\n%s", strings.Join(args, " "), r)
	return r
}

func succeeds(t *testing.T, r result, want ...string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("want success:\n%s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r)
		}
	}
	return r.stdout
}

func fails(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("want failure:\n%s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r)
		}
	}
}

func TestJobCLI(t *testing.T) {
	if env == nil {
		t.Skip("needs the local control plane (not with -short)")
	}
	dir := t.TempDir()
	succeeds(t, tenancy(t, dir, "", "user", "add", "alex", "--namespace", "alex-ws"), "Kubeconfig written to alex.kubeconfig")
	succeeds(t, tenancy(t, dir, "", "user", "add", "tom", "--namespace", "tom-ws", "--credential", "token"), "Kubeconfig written to tom.kubeconfig")
	alex, tom := filepath.Join(dir, "alex.kubeconfig"), filepath.Join(dir, "tom.kubeconfig")

	// Two tasks, each with its index, waited for; the workspace is the
	// kubeconfig context's namespace.
	succeeds(t, tenancy(t, dir, alex, "job", "submit", "--name", "hello", "--tasks", "2", "--env", "GREETING=hello", "--wait", "--",
		"sh", "-c", `echo "$GREETING $JOB_COMPLETION_INDEX"`),
		"job hello submitted in workspace alex-ws (2 tasks)\n", "job hello Succeeded\n")
	out := succeeds(t, tenancy(t, dir, alex, "job", "list"))
	if !regexp.MustCompile(`(?m)^NAME\s+STATE\s+TASKS\s+SUBMITTED-BY\s+AGE$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^hello\s+Succeeded\s+2/2\s+alex\s+\S+$`).MatchString(out) {
		t.Errorf("job list:\n%s", out)
	}
	if got := succeeds(t, tenancy(t, dir, alex, "job", "logs", "hello")); got != "hello 0\nhello 1\n" {
		t.Errorf("logs = %q, want both tasks in task order", got)
	}
	if got := succeeds(t, tenancy(t, dir, alex, "job", "logs", "hello", "--task", "1", "--prefix")); got != "[task 1] hello 1\n" {
		t.Errorf("logs --task 1 --prefix = %q", got)
	}
	succeeds(t, tenancy(t, dir, alex, "job", "get", "hello"), "Workspace:", "alex-ws", "State:", "Succeeded", "Submitted by:", "alex", "sh -c")
	if got := succeeds(t, tenancy(t, dir, alex, "job", "list", "-n", "alex-ws", "-o", "name")); got != "job.batch/hello\n" {
		t.Errorf("-o name = %q", got)
	}
	succeeds(t, tenancy(t, dir, alex, "job", "get", "hello", "-o", "yaml"), "kind: Job\n", "tenancy.dev/submitted-by: alex\n")

	// Follow a running job to its end, then cancel a long one.
	succeeds(t, tenancy(t, dir, alex, "job", "submit", "--name", "counter", "--", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 1; done"))
	if got := succeeds(t, tenancy(t, dir, alex, "job", "logs", "counter", "-f")); got != "1\n2\n3\n" {
		t.Errorf("logs -f = %q", got)
	}
	succeeds(t, tenancy(t, dir, alex, "job", "submit", "--name", "sleeper", "-o", "name", "--", "sleep", "300"), "job.batch/sleeper\n")

	// Refused up front: more GPUs than the quota holds, bad input.
	fails(t, tenancy(t, dir, alex, "job", "submit", "--gpus", "3", "--", "nvidia-smi"), "requests.nvidia.com/gpu")
	fails(t, tenancy(t, dir, alex, "job", "submit", "--env", "NOVALUE", "--", "true"), `--env "NOVALUE": want NAME=VALUE`)
	fails(t, tenancy(t, dir, alex, "job", "submit"), "give the command after --")
	fails(t, tenancy(t, dir, alex, "job", "list", "--state", "Sleeping"), `--state "Sleeping" is not one of Queued, Running, Succeeded, Failed, Cancelled`)

	// Tom, with his own kubeconfig, can neither see nor touch alex's jobs.
	for _, args := range [][]string{
		{"job", "list", "-n", "alex-ws"},
		{"job", "get", "hello", "-n", "alex-ws"},
		{"job", "logs", "hello", "-n", "alex-ws"},
		{"job", "cancel", "sleeper", "-n", "alex-ws"},
		{"job", "delete", "hello", "-n", "alex-ws"},
		{"job", "submit", "-n", "alex-ws", "--", "true"},
	} {
		r := tenancy(t, dir, tom, args...)
		fails(t, r, `"system:serviceaccount:tenancy-system:user-tom" cannot`, `in the namespace "alex-ws"`)
		if r.stdout != "" {
			t.Errorf("%v printed %q", args, r.stdout)
		}
	}
	fails(t, tenancy(t, dir, tom, "job", "list", "-n", "alex-ws"),
		"its owner or a Tenancy admin can allow it: tenancy workspace share alex-ws --user tom --role view")
	fails(t, tenancy(t, dir, tom, "job", "list", "-A"), "at the cluster scope")
	if out := tenancy(t, dir, tom, "job", "list"); out.code != 0 || !strings.Contains(out.stderr, "No jobs found in workspace tom-ws") {
		t.Errorf("tom's own workspace has no jobs:\n%s", out)
	}

	// Alex cancels: the job stays listed as Cancelled until deleted.
	succeeds(t, tenancy(t, dir, alex, "job", "cancel", "sleeper"), "job sleeper cancelled\n")
	deadline := time.Now().Add(time.Minute)
	for {
		out := succeeds(t, tenancy(t, dir, alex, "job", "list", "--state", "Cancelled", "-o", "name"))
		if out == "job.batch/sleeper\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleeper is not listed as Cancelled:\n%s", out)
		}
		time.Sleep(time.Second)
	}
	fails(t, tenancy(t, dir, alex, "job", "cancel", "hello"), "delete it to remove it")
	succeeds(t, tenancy(t, dir, alex, "job", "delete", "hello", "sleeper", "counter"), "job hello deleted\n", "job sleeper deleted\n", "job counter deleted\n")
	fails(t, tenancy(t, dir, alex, "job", "get", "hello"), "hello")
}
