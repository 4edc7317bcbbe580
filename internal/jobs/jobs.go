// Package jobs is what every door to Tenancy's jobs shares — the CLI, the
// REST API, the Flux protocol and the web UI.
//
// The pure part makes no request: a submission becomes a batch/v1 Job
// (Build), a Job and its pods become a state (StateOf), a submission that
// can never fit the workspace's quota is refused up front (CheckFits), and
// a task's output is also written to the workspace volume (WriteOutputTo).
//
//	func (s Submission) Validate() error                          // *FieldError
//	func Build(ns, submitter string, s Submission) *batchv1.Job
//	func CheckFits(s Submission, hard corev1.ResourceList) error  // *NeverFitsError
//	func StateOf(job *batchv1.Job, pods []corev1.Pod) Status
//	func WriteOutputTo(job *batchv1.Job, volumePath string)
//	func QueuedReasonOf(failedCreateMessage string) string
//	func SubmitterOf(username string) string
//
// The operations act as the caller through a Client, whose clients must
// carry the caller's identity (impersonation in the server, the user's own
// kubeconfig in the CLI), so RBAC, quota and the tenancy-job-submitter
// admission policy decide everything:
//
//	c := &jobs.Client{Kube: asUser, Clientset: asUserCS, Defaults: optional}
//	c.Submit(ctx, ns, submitter string, s Submission, dryRun bool) (*Summary, error)
//	c.List(ctx, ns string, f Filter{State, SubmittedBy}) ([]Summary, error)  // newest first
//	c.Get(ctx, ns, name string) (*Detail, error)                     // Summary + TaskStatus
//	c.Cancel(ctx, ns, name, by string) (*Summary, error)              // ErrFinished if it ended
//	c.Delete(ctx, ns, name string) error
//	c.Logs(ctx, ns, name string, o LogOptions{Task, Follow, Tail, Prefix}, w io.Writer) error
//	c.Quota(ctx, ns string) (hard, used corev1.ResourceList, err error)
//	jobs.WorkspaceDefaults(ctx, r client.Reader, ns string) (Defaults, error)
//	jobs.Submitter(ctx, cs kubernetes.Interface) (string, error)    // who the caller is (CLI)
//
// Errors: *FieldError (bad input: 400), *NeverFitsError (can never fit the
// quota: names the resource and figures), *NotFoundError (no such
// Tenancy job), ErrFinished (cancel of an ended job: 409), and Kubernetes'
// own API errors (Forbidden, NotFound, …) wrapped with %w, for
// apierrors.IsForbidden and friends.
//
// A namespace is a workspace's (the workspace's name); Tenancy jobs are
// the Jobs labelled app.kubernetes.io/managed-by: tenancy. Cancel marks
// the Job cancelled and gives it an active deadline of one second, so the
// Job controller stops its pods and the Job ends (its TTL then counts).
package jobs

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// SubmitterOf is who submits a job for the API server's username: the
// User a Tenancy token ServiceAccount (tenancy-system/user-NAME) stands
// for, or the username itself; the policy tenancy-job-submitter insists
// on exactly this.
func SubmitterOf(username string) string {
	if name, ok := strings.CutPrefix(username, tokenUserPrefix); ok && name != "" {
		return name
	}
	return username
}

const tokenUserPrefix = "system:serviceaccount:tenancy-system:user-"

// Labels and annotations of a Tenancy job.
const (
	// AnnotationSubmittedBy names who submitted the job.
	AnnotationSubmittedBy = tenancyv1.AnnotationSubmittedBy
	// AnnotationCancelled marks a job cancelled; AnnotationCancelledBy
	// and AnnotationCancelledAt say by whom and when.
	AnnotationCancelled   = "tenancy.dev/cancelled"
	AnnotationCancelledBy = "tenancy.dev/cancelled-by"
	AnnotationCancelledAt = "tenancy.dev/cancelled-at"
	// AnnotationOutput is the directory on the workspace volume where each
	// task's output is also written: <dir>/<job>/task-<index>.log.
	AnnotationOutput = "tenancy.dev/output"
	// GPUResource is what a submission's GPUs ask for.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
	// DefaultImage runs where the submission and its class name none.
	DefaultImage = "busybox"
	// MaxTasks bounds one job's tasks.
	MaxTasks = 1000
)

