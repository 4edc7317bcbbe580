package server

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenancy-dev/tenancy/internal/jobs"
)

func TestShellSplit(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []string
		wantErr string
	}{
		"words":                  {in: "echo pancakes 🥞", want: []string{"echo", "pancakes", "🥞"}},
		"spaces around":          {in: "  sleep\t 5 \n", want: []string{"sleep", "5"}},
		"single quotes keep all": {in: `sh -c 'echo "$HOME"; exit 3'`, want: []string{"sh", "-c", `echo "$HOME"; exit 3`}},
		"double quotes escapes":  {in: `echo "a \"b\" \$c \n"`, want: []string{"echo", `a "b" $c \n`}},
		"backslash outside":      {in: `echo a\ b c`, want: []string{"echo", "a b", "c"}},
		"quotes join a word":     {in: `x'y'"z"`, want: []string{"xyz"}},
		"empty quoted word":      {in: `echo ''`, want: []string{"echo", ""}},
		"unclosed single":        {in: `echo 'a`, wantErr: "single quote"},
		"unclosed double":        {in: `echo "a`, wantErr: "double quote"},
		"lone backslash":         {in: `echo \`, wantErr: "backslash"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := shellSplit(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			// Quoting the words again gives them back.
			again, err := shellSplit(shellJoin(got))
			if err != nil || !cmp.Equal(got, again) {
				t.Errorf("shellJoin %q split back to %q (%v)", shellJoin(got), again, err)
			}
		})
	}
}

func TestParseEnvars(t *testing.T) {
	tests := map[string]struct {
		in      []string
		want    map[string]string
		wantErr string
	}{
		"none":                 {in: nil, want: nil},
		"empty dict":           {in: []string{"{}"}, want: nil},
		"JSON":                 {in: []string{`{"A": "1", "B": 2, "C": true}`}, want: map[string]string{"A": "1", "B": "2", "C": "true"}},
		"Python repr of dict":  {in: []string{`{'A': '1', 'PATH': "/bin:/usr/bin", 'N': 3, 'Q': 'it\'s'}`}, want: map[string]string{"A": "1", "PATH": "/bin:/usr/bin", "N": "3", "Q": "it's"}},
		"pairs repeated":       {in: []string{"A=1", "B=x=y"}, want: map[string]string{"A": "1", "B": "x=y"}},
		"pairs comma":          {in: []string{"A=1,B=2"}, want: map[string]string{"A": "1", "B": "2"}},
		"not a pair":           {in: []string{"A"}, wantErr: `"A" is not NAME=VALUE`},
		"bad dict":             {in: []string{"{'A' '1'}"}, wantErr: "expected ':'"},
		"nested value refused": {in: []string{`{"A": {"B": "1"}}`}, wantErr: "not a string or number"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseEnvars(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestFluxDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "0": 0, "90": 90 * time.Second, "1.5m": 90 * time.Second, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "10s": 10 * time.Second, "0.2": time.Second} {
		if got, err := fluxDuration(in); err != nil || got != want {
			t.Errorf("fluxDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"soon", "-1", "400d", "NaN"} {
		if _, err := fluxDuration(in); err == nil {
			t.Errorf("fluxDuration(%q) took it", in)
		}
	}
}

func TestFluxSubmission(t *testing.T) {
	tests := map[string]struct {
		q        url.Values
		want     jobs.Submission
		wantErrs []string
	}{
		"everything the client sends": {
			q: url.Values{
				"command": {"python3 train.py --epochs '3'"}, "num_tasks": {"4"}, "cores_per_task": {"2"}, "gpus_per_task": {"1"},
				"num_nodes": {"2"}, "workdir": {"/pod/work"}, "envars": {"{'SEED': '7'}"}, "runtime": {"60"},
				"exclusive": {"False"}, "is_launcher": {"false"}, "option_flags": {"{}"},
			},
			want: jobs.Submission{
				Command: []string{"python3", "train.py", "--epochs", "3"}, Tasks: 4, Workdir: "/pod/work", Env: map[string]string{"SEED": "7"},
				Resources: jobs.Resources{CPU: resource.NewQuantity(2, resource.DecimalSI), GPU: 1}, TimeLimit: time.Minute,
			},
		},
		"command only":       {q: url.Values{"command": {"sleep 5"}}, want: jobs.Submission{Command: []string{"sleep", "5"}}},
		"no command":         {q: url.Values{"num_tasks": {"2"}}, wantErrs: []string{"'command' is required."}},
		"not integers":       {q: url.Values{"command": {"true"}, "num_tasks": {"two"}, "cores_per_task": {"0"}}, wantErrs: []string{`Parameter num_tasks must be an integer, got "two"`, "Parameter cores_per_task must be >= 1, got 0"}},
		"too many nodes":     {q: url.Values{"command": {"true"}, "num_nodes": {"4"}}, wantErrs: []string{"The workspace can only schedule on 3 nodes, you requested 4"}},
		"too many tasks":     {q: url.Values{"command": {"true"}, "num_tasks": {"1001"}}, wantErrs: []string{"Parameter num_tasks must be <= 1000, got 1001"}},
		"relative workdir":   {q: url.Values{"command": {"true"}, "workdir": {"work"}}, wantErrs: []string{`Parameter workdir must be an absolute path, got "work"`}},
		"unsupported":        {q: url.Values{"command": {"true"}, "exclusive": {"true"}, "option_flags": {"cpu-affinity=per-task"}, "is_launcher": {"True"}}, wantErrs: []string{"Parameter exclusive is not supported: Kubernetes shares nodes between pods; ask for whole-node resources with cores_per_task instead", "Parameter option_flags is not supported: there is no Flux job shell to take shell options", "Parameter is_launcher is not supported: there is no Snakemake or Nextflow launcher; submit the workflow's command instead"}},
		"bad envars":         {q: url.Values{"command": {"true"}, "envars": {"A"}}, wantErrs: []string{`Environment variables must be key/value pairs (dict): "A" is not NAME=VALUE`}},
		"Tenancy validation": {q: url.Values{"command": {"true"}, "envars": {`{"1A": "x"}`}}, wantErrs: []string{`envars: "1A" is not a variable name (letters, digits and _, not starting with a digit)`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := fluxSubmission(tc.q, 3)
			if d := cmp.Diff(tc.wantErrs, errs); d != "" {
				t.Fatalf("errors (-want +got)\n%s", d)
			}
			if tc.wantErrs != nil {
				return
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestValuesOfJSON(t *testing.T) {
	got, err := valuesOfJSON(map[string]any{"command": []any{"echo", "a b"}, "num_tasks": "2", "envars": map[string]any{"A": "1"}, "exclusive": false})
	if err != nil {
		t.Fatal(err)
	}
	sub, errs := fluxSubmission(got, 1)
	if errs != nil {
		t.Fatal(errs)
	}
	want := jobs.Submission{Command: []string{"echo", "a b"}, Tasks: 2, Env: map[string]string{"A": "1"}}
	if d := cmp.Diff(want, sub); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

// fluxCase builds a Job as Tenancy submits it, and its pods.
type fluxCase struct {
	job  *batchv1.Job
	pods []corev1.Pod
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newFluxCase(s jobs.Submission) *fluxCase {
	job := jobs.Build("ws", "alex", s)
	jobs.WriteOutputTo(job, "/workspace")
	job.Name, job.UID = "job-abc", "uid-1"
	job.CreationTimestamp = metav1.NewTime(t0)
	return &fluxCase{job: job}
}

func (c *fluxCase) pod(node string, state corev1.ContainerState, phase corev1.PodPhase) *fluxCase {
	if phase == corev1.PodRunning {
		c.job.Status.Active++
	}
	c.pods = append(c.pods, corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "job-abc-" + node, Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: "0"}},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "task", State: state}}},
	})
	return c
}

func (c *fluxCase) cond(t batchv1.JobConditionType, reason string, at time.Time) *fluxCase {
	c.job.Status.Conditions = append(c.job.Status.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: metav1.NewTime(at)})
	return c
}

func (c *fluxCase) cancelled() *fluxCase {
	c.job.Annotations[jobs.AnnotationCancelled] = "true"
	return c
}

func running(at time.Time) corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at)}}
}

func exited(code int32, from, to time.Time) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: metav1.NewTime(from), FinishedAt: metav1.NewTime(to)}}
}

// fluxView is the part of a job's info the state mapping decides.
type fluxView struct {
	State, Result          string
	Returncode             any
	Waitstatus             any
	Success                bool
	Exception              fluxException
	TRun, TInactive        any
	Runtime                float64
	Nodelist               string
	Nnodes, Ntasks, Ncores int
	Name                   string
	Pending                any
}

func TestFluxInfo(t *testing.T) {
	start, end := t0.Add(2*time.Second), t0.Add(5*time.Second)
	now := t0.Add(10 * time.Second)
	sub := jobs.Submission{Command: []string{"/usr/bin/python3", "train.py"}, Tasks: 1, Resources: jobs.Resources{CPU: resource.NewQuantity(2, resource.DecimalSI)}, TimeLimit: time.Minute}
	active := fluxView{Returncode: "", Waitstatus: "", TInactive: "", Nnodes: 1, Nodelist: "node-a", Ntasks: 1, Ncores: 2, Name: "python3"}
	tests := map[string]struct {
		c    *fluxCase
		want fluxView
	}{
		"queued": {
			c: newFluxCase(sub),
			want: fluxView{State: "SCHED", Returncode: "", Waitstatus: "", TRun: "", TInactive: "", Ntasks: 1, Ncores: 2, Name: "python3",
				Pending: "waiting for its pods to be created"},
		},
		"running": {
			c:    newFluxCase(sub).pod("node-a", running(start), corev1.PodRunning),
			want: with(active, func(v *fluxView) { v.State, v.TRun, v.Runtime = "RUN", seconds(start), 8 }),
		},
		"completed": {
			c: newFluxCase(sub).pod("node-a", exited(0, start, end), corev1.PodSucceeded).cond(batchv1.JobComplete, "", end),
			want: with(active, func(v *fluxView) {
				v.State, v.Result, v.Returncode, v.Waitstatus, v.Success = "INACTIVE", "COMPLETED", 0, 0, true
				v.TRun, v.TInactive, v.Runtime = seconds(start), seconds(end), 3
			}),
		},
		"failed with its exit code": {
			c: newFluxCase(sub).pod("node-a", exited(3, start, end), corev1.PodFailed).cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, end),
			want: with(active, func(v *fluxView) {
				v.State, v.Result, v.Returncode, v.Waitstatus = "INACTIVE", "FAILED", 3, 3<<8
				v.TRun, v.TInactive, v.Runtime = seconds(start), seconds(end), 3
			}),
		},
		"time limit passed": {
			c: newFluxCase(sub).pod("node-a", exited(143, start, end), corev1.PodFailed).cond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded, end),
			want: with(active, func(v *fluxView) {
				v.State, v.Result, v.Returncode, v.Waitstatus = "INACTIVE", "TIMEOUT", -15, 15
				v.Exception = fluxException{Occurred: true, Type: "timeout", Note: "resource allocation expired"}
				v.TRun, v.TInactive, v.Runtime = seconds(start), seconds(end), 3
			}),
		},
		"past its time limit, stopping: cleanup": {
			c: newFluxCase(sub).pod("node-a", running(start), corev1.PodRunning).cond(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, end),
			want: with(active, func(v *fluxView) {
				v.State, v.TRun, v.Runtime = "CLEANUP", seconds(start), 8
			}),
		},
		"cancelled while it runs: cleanup": {
			c: newFluxCase(sub).cancelled().pod("node-a", running(start), corev1.PodRunning),
			want: with(active, func(v *fluxView) {
				v.State, v.TRun, v.Runtime = "CLEANUP", seconds(start), 8
			}),
		},
		"cancelled, killed": {
			c: newFluxCase(sub).cancelled().pod("node-a", exited(143, start, end), corev1.PodFailed).cond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded, end),
			want: with(active, func(v *fluxView) {
				v.State, v.Result, v.Returncode, v.Waitstatus = "INACTIVE", "CANCELED", -15, 15
				v.Exception = fluxException{Occurred: true, Type: "cancel", Note: "cancelled"}
				v.TRun, v.TInactive, v.Runtime = seconds(start), seconds(end), 3
			}),
		},
		"cancelled before it ran": {
			c: newFluxCase(sub).cancelled().cond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded, end),
			want: fluxView{State: "INACTIVE", Result: "CANCELED", Returncode: -128, Waitstatus: "", TRun: "", TInactive: seconds(end),
				Exception: fluxException{Occurred: true, Type: "cancel", Note: "cancelled"}, Ntasks: 1, Ncores: 2, Name: "python3"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := jobs.StateOf(tc.c.job, tc.c.pods)
			in := fluxInfo(tc.c.job, tc.c.pods, st, now)
			got := fluxView{
				State: in.State, Result: in.Result, Returncode: in.Returncode, Waitstatus: in.Waitstatus, Success: in.Success,
				Exception: in.Exception, TRun: in.TRun, TInactive: in.TInactive, Runtime: in.Runtime,
				Nodelist: in.Nodelist, Nnodes: in.Nnodes, Ntasks: in.Ntasks, Ncores: in.Ncores, Name: in.Name,
			}
			if s, ok := in.Annotations["sched"].(map[string]any); ok {
				got.Pending = s["reason_pending"]
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if in.ID != "job-abc" || in.UserID != "alex" || in.Queue != "ws" || in.Duration != 60 || in.TSubmit != seconds(t0) {
				t.Errorf("id %q userid %q queue %q duration %v t_submit %v", in.ID, in.UserID, in.Queue, in.Duration, in.TSubmit)
			}
		})
	}
}

func with(v fluxView, f func(*fluxView)) fluxView {
	f(&v)
	return v
}

func TestPoolTaints(t *testing.T) {
	gpu := []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}}
	other := []corev1.Taint{{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule}}
	soft := []corev1.Taint{{Key: "dedicated", Effect: corev1.TaintEffectPreferNoSchedule}}
	tol := []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}}
	if !tolerated(nil, tol) || !tolerated(gpu, tol) || tolerated(other, tol) || !tolerated(soft, tol) {
		t.Error("nodes: GPU taint and soft taints are tolerated, others are not")
	}
	if !tolerated(other, append(tol, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra", Effect: corev1.TaintEffectNoSchedule})) {
		t.Error("a workspace toleration is not honoured")
	}
}

func TestSplitLines(t *testing.T) {
	got := splitLines("a\n\nb 🥞\nlast")
	if d := cmp.Diff([]string{"a\n", "\n", "b 🥞\n", "last"}, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if splitLines("") != nil {
		t.Error("no output is no lines")
	}
}
