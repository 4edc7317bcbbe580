package job

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/cli/clitest"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// run runs `tenancy job ARGS…` against the fake cluster, with the
// connection flags (-n) as on the root command.
func run(e *clitest.Env, args ...string) error {
	cmd := NewCommand(e.Factory)
	e.Factory.Flags.AddFlags(cmd.PersistentFlags())
	cmd.SetArgs(args)
	cmd.SetOut(e.Out)
	cmd.SetErr(e.Err)
	return cmd.ExecuteContext(context.Background())
}

func fixtures() []client.Object {
	done := jobs.Build("ml", "alex", jobs.Submission{Name: "train", Command: []string{"python", "train.py"}, Tasks: 2})
	done.CreationTimestamp = metav1.NewTime(clitest.Now.Add(-2 * time.Hour))
	done.Status = batchv1.JobStatus{Succeeded: 2, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}, {Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	failed := jobs.Build("ml", "bob", jobs.Submission{Name: "oops", Command: []string{"false"}})
	failed.CreationTimestamp = metav1.NewTime(clitest.Now.Add(-time.Hour))
	failed.Status = batchv1.JobStatus{Failed: 1, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}}
	other := jobs.Build("elsewhere", "tom", jobs.Submission{Name: "far", Command: []string{"sleep", "9"}})
	other.CreationTimestamp = metav1.NewTime(clitest.Now.Add(-time.Minute))
	notOurs := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "cron-123", CreationTimestamp: metav1.NewTime(clitest.Now)}}
	for _, j := range []*batchv1.Job{done, failed, other} {
		j.Spec.Template.Spec.Containers[0].Image = "busybox"
		j.Spec.BackoffLimit = ptr.To[int32](0)
	}
	return []client.Object{done, failed, other, notOurs}
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "-n", "ml"}, "NAME    STATE       TASKS   SUBMITTED-BY   AGE\n" +
			"oops    Failed      0/1     bob            60m\n" +
			"train   Succeeded   2/2     alex           120m\n"},
		{[]string{"list", "-A", "--state", "succeeded"}, "WORKSPACE   NAME    STATE       TASKS   SUBMITTED-BY   AGE\n" +
			"ml          train   Succeeded   2/2     alex           120m\n"},
		{[]string{"ls", "-n", "ml", "-o", "name"}, "job.batch/oops\njob.batch/train\n"},
	} {
		e := clitest.New("alex", nil, fixtures()...)
		if err := run(e, tc.args...); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if diff := cmp.Diff(tc.want, e.Out.String()); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.args, diff)
		}
	}
	e := clitest.New("alex", nil, fixtures()...)
	if err := run(e, "list", "-n", "ml", "-o", "wide"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REASON", "EXIT", "COMMAND", "python train.py", "BackoffLimitExceeded"} {
		if !strings.Contains(e.Out.String(), want) {
			t.Errorf("-o wide lacks %q:\n%s", want, e.Out.String())
		}
	}
}

func TestSubmitAndGet(t *testing.T) {
	e := clitest.New("alex", nil, fixtures()...)
	if err := run(e, "submit", "-n", "ml", "--name", "one", "--cpu", "500m", "--env", "A=1", "--", "echo", "hi"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("job one submitted in workspace ml (1 task)\n", e.Out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	job := &batchv1.Job{}
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: "ml", Name: "one"}, job); err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if job.Annotations[jobs.AnnotationSubmittedBy] != "alex" || strings.Join(c.Command, " ") != "echo hi" || c.Resources.Requests.Cpu().String() != "500m" {
		t.Errorf("job = %+v", job)
	}

	e.Out.Reset()
	if err := run(e, "get", "train", "-n", "ml"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Name:", "train", "State:", "Succeeded", "Submitted by:", "alex", "Tasks:", "2 (2 succeeded, 0 failed, 0 running)", "Command:", "python train.py"} {
		if !strings.Contains(e.Out.String(), want) {
			t.Errorf("get lacks %q:\n%s", want, e.Out.String())
		}
	}
	if err := run(e, "get", "cron-123", "-n", "ml", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "not a Tenancy job") {
		t.Errorf("a Job Tenancy did not make: %v", err)
	}
}

// Bad input is refused before any request.
func TestSubmitRefusesBadInput(t *testing.T) {
	for args, want := range map[string]string{
		"submit -n ml":                                   "give the command after --",
		"submit -n ml --cpu lots -- x":                   `--cpu "lots" is not a quantity`,
		"submit -n ml --env =1 -- x":                     `--env "=1": want NAME=VALUE`,
		"submit -n ml --tasks 0 -- x":                    "tasks",
		"submit -n ml -o table -- x":                     `-o "table" is not an output format`,
		"submit -n ml --wait --dry-run -- x":             "a dry run creates no job to wait for",
		"list -n ml --state done":                        `--state "done" is not one of`,
		"logs x -n ml --task -2":                         "--task -2: tasks count from 0",
		"cancel -n ml":                                   "name the jobs to cancel",
		"submit --name x -- echo":                        "which workspace? name it with -n WORKSPACE",
		"submit -n ml echo -- hi":                        `"echo" comes before --`,
		"submit -n ml --time-limit -1s --name x -- echo": "timeLimit",
	} {
		e := clitest.New("alex", nil, fixtures()...)
		err := run(e, strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
		if e.Calls > 0 {
			t.Errorf("%s: %d requests before refusing", args, e.Calls)
		}
	}
}