// Submission is what a person asks to run.
type Submission struct {
	// Name of the Job; generated (job-…) when empty.
	Name string `json:"name,omitempty"`
	// Command and its arguments; or Script, run with sh -c.
	Command []string `json:"command,omitempty"`
	Script  string   `json:"script,omitempty"`
	// Image of the container (local process nodes run the command as it is).
	Image string `json:"image,omitempty"`
	// Tasks: more than one makes an Indexed Job, each task seeing
	// JOB_COMPLETION_INDEX.
	Tasks int32 `json:"tasks,omitempty"`
	// Resources of each task.
	Resources Resources `json:"resources,omitempty"`
	// TimeLimit ends the job (activeDeadlineSeconds); none when zero.
	TimeLimit time.Duration `json:"timeLimit,omitempty"`
	// Env of each task.
	Env map[string]string `json:"env,omitempty"`
	// Workdir of each task.
	Workdir string `json:"workdir,omitempty"`
}

// Resources of one task.
type Resources struct {
	CPU    *resource.Quantity `json:"cpu,omitempty"`
	Memory *resource.Quantity `json:"memory,omitempty"`
	GPU    int64              `json:"gpu,omitempty"`
}

// FieldError is bad input: which field, and what to do.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks a submission, naming the first bad field.
func (s Submission) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case len(s.Command) == 0 && s.Script == "":
		return bad("command", "give the command to run (a list such as [\"python\", \"train.py\"]) or a script")
	case len(s.Command) > 0 && s.Script != "":
		return bad("script", "give a command or a script, not both")
	case s.Tasks < 0 || s.Tasks > MaxTasks:
		return bad("tasks", "%d is not between 1 and %d", s.Tasks, MaxTasks)
	case s.TimeLimit < 0:
		return bad("timeLimit", "%s is negative", s.TimeLimit)
	case s.TimeLimit > 0 && s.TimeLimit < time.Second:
		return bad("timeLimit", "%s is under a second", s.TimeLimit)
	case s.Resources.GPU < 0:
		return bad("resources.gpu", "%d is negative", s.Resources.GPU)
	case s.Workdir != "" && !strings.HasPrefix(s.Workdir, "/"):
		return bad("workdir", "%q is not an absolute path", s.Workdir)
	}
	if s.Name != "" {
		if errs := validation.IsDNS1123Label(s.Name); len(errs) > 0 {
			return bad("name", "%q is not a valid job name: %s", s.Name, strings.Join(errs, "; "))
		}
		if len(s.Name) > 52 {
			return bad("name", "%q is longer than 52 characters (pods of an indexed job add a suffix)", s.Name)
		}
	}
	for _, q := range []struct {
		field string
		v     *resource.Quantity
	}{{"resources.cpu", s.Resources.CPU}, {"resources.memory", s.Resources.Memory}} {
		if q.v != nil && q.v.Sign() <= 0 {
			return bad(q.field, "%s is not positive", q.v.String())
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		if !envName.MatchString(k) {
			return bad("env", "%q is not a variable name (letters, digits and _, not starting with a digit)", k)
		}
	}
	return nil
}

