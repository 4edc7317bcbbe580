package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// jobsPage is what the jobs pages show: the workspace's jobs, one job, or
// the submit form.
type jobsPage struct {
	Workspace string
	Namespace string
	Mine      bool
	State     string
	States    []string
	Items     []jobs.Summary

	Job *jobs.Detail
	// Log is the output as the page was made (the last LogTail lines of
	// each task); the page follows it live.
	Log     string
	LogTail int

	// What RBAC lets the caller do (SelfSubjectAccessReviews as them).
	MaySubmit, MayCancel, MayDelete bool

	// Left is the quota not used yet and Hard the quota, per entry of the
	// submit form (cpu, memory, gpu), "" when unlimited.
	Left, Hard map[string]string
	// HardValue are the hard quotas as numbers (cores, bytes, GPUs) for
	// the form's early check.
	HardValue map[string]string
	Form      jobForm
}

// jobForm is the submit form as typed.
type jobForm struct {
	Name, Command, Script, Image, CPU, Memory, TimeLimit, Env, Workdir string
	Tasks, GPU                                                         string
}

func init() {
	funcs["since"] = func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		d := time.Since(t).Round(time.Second)
		switch {
		case d < time.Minute:
			return fmt.Sprintf("%ds ago", int(d.Seconds()))
		case d < time.Hour:
			return fmt.Sprintf("%dm ago", int(d.Minutes()))
		case d < 48*time.Hour:
			return fmt.Sprintf("%dh ago", int(d.Hours()))
		}
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	funcs["stateClass"] = func(s jobs.State) string {
		switch s {
		case jobs.Succeeded:
			return "status-ok"
		case jobs.Failed, jobs.Cancelled:
			return "status-off"
		case jobs.Running:
			return "status-run"
		}
		return "status-wait"
	}
	funcs["ended"] = func(s jobs.State) bool { return s == jobs.Succeeded || s == jobs.Failed || s == jobs.Cancelled }
	funcs["join"] = strings.Join
	funcs["when"] = func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	funcs["quantity"] = func(q *resource.Quantity) string {
		if q == nil {
			return ""
		}
		return q.String()
	}
}

// jobsBase is the page data of a jobs page of workspace ws.
func (s *server) jobsBase(r *http.Request, title string) (*pageData, *jobsPage, error) {
	d, err := s.base(r, title, "home")
	if err != nil {
		return nil, nil, err
	}
	ns, err := s.jobsNamespace(r.Context(), r.PathValue("ws"))
	if err != nil {
		return nil, nil, err
	}
	jp := &jobsPage{Workspace: r.PathValue("ws"), Namespace: ns, States: stateNames()}
	d.Jobs = jp
	return d, jp, nil
}

func stateNames() []string {
	out := make([]string, len(states))
	for i, st := range states {
		out[i] = string(st)
	}
	return out
}

// canJobs asks RBAC, as the caller, whether they may verb jobs in ns.
func (s *server) canJobs(ctx context.Context, ns string, verbs ...string) ([]bool, error) {
	checks := make([]check, len(verbs))
	for i, v := range verbs {
		checks[i] = check{verb: v, resource: "jobs", namespace: ns, group: ptr.To("batch")}
	}
	return s.can(ctx, checks...)
}

// GET /workspaces/{ws}/jobs?mine=true&state=Running: the jobs table,
// refreshed live by app.js.
func (s *server) pageJobs(w http.ResponseWriter, r *http.Request) error {
	d, jp, err := s.jobsBase(r, "Jobs · "+r.PathValue("ws"))
	if err != nil {
		return err
	}
	if jp.Items, err = s.listJobs(r); err != nil {
		return err
	}
	jp.Mine, _ = boolParam(r, "mine")
	st, _ := parseState(r.URL.Query().Get("state"))
	jp.State = string(st)
	may, err := s.canJobs(r.Context(), jp.Namespace, "create")
	if err != nil {
		return err
	}
	jp.MaySubmit = may[0]
	if msg := jobNotices[r.URL.Query().Get("done")]; msg != "" {
		d.Notice = msg
	}
	s.render(w, http.StatusOK, "jobs", d)
	return nil
}

