package server

import (
	"math"
	"path"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// Flux's job states (flux-core's job-list, as strings) and results.
const (
	fluxSched    = "SCHED"
	fluxRun      = "RUN"
	fluxCleanup  = "CLEANUP"
	fluxInactive = "INACTIVE"

	fluxCompleted = "COMPLETED"
	fluxFailed    = "FAILED"
	fluxCanceled  = "CANCELED"
	fluxTimeout   = "TIMEOUT"

	// fluxUrgency is Flux's default urgency, which every Tenancy job has.
	fluxUrgency = 16
	// fluxCanceledBeforeRun is the returncode Flux gives a job canceled
	// before anything ran.
	fluxCanceledBeforeRun = -128
)

// fluxJobInfo is GET /v1/jobs/{id}: the fields of flux-core's job-list
// "all" attributes plus those flux-restful-api adds (result, returncode,
// runtime, waitstatus, exception), from a Job and its pods.
type fluxJobInfo struct {
	ID       string `json:"id"`
	UserID   string `json:"userid"`
	Urgency  int    `json:"urgency"`
	Priority int    `json:"priority"`
	State    string `json:"state"`
	Result   string `json:"result"`
	// Returncode is the exit code (a negative signal number when killed),
	// -128 for a job canceled before it ran, "" while active.
	Returncode any    `json:"returncode"`
	Waitstatus any    `json:"waitstatus"`
	Success    bool   `json:"success"`
	Name       string `json:"name"`
	Cwd        string `json:"cwd"`
	Queue      string `json:"queue"`
	Project    string `json:"project"`
	Bank       string `json:"bank"`
	Ntasks     int    `json:"ntasks"`
	Ncores     int    `json:"ncores"`
	Nnodes     int    `json:"nnodes"`
	Nodelist   string `json:"nodelist"`
	Ranks      string `json:"ranks"`
	// Duration is the time limit in seconds, 0 for none.
	Duration   float64 `json:"duration"`
	Expiration any     `json:"expiration"`
	TSubmit    float64 `json:"t_submit"`
	TDepend    float64 `json:"t_depend"`
	TRun       any     `json:"t_run"`
	TCleanup   any     `json:"t_cleanup"`
	TInactive  any     `json:"t_inactive"`
	// Runtime is seconds run so far (or in all, once inactive).
	Runtime           float64        `json:"runtime"`
	ExceptionOccurred bool           `json:"exception_occurred"`
	ExceptionType     string         `json:"exception_type"`
	ExceptionSeverity int            `json:"exception_severity"`
	ExceptionNote     string         `json:"exception_note"`
	Exception         fluxException  `json:"exception"`
	Annotations       map[string]any `json:"annotations"`
	Dependencies      []string       `json:"dependencies"`

	// Tenancy's own, beside Flux's: the job's state in Tenancy's words.
	Tenancy fluxTenancy `json:"tenancy"`
}

type fluxException struct {
	Occurred bool   `json:"occurred"`
	Severity int    `json:"severity"`
	Type     string `json:"type"`
	Note     string `json:"note"`
}

type fluxTenancy struct {
	Workspace   string     `json:"workspace"`
	Job         string     `json:"job"`
	State       jobs.State `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	SubmittedBy string     `json:"submittedBy"`
}

// fluxStateOf maps Tenancy's state to Flux's state and result. A job
// whose end is decided but whose pods are still stopping (cancelled, or
// past its time limit) is in CLEANUP, as Flux's is while its job shells
// exit.
func fluxStateOf(job *batchv1.Job, pods []corev1.Pod, st jobs.Status) (state, result string) {
	if st.State == jobs.Running || st.State == jobs.Queued {
		// The Job controller has decided the job's end (its time limit
		// passed, say) and its pods are stopping.
		for _, c := range job.Status.Conditions {
			if (c.Type == batchv1.JobFailureTarget || c.Type == batchv1.JobSuccessCriteriaMet) && c.Status == corev1.ConditionTrue {
				return fluxCleanup, ""
			}
		}
	}
	switch st.State {
	case jobs.Running:
		return fluxRun, ""
	case jobs.Succeeded:
		return fluxInactive, fluxCompleted
	case jobs.Failed:
		if timedOut(job) {
			return fluxInactive, fluxTimeout
		}
		return fluxInactive, fluxFailed
	case jobs.Cancelled:
		if slices.ContainsFunc(pods, func(p corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending
		}) {
			return fluxCleanup, ""
		}
		return fluxInactive, fluxCanceled
	}
	return fluxSched, ""
}

// userCommand is what the submitter asked the container to run: without
// the sh wrapper of jobs.WriteOutputTo (sh -c WRAPPER $0 COMMAND...) when
// the Job writes its output to the workspace volume. (A unit test builds
// such a Job, so a change of the wrapper's shape shows.)
func userCommand(job *batchv1.Job, c corev1.Container) []string {
	cmd := append(slices.Clone(c.Command), c.Args...)
	if job.Annotations[jobs.AnnotationOutput] != "" && len(cmd) > 4 && cmd[0] == "sh" && cmd[1] == "-c" {
		return cmd[4:]
	}
	return cmd
}

// timedOut says the Job failed because its time limit passed.
func timedOut(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue && c.Reason == batchv1.JobReasonDeadlineExceeded {
			return true
		}
	}
	return false
}

// fluxInfo is the Flux view of a Job, its pods and its status, at now.
func fluxInfo(job *batchv1.Job, pods []corev1.Pod, st jobs.Status, now time.Time) fluxJobInfo {
	state, result := fluxStateOf(job, pods, st)
	info := fluxJobInfo{
		ID: job.Name, UserID: job.Annotations[jobs.AnnotationSubmittedBy],
		Urgency: fluxUrgency, Priority: fluxUrgency,
		State: state, Result: result, Returncode: "", Waitstatus: "",
		Queue: job.Namespace, Ntasks: 1, Expiration: "", TRun: "", TCleanup: "", TInactive: "",
		Annotations: map[string]any{}, Dependencies: []string{},
		Tenancy: fluxTenancy{Workspace: job.Namespace, Job: job.Name, State: st.State, Reason: st.Reason, SubmittedBy: job.Annotations[jobs.AnnotationSubmittedBy]},
	}
	if c := job.Spec.Completions; c != nil {
		info.Ntasks = int(*c)
	}
	if cs := job.Spec.Template.Spec.Containers; len(cs) > 0 {
		c := cs[0]
		info.Cwd = c.WorkingDir
		if cmd := userCommand(job, c); len(cmd) > 0 {
			info.Name = path.Base(cmd[0])
		}
		if cpu, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			info.Ncores = info.Ntasks * int(math.Ceil(cpu.AsApproximateFloat64()))
		} else {
			info.Ncores = info.Ntasks
		}
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil {
		info.Duration = float64(*d)
	}
	info.TSubmit = seconds(job.CreationTimestamp.Time)
	info.TDepend = info.TSubmit

	// Nodes the tasks ran on, and when they started and ended.
	var nodes []string
	var started, ended time.Time
	for _, p := range pods {
		if p.Spec.NodeName != "" && !slices.Contains(nodes, p.Spec.NodeName) {
			nodes = append(nodes, p.Spec.NodeName)
		}
		for _, cs := range p.Status.ContainerStatuses {
			var s, e time.Time
			switch {
			case cs.State.Running != nil:
				s = cs.State.Running.StartedAt.Time
			case cs.State.Terminated != nil:
				s, e = cs.State.Terminated.StartedAt.Time, cs.State.Terminated.FinishedAt.Time
			}
			if !s.IsZero() && (started.IsZero() || s.Before(started)) {
				started = s
			}
			if e.After(ended) {
				ended = e
			}
		}
	}
	slices.Sort(nodes)
	info.Nnodes, info.Nodelist = len(nodes), strings.Join(nodes, ",")
	if st.State == jobs.Queued {
		// Flux's scheduler says why a job waits in this annotation.
		info.Annotations["sched"] = map[string]any{"reason_pending": st.Reason}
	}
	if !started.IsZero() {
		info.TRun = seconds(started)
		if info.Duration > 0 {
			info.Expiration = seconds(started) + info.Duration
		}
	}
	if state == fluxInactive || state == fluxCleanup {
		end := finishedAt(job)
		if end.IsZero() || ended.After(end) {
			end = ended
		}
		if end.IsZero() {
			end = now
		}
		info.TCleanup = seconds(end)
		if state == fluxInactive {
			info.TInactive = seconds(end)
		}
		if !started.IsZero() && end.After(started) {
			info.Runtime = end.Sub(started).Seconds()
		}
	} else if !started.IsZero() {
		info.Runtime = now.Sub(started).Seconds()
	}

	if state == fluxInactive {
		info.Success = result == fluxCompleted
		info.Returncode, info.Waitstatus = returnCode(result, st)
	}
	switch result {
	case fluxCanceled:
		info.Exception = fluxException{Occurred: true, Type: "cancel", Note: st.Reason}
	case fluxTimeout:
		info.Exception = fluxException{Occurred: true, Type: "timeout", Note: "resource allocation expired"}
	case fluxFailed:
		if st.ExitCode == nil {
			// Failed without an exit code: it never ran (or was evicted).
			info.Exception = fluxException{Occurred: true, Type: "exec", Note: st.Reason}
		}
	}
	info.ExceptionOccurred, info.ExceptionType = info.Exception.Occurred, info.Exception.Type
	info.ExceptionSeverity, info.ExceptionNote = info.Exception.Severity, info.Exception.Note
	return info
}

// returnCode is Flux's returncode and wait status for a finished job:
// the exit code of its (first failed) task, or minus the signal that
// killed it (Kubernetes reports a signal as 128+N), or -128 for a job
// canceled before it ran; "" when unknown.
func returnCode(result string, st jobs.Status) (code, waitstatus any) {
	exit := st.ExitCode
	if exit == nil {
		for _, t := range st.Tasks {
			if t.ExitCode != nil && (exit == nil || *t.ExitCode != 0) {
				exit = t.ExitCode
			}
		}
	}
	switch {
	case result == fluxCompleted:
		return 0, 0
	case exit != nil && *exit > 128 && *exit < 160:
		sig := int(*exit) - 128
		return -sig, sig
	case exit != nil:
		return int(*exit), int(*exit) << 8
	case result == fluxCanceled:
		return fluxCanceledBeforeRun, ""
	}
	return "", ""
}

// finishedAt is when the Job's controller marked it finished, or zero.
func finishedAt(job *batchv1.Job) time.Time {
	if t := job.Status.CompletionTime; t != nil {
		return t.Time
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobFailed || c.Type == batchv1.JobComplete) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// seconds is t as Flux writes times: seconds since the epoch.
func seconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