// Build turns a submission into the Job to create in namespace ns, as
// submitter. Call Validate first; Build assumes a valid submission.
func Build(ns, submitter string, s Submission) *batchv1.Job {
	tasks := max(s.Tasks, 1)
	image := s.Image
	if image == "" {
		image = DefaultImage
	}
	c := corev1.Container{Name: "task", Image: image, WorkingDir: s.Workdir}
	if s.Script != "" {
		c.Command = []string{"sh", "-c", s.Script}
	} else {
		c.Command = slices.Clone(s.Command)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	req := corev1.ResourceList{}
	if s.Resources.CPU != nil {
		req[corev1.ResourceCPU] = *s.Resources.CPU
	}
	if s.Resources.Memory != nil {
		req[corev1.ResourceMemory] = *s.Resources.Memory
	}
	var tolerations []corev1.Toleration
	if s.Resources.GPU > 0 {
		req[GPUResource] = *resource.NewQuantity(s.Resources.GPU, resource.DecimalSI)
		tolerations = []corev1.Toleration{{Key: string(GPUResource), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	}
	if len(req) > 0 {
		c.Resources = corev1.ResourceRequirements{Requests: req, Limits: req.DeepCopy()}
		// CPU and memory limits would bound the task more than asked.
		delete(c.Resources.Limits, corev1.ResourceCPU)
		delete(c.Resources.Limits, corev1.ResourceMemory)
	}
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   ns,
			Labels:      map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue},
			Annotations: map[string]string{AnnotationSubmittedBy: submitter},
		},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(tasks),
			Parallelism:  ptr.To(tasks),
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{c},
					Tolerations:   tolerations,
				},
			},
		},
	}
	if tasks > 1 {
		job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	}
	if s.TimeLimit > 0 {
		job.Spec.ActiveDeadlineSeconds = ptr.To(int64(s.TimeLimit / time.Second))
	}
	if s.Name != "" {
		job.Name = s.Name
	} else {
		job.GenerateName = "job-"
	}
	return job
}

// CheckFits refuses a submission that can never fit hard (the workspace's
// ResourceQuota) with a *NeverFitsError naming each resource and the
// figures: each task's requests times the tasks that run at once. One
// that fits but not now waits as Queued.
func CheckFits(s Submission, hard corev1.ResourceList) error {
	tasks := int64(max(s.Tasks, 1))
	need := map[corev1.ResourceName]resource.Quantity{}
	if s.Resources.CPU != nil {
		need["requests.cpu"] = *s.Resources.CPU
	}
	if s.Resources.Memory != nil {
		need["requests.memory"] = *s.Resources.Memory
	}
	if s.Resources.GPU > 0 {
		need["requests."+GPUResource] = *resource.NewQuantity(s.Resources.GPU, resource.DecimalSI)
	}
	var short []Shortfall
	for _, name := range slices.Sorted(maps.Keys(need)) {
		per := need[name]
		limit, ok := hard[name]
		if !ok {
			if name == "requests."+GPUResource {
				if _, anyGPU := hard[GPUResource]; !anyGPU && hard != nil {
					short = append(short, Shortfall{Resource: name, Tasks: tasks, PerTask: per, NoQuota: true})
				}
			}
			continue
		}
		total := per.DeepCopy()
		total.Mul(tasks)
		if total.Cmp(limit) > 0 {
			short = append(short, Shortfall{Resource: name, Tasks: tasks, PerTask: per, Need: total, Hard: limit})
		}
	}
	if len(short) == 0 {
		return nil
	}
	return &NeverFitsError{Shortfalls: short}
}

// State is a job's state as every door shows it.
type State string

// The states of a job.
const (
	Queued    State = "Queued"
	Running   State = "Running"
	Succeeded State = "Succeeded"
	Failed    State = "Failed"
	Cancelled State = "Cancelled"
)

// Status is a job's state, why, and each task's.
type Status struct {
	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"`
	// ExitCode of the first failed task, when one failed by exiting.
	ExitCode *int32      `json:"exitCode,omitempty"`
	Tasks    []TaskState `json:"tasks"`
}

// TaskState is one task's (pod's) state.
type TaskState struct {
	Index    int    `json:"index"`
	Pod      string `json:"pod,omitempty"`
	State    State  `json:"state"`
	Reason   string `json:"reason,omitempty"`
	ExitCode *int32 `json:"exitCode,omitempty"`
}