// quotaLeft fills the form's quota: hard, and hard minus used.
func (s *server) quotaLeft(ctx context.Context, jp *jobsPage) error {
	hard, used, err := s.jobsClient().Quota(ctx, jp.Namespace)
	if err != nil {
		return err
	}
	jp.Left, jp.Hard, jp.HardValue = map[string]string{}, map[string]string{}, map[string]string{}
	for key, name := range map[string]corev1.ResourceName{"cpu": "requests.cpu", "memory": "requests.memory", "gpu": "requests." + jobs.GPUResource} {
		h, ok := hard[name]
		if !ok {
			continue
		}
		left := h.DeepCopy()
		left.Sub(used[name])
		if left.Sign() < 0 {
			left = resource.Quantity{}
		}
		jp.Hard[key], jp.Left[key] = h.String(), left.String()
		jp.HardValue[key] = strconv.FormatFloat(h.AsApproximateFloat64(), 'f', -1, 64)
	}
	return nil
}

// GET /workspaces/{ws}/jobs/new: the submit form, with the quota left.
func (s *server) pageNewJob(w http.ResponseWriter, r *http.Request) error {
	d, jp, err := s.jobsBase(r, "Submit a job · "+r.PathValue("ws"))
	if err != nil {
		return err
	}
	if err := s.quotaLeft(r.Context(), jp); err != nil {
		return err
	}
	jp.Form = jobForm{Tasks: "1", GPU: "0"}
	s.render(w, http.StatusOK, "job_new", d)
	return nil
}

// submission reads the form; a bad field is an invalid Error.
func (f jobForm) submission() (jobs.Submission, error) {
	req := submitRequest{Name: strings.TrimSpace(f.Name), Script: strings.TrimSpace(f.Script), Image: strings.TrimSpace(f.Image),
		Resources: resourcesRequest{CPU: strings.TrimSpace(f.CPU), Memory: strings.TrimSpace(f.Memory)},
		TimeLimit: strings.TrimSpace(f.TimeLimit), Workdir: strings.TrimSpace(f.Workdir)}
	if c := strings.TrimSpace(f.Command); c != "" {
		req.Command = strings.Fields(c)
	}
	num := func(field, v string) (int64, error) {
		if v = strings.TrimSpace(v); v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return 0, errorf(CodeInvalid, "%s: %q is not a whole number", field, v)
		}
		return n, nil
	}
	tasks, err := num("tasks", f.Tasks)
	if err != nil {
		return jobs.Submission{}, err
	}
	req.Tasks = int32(tasks)
	if req.Resources.GPU, err = num("resources.gpu", f.GPU); err != nil {
		return jobs.Submission{}, err
	}
	for line := range strings.SplitSeq(f.Env, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return jobs.Submission{}, errorf(CodeInvalid, "env: %q is not NAME=value", line)
		}
		if req.Env == nil {
			req.Env = map[string]string{}
		}
		req.Env[strings.TrimSpace(k)] = v
	}
	return req.submission()
}

