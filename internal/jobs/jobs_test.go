package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func q(s string) *resource.Quantity { v := resource.MustParse(s); return &v }

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		s    Submission
		want string // "" for valid
	}{
		"a command":         {s: Submission{Command: []string{"echo", "hi"}}},
		"a script":          {s: Submission{Script: "echo hi"}},
		"nothing to run":    {s: Submission{}, want: "command: give the command to run"},
		"both":              {s: Submission{Command: []string{"a"}, Script: "b"}, want: "script: give a command or a script, not both"},
		"too many tasks":    {s: Submission{Script: "x", Tasks: 5000}, want: "tasks: 5000 is not between 1 and 1000"},
		"negative gpus":     {s: Submission{Script: "x", Resources: Resources{GPU: -1}}, want: "resources.gpu: -1 is negative"},
		"zero cpu":          {s: Submission{Script: "x", Resources: Resources{CPU: q("0")}}, want: "resources.cpu: 0 is not positive"},
		"bad name":          {s: Submission{Script: "x", Name: "Train_1"}, want: `name: "Train_1" is not a valid job name`},
		"relative workdir":  {s: Submission{Script: "x", Workdir: "data"}, want: `workdir: "data" is not an absolute path`},
		"bad env":           {s: Submission{Script: "x", Env: map[string]string{"1X": "y"}}, want: `env: "1X" is not a variable name`},
		"sub-second limit":  {s: Submission{Script: "x", TimeLimit: time.Millisecond}, want: "timeLimit: 1ms is under a second"},
		"negative duration": {s: Submission{Script: "x", TimeLimit: -time.Second}, want: "timeLimit: -1s is negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	job := Build("ml", "alex", Submission{
		Name: "train", Script: "python train.py", Tasks: 4, TimeLimit: 90 * time.Minute,
		Resources: Resources{CPU: q("2"), Memory: q("4Gi"), GPU: 1}, Env: map[string]string{"B": "2", "A": "1"}, Workdir: "/workspace",
	})
	if job.Name != "train" || job.Namespace != "ml" || job.Annotations[AnnotationSubmittedBy] != "alex" {
		t.Errorf("metadata: %+v", job.ObjectMeta)
	}
	spec := job.Spec
	if *spec.Completions != 4 || *spec.Parallelism != 4 || spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("tasks: completions %v parallelism %v mode %v", *spec.Completions, *spec.Parallelism, spec.CompletionMode)
	}
	if *spec.ActiveDeadlineSeconds != 5400 || *spec.BackoffLimit != 0 {
		t.Errorf("deadline %v backoff %v", *spec.ActiveDeadlineSeconds, *spec.BackoffLimit)
	}
	c := spec.Template.Spec.Containers[0]
	want := corev1.Container{
		Name: "task", Image: DefaultImage, WorkingDir: "/workspace", Command: []string{"sh", "-c", "python train.py"},
		Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: *q("2"), corev1.ResourceMemory: *q("4Gi"), GPUResource: *q("1")},
			Limits:   corev1.ResourceList{GPUResource: *q("1")},
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, spec.Template.Spec.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}

	one := Build("ml", "bob", Submission{Command: []string{"echo", "hi"}})
	if one.GenerateName != "job-" || one.Spec.CompletionMode != nil || one.Spec.ActiveDeadlineSeconds != nil {
		t.Errorf("one task: %+v", one)
	}
	if got := one.Spec.Template.Spec.Containers[0].Resources; len(got.Requests) != 0 || len(one.Spec.Template.Spec.Tolerations) != 0 {
		t.Errorf("no resources asked, got %+v", got)
	}
}

func TestCheckFits(t *testing.T) {
	hard := corev1.ResourceList{"requests.nvidia.com/gpu": *q("5"), "requests.cpu": *q("16")}
	tests := map[string]struct {
		s    Submission
		want string
	}{
		"fits":                 {s: Submission{Tasks: 2, Resources: Resources{GPU: 2, CPU: q("8")}}},
		"six GPUs, quota five": {s: Submission{Resources: Resources{GPU: 6}}, want: "requests.nvidia.com/gpu: 1 task(s) × 6 = 6 is more than the workspace's quota of 5"},
		"tasks multiply":       {s: Submission{Tasks: 3, Resources: Resources{CPU: q("8")}}, want: "requests.cpu: 3 task(s) × 8 = 24 is more than the workspace's quota of 16"},
		"memory not in quota":  {s: Submission{Resources: Resources{Memory: q("1Ti")}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckFits(tc.s, hard)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckFits() = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckFits() = %v, want %q", err, tc.want)
			}
		})
	}
	if err := CheckFits(Submission{Resources: Resources{GPU: 1}}, corev1.ResourceList{"requests.cpu": *q("1")}); err == nil || !strings.Contains(err.Error(), "no GPU quota") {
		t.Errorf("GPUs in a workspace without GPU quota: %v", err)
	}
}

func pod(name string, index string, phase corev1.PodPhase, exit *int32) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase}}
	if index != "" {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: index}
	}
	if exit != nil {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: *exit, Reason: "Error"}}}}
	}
	return p
}

func TestStateOf(t *testing.T) {
	job := func(completions int32, conds ...batchv1.JobCondition) *batchv1.Job {
		j := &batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr.To(completions)}}
		j.Status.Conditions = conds
		return j
	}
	cond := func(t batchv1.JobConditionType, reason string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason}
	}
	tests := map[string]struct {
		job        *batchv1.Job
		pods       []corev1.Pod
		want       State
		wantReason string
		wantExit   *int32
	}{
		"succeeded": {job: job(1, cond(batchv1.JobComplete, "")), pods: []corev1.Pod{pod("a", "", corev1.PodSucceeded, ptr.To[int32](0))}, want: Succeeded},
		"failed with exit code 3": {
			job:  job(2, cond(batchv1.JobFailed, "BackoffLimitExceeded")),
			pods: []corev1.Pod{pod("a-0", "0", corev1.PodSucceeded, ptr.To[int32](0)), pod("a-1", "1", corev1.PodFailed, ptr.To[int32](3))},
			want: Failed, wantReason: "task 1 exited with code 3", wantExit: ptr.To[int32](3),
		},
		"timed out": {job: job(1, cond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded)), want: Failed, wantReason: "DeadlineExceeded: the time limit passed"},
		"cancelled": {job: func() *batchv1.Job {
			j := job(1)
			j.Annotations = map[string]string{AnnotationCancelled: "true"}
			return j
		}(), want: Cancelled, wantReason: "cancelled"},
		"running": {job: func() *batchv1.Job { j := job(1); j.Status.Active = 1; return j }(), pods: []corev1.Pod{pod("a", "", corev1.PodRunning, nil)}, want: Running},
		"no pods": {job: job(1), want: Queued, wantReason: "waiting for its pods to be created"},
		"unschedulable": {
			job: func() *batchv1.Job { j := job(1); j.Status.Active = 1; return j }(),
			pods: []corev1.Pod{{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
			}}}}},
			want: Queued, wantReason: "not scheduled yet: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := StateOf(tc.job, tc.pods)
			if got.State != tc.want || got.Reason != tc.wantReason || !cmp.Equal(got.ExitCode, tc.wantExit) {
				t.Errorf("StateOf() = %s %q exit %v, want %s %q exit %v", got.State, got.Reason, got.ExitCode, tc.want, tc.wantReason, tc.wantExit)
			}
			if len(got.Tasks) != int(*tc.job.Spec.Completions) {
				t.Errorf("%d tasks, want %d", len(got.Tasks), *tc.job.Spec.Completions)
			}
		})
	}
}