// StateOf derives a job's status from the Job and its pods.
func StateOf(job *batchv1.Job, pods []corev1.Pod) Status {
	st := Status{Tasks: tasksOf(job, pods)}
	cond := func(t batchv1.JobConditionType) *batchv1.JobCondition {
		for i := range job.Status.Conditions {
			if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
				return c
			}
		}
		return nil
	}
	switch {
	case job.Annotations[AnnotationCancelled] == "true":
		st.State, st.Reason = Cancelled, "cancelled"
		if by := job.Annotations[AnnotationCancelledBy]; by != "" {
			st.Reason = "cancelled by " + by
		}
		for i, t := range st.Tasks {
			if t.State == Queued || t.State == Running {
				st.Tasks[i].State = Cancelled
			}
		}
	case cond(batchv1.JobComplete) != nil:
		st.State = Succeeded
	case cond(batchv1.JobFailed) != nil:
		c := cond(batchv1.JobFailed)
		st.State, st.Reason = Failed, c.Reason
		if c.Reason == batchv1.JobReasonDeadlineExceeded {
			st.Reason = "DeadlineExceeded: the time limit passed"
		}
		for _, t := range st.Tasks {
			if t.State == Failed && t.ExitCode != nil {
				st.ExitCode = t.ExitCode
				st.Reason = fmt.Sprintf("task %d exited with code %d", t.Index, *t.ExitCode)
				break
			}
		}
	case job.Status.Active > 0 && (anyTask(st.Tasks, Running) || len(pods) == 0 && ptr.Deref(job.Status.Ready, 0) > 0):
		// (Without the pods, as for one who may not list them, ready
		// pods say it runs.)
		st.State = Running
	default:
		st.State, st.Reason = Queued, queuedReason(job, pods)
	}
	return st
}

func anyTask(ts []TaskState, s State) bool {
	return slices.ContainsFunc(ts, func(t TaskState) bool { return t.State == s })
}

// queuedReason says why nothing runs yet: quota (the Job controller's
// FailedCreate event is not at hand here, so the Job's own condition is
// used), or the scheduler's word on a pending pod.
func queuedReason(job *batchv1.Job, pods []corev1.Pod) string {
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
				return "not scheduled yet: " + c.Message
			}
		}
	}
	if len(pods) == 0 && job.Status.Active == 0 {
		return "waiting for its pods to be created"
	}
	return "starting"
}

// tasksOf is each task's state, by completion index (or pod order).
func tasksOf(job *batchv1.Job, pods []corev1.Pod) []TaskState {
	n := 1
	if job.Spec.Completions != nil {
		n = int(*job.Spec.Completions)
	}
	tasks := make([]TaskState, n)
	for i := range tasks {
		tasks[i] = TaskState{Index: i, State: Queued}
	}
	next := 0
	for _, p := range pods {
		i := next
		if s, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]; ok {
			if v, err := strconv.Atoi(s); err == nil {
				i = v
			}
		} else {
			next++
		}
		if i < 0 || i >= n {
			continue
		}
		// The newest pod of a task speaks for it.
		if tasks[i].Pod != "" && tasks[i].State != Queued && p.Status.Phase == corev1.PodPending {
			continue
		}
		tasks[i].Pod = p.Name
		tasks[i].State, tasks[i].Reason, tasks[i].ExitCode = podState(p)
	}
	return tasks
}

func podState(p corev1.Pod) (State, string, *int32) {
	var term *corev1.ContainerStateTerminated
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated != nil {
			term = cs.State.Terminated
		}
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return Succeeded, "", exit(term)
	case corev1.PodFailed:
		reason := p.Status.Reason
		if term != nil && reason == "" {
			reason = term.Reason
		}
		return Failed, reason, exit(term)
	case corev1.PodRunning:
		return Running, "", nil
	}
	return Queued, p.Status.Reason, nil
}

func exit(t *corev1.ContainerStateTerminated) *int32 {
	if t == nil {
		return nil
	}
	return ptr.To(t.ExitCode)
}
