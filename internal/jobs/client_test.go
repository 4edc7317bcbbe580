package jobs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestQueuedReasonOf(t *testing.T) {
	tests := map[string]struct{ msg, want string }{
		"quota": {
			msg:  `Error creating: pods "train-0-abcde" is forbidden: exceeded quota: tenancy, requested: requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=4, limited: requests.nvidia.com/gpu=5`,
			want: "waiting for quota to free up: requests.nvidia.com/gpu used 4 of 5, a task needs 2",
		},
		"two resources": {
			msg:  `Error creating: pods "x" is forbidden: exceeded quota: tenancy, requested: requests.cpu=2,requests.memory=1Gi, used: requests.cpu=4,requests.memory=1Gi, limited: requests.cpu=5,requests.memory=2Gi`,
			want: "waiting for quota to free up: requests.cpu used 4 of 5, a task needs 2; requests.memory used 1Gi of 2Gi, a task needs 1Gi",
		},
		"something else": {msg: `Error creating: pods "x" is forbidden: no`, want: `cannot create its pods: Error creating: pods "x" is forbidden: no`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := QueuedReasonOf(tc.msg); got != tc.want {
				t.Errorf("QueuedReasonOf() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSubmitterOf(t *testing.T) {
	for in, want := range map[string]string{
		"alex": "alex", "system:serviceaccount:tenancy-system:user-tom": "tom",
		"system:serviceaccount:other:user-tom":       "system:serviceaccount:other:user-tom",
		"system:serviceaccount:tenancy-system:user-": "system:serviceaccount:tenancy-system:user-",
	} {
		if got := SubmitterOf(in); got != want {
			t.Errorf("SubmitterOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNeverFitsError(t *testing.T) {
	err := CheckFits(Submission{Tasks: 2, Resources: Resources{GPU: 3}}, corev1.ResourceList{"requests.nvidia.com/gpu": *q("5")})
	var nf *NeverFitsError
	if !errors.As(err, &nf) || len(nf.Shortfalls) != 1 {
		t.Fatalf("CheckFits() = %v, want one *NeverFitsError shortfall", err)
	}
	s := nf.Shortfalls[0]
	if s.Resource != "requests.nvidia.com/gpu" || s.Tasks != 2 || s.Need.String() != "6" || s.Hard.String() != "5" || s.PerTask.String() != "3" {
		t.Errorf("shortfall = %+v", s)
	}
	if CheckFits(Submission{Resources: Resources{GPU: 1}}, nil) != nil {
		t.Error("with no quota known, nothing is refused")
	}
}

// TestOutputWrapper runs the wrapper WriteOutputTo puts around a command
// with this machine's sh, as a process node does: the output reaches both
// stdout and the task's file, and the exit code is the command's.
func TestOutputWrapper(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	job := Build("ml", "alex", Submission{Name: "train", Script: "echo out; echo err >&2; exit 7", Tasks: 3})
	WriteOutputTo(job, "/workspace")
	c := job.Spec.Template.Spec.Containers[0]
	if job.Annotations[AnnotationOutput] != "/workspace/.tenancy/jobs" {
		t.Errorf("annotation %s = %q", AnnotationOutput, job.Annotations[AnnotationOutput])
	}
	if diff := cmp.Diff([]string{"sh", "-c", "echo out; echo err >&2; exit 7"}, commandOf(c)); diff != "" {
		t.Errorf("commandOf the wrapped container (-want +got):\n%s", diff)
	}
	if got := summaryOf(job, Status{State: Queued}).OutputPath; got != "/workspace/.tenancy/jobs/train" {
		t.Errorf("OutputPath = %q", got)
	}
	var jobEnv *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "TENANCY_JOB" {
			jobEnv = &c.Env[i]
		}
	}
	if jobEnv == nil || jobEnv.ValueFrom == nil || jobEnv.ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-name']" {
		t.Fatalf("TENANCY_JOB = %+v", jobEnv)
	}

	dir := t.TempDir()
	cmd := exec.Command(c.Command[0], c.Command[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir(), "TENANCY_OUTPUT=" + dir, "TENANCY_JOB=train", "JOB_COMPLETION_INDEX=2"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Errorf("exit = %v, want code 7", err)
	}
	if out.String() != "out\nerr\n" {
		t.Errorf("stdout = %q", out.String())
	}
	file, err := os.ReadFile(filepath.Join(dir, "train", "task-2.log"))
	if err != nil || string(file) != "out\nerr\n" {
		t.Errorf("task-2.log = %q, %v", file, err)
	}

	// Where the directory cannot be made, the command still runs.
	cmd = exec.Command(c.Command[0], c.Command[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TENANCY_OUTPUT=/proc/no/such", "TENANCY_JOB=train"}
	if b, err := cmd.CombinedOutput(); !strings.Contains(string(b), "out") || err == nil {
		t.Errorf("without a writable volume: %q, %v", b, err)
	}
}

func TestSubmitRefusesWhatNeverFits(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	rq := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "tenancy", Namespace: "ml"},
		Status:     corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"requests.nvidia.com/gpu": *q("5")}},
	}
	c := &Client{Kube: fake.NewClientBuilder().WithScheme(scheme).WithObjects(rq).Build(),
		Defaults: func(context.Context, string) (Defaults, error) { return Defaults{Image: "python:3.12"}, nil }}
	_, err := c.Submit(context.Background(), "ml", "alex", Submission{Script: "x", Resources: Resources{GPU: 6}}, false)
	var nf *NeverFitsError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "requests.nvidia.com/gpu: 1 task(s) × 6 = 6 is more than the workspace's quota of 5") {
		t.Fatalf("Submit(6 GPUs) = %v", err)
	}
	var jobs batchv1.JobList
	if err := c.Kube.List(context.Background(), &jobs); err != nil || len(jobs.Items) != 0 {
		t.Errorf("a refused submission created %d jobs (%v)", len(jobs.Items), err)
	}
	sum, err := c.Submit(context.Background(), "ml", "alex", Submission{Name: "ok", Script: "x", Resources: Resources{GPU: 5}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Image != "python:3.12" || sum.SubmittedBy != "alex" || sum.State != Queued {
		t.Errorf("summary = %+v", sum)
	}
}