// POST /workspaces/{ws}/jobs/new: submit as the caller, then the job's
// page; a refusal (never fits, RBAC, bad field) shows the form again with
// what was typed.
func (s *server) formNewJob(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return errorf(CodeInvalid, "the form could not be read")
	}
	f := jobForm{
		Name: r.PostFormValue("name"), Command: r.PostFormValue("command"), Script: r.PostFormValue("script"),
		Image: r.PostFormValue("image"), CPU: r.PostFormValue("cpu"), Memory: r.PostFormValue("memory"),
		TimeLimit: r.PostFormValue("timeLimit"), Env: r.PostFormValue("env"), Workdir: r.PostFormValue("workdir"),
		Tasks: r.PostFormValue("tasks"), GPU: r.PostFormValue("gpu"),
	}
	d, jp, err := s.jobsBase(r, "Submit a job · "+r.PathValue("ws"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	sub, err := f.submission()
	var sum *jobs.Summary
	if err == nil {
		sum, err = s.jobsClient().Submit(ctx, jp.Namespace, jobs.SubmitterOf(principalFrom(ctx).Name), sub, false)
		err = jobsError(err)
	}
	if err != nil {
		e, internal := asError(err)
		if internal {
			return err
		}
		if qerr := s.quotaLeft(ctx, jp); qerr != nil {
			return qerr
		}
		jp.Form, d.Error = f, e.Message
		s.render(w, e.Status(), "job_new", d)
		return nil
	}
	http.Redirect(w, r, "/workspaces/"+url.PathEscape(jp.Workspace)+"/jobs/"+url.PathEscape(sum.Name)+"?done=submitted", http.StatusSeeOther)
	return nil
}

// pageLogTail is how many last lines of each task the job page starts with.
const pageLogTail = 500

// GET /workspaces/{ws}/jobs/{name}: state, reason, tasks, output (followed
// live by app.js), and Cancel/Delete where RBAC allows.
func (s *server) pageJob(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	d, jp, err := s.jobsBase(r, name+" · "+r.PathValue("ws"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	c := s.jobsClient()
	if jp.Job, err = c.Get(ctx, jp.Namespace, name); err != nil {
		return jobsError(err)
	}
	may, err := s.canJobs(ctx, jp.Namespace, "patch", "delete")
	if err != nil {
		return err
	}
	jp.MayCancel, jp.MayDelete = may[0], may[1]
	if ok, err := s.canPods(ctx, "get", "log", jp.Namespace); err == nil && ok {
		var buf bytes.Buffer
		tail := int64(pageLogTail)
		if err := c.Logs(ctx, jp.Namespace, name, jobs.LogOptions{Tail: &tail, Prefix: jp.Job.Tasks > 1}, &buf); err != nil {
			s.Log.Error(err, "Job page logs", "namespace", jp.Namespace, "job", name)
		}
		jp.Log, jp.LogTail = buf.String(), pageLogTail
	}
	if msg := jobNotices[r.URL.Query().Get("done")]; msg != "" {
		d.Notice = msg
	}
	s.render(w, http.StatusOK, "job", d)
	return nil
}

var jobNotices = map[string]string{
	"submitted":   "Job submitted.",
	"cancelled":   "Job cancelled: its pods are stopping. It stays listed as Cancelled until deleted.",
	"job-deleted": "Job deleted, with its pods.",
}

// GET /workspaces/{ws}/jobs/{name}/output: the log as text for the page's
// live view (?follow=true&tail=N&prefix=true), as apiJobLogs.
func (s *server) pageJobOutput(w http.ResponseWriter, r *http.Request) error {
	return s.apiJobLogs(w, r)
}

// POST /workspaces/{ws}/jobs/{name}/cancel
func (s *server) formCancelJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return err
	}
	if _, err := s.jobsClient().Cancel(ctx, ns, r.PathValue("name"), jobs.SubmitterOf(principalFrom(ctx).Name)); err != nil && !errors.Is(err, jobs.ErrFinished) {
		return jobsError(err)
	}
	http.Redirect(w, r, "/workspaces/"+url.PathEscape(r.PathValue("ws"))+"/jobs/"+url.PathEscape(r.PathValue("name"))+"?done=cancelled", http.StatusSeeOther)
	return nil
}

// POST /workspaces/{ws}/jobs/{name}/delete
func (s *server) formDeleteJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return err
	}
	if err := s.jobsClient().Delete(ctx, ns, r.PathValue("name")); err != nil {
		return jobsError(err)
	}
	http.Redirect(w, r, "/workspaces/"+url.PathEscape(r.PathValue("ws"))+"/jobs?done=job-deleted", http.StatusSeeOther)
	return nil
}
