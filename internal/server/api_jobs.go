package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// jobsClient does jobs operations as the caller in ctx: the Job, its pods
// and logs by impersonation; only the class's job defaults (image, TTL,
// the workspace volume) with the server's own identity, which users
// may not read.
func (s *server) jobsClient() *jobs.Client {
	return &jobs.Client{
		Kube: s.AsUser, Clientset: s.AsUserCS, Now: s.Now,
		Defaults: func(ctx context.Context, ns string) (jobs.Defaults, error) {
			return jobs.WorkspaceDefaults(ctx, s.Own, ns)
		},
	}
}

// jobsNamespace is the namespace of workspace ws, read as the caller. One
// who may not read the Workspace may still have rights on jobs in its
// namespace (the Arena guide's bob lists jobs everywhere): then the
// namespace is the workspace's name, as Tenancy makes it, and RBAC on the
// jobs decides (403 for everybody else). A workspace that does not
// exist is a 404.
func (s *server) jobsNamespace(ctx context.Context, ws string) (string, error) {
	w, err := s.getWorkspace(ctx, ws)
	if apierrors.IsForbidden(err) {
		return ws, nil
	}
	if err != nil {
		return "", err
	}
	if w.Status.Namespace != "" {
		return w.Status.Namespace, nil
	}
	return w.Name, nil
}

// jobsError is the client's view of an error of the jobs package.
func jobsError(err error) error {
	var field *jobs.FieldError
	var never *jobs.NeverFitsError
	var notFound *jobs.NotFoundError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &field):
		return errorf(CodeInvalid, "%s", field.Error())
	case errors.As(err, &never):
		return errorf(CodeExceedsQuota, "this job can never run in the workspace: %s", never.Error())
	case errors.As(err, &notFound):
		return errorf(CodeNotFound, "%s", notFound.Error())
	case errors.Is(err, jobs.ErrFinished):
		return errorf(CodeConflict, "%s", err.Error())
	}
	return err
}

// submitRequest is the body of POST /api/v1/workspaces/{ws}/jobs.
type submitRequest struct {
	Name      string            `json:"name,omitempty"`
	Command   []string          `json:"command,omitempty"`
	Script    string            `json:"script,omitempty"`
	Image     string            `json:"image,omitempty"`
	Tasks     int32             `json:"tasks,omitempty"`
	Resources resourcesRequest  `json:"resources"`
	TimeLimit string            `json:"timeLimit,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Workdir   string            `json:"workdir,omitempty"`
	DryRun    bool              `json:"dryRun,omitempty"`
}

type resourcesRequest struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	GPU    int64  `json:"gpu,omitempty"`
}

// submission is the request as a jobs.Submission, naming a bad field.
func (r submitRequest) submission() (jobs.Submission, error) {
	sub := jobs.Submission{
		Name: r.Name, Command: r.Command, Script: r.Script, Image: r.Image, Tasks: r.Tasks,
		Env: r.Env, Workdir: r.Workdir, Resources: jobs.Resources{GPU: r.Resources.GPU},
	}
	quantity := func(field, v, example string) (*resource.Quantity, error) {
		if v == "" {
			return nil, nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, errorf(CodeInvalid, "%s: %q is not a quantity (e.g. %s)", field, v, example)
		}
		return &q, nil
	}
	var err error
	if sub.Resources.CPU, err = quantity("resources.cpu", r.Resources.CPU, `"2" or "500m"`); err != nil {
		return sub, err
	}
	if sub.Resources.Memory, err = quantity("resources.memory", r.Resources.Memory, `"4Gi" or "512Mi"`); err != nil {
		return sub, err
	}
	if r.TimeLimit != "" {
		d, err := parseTimeLimit(r.TimeLimit)
		if err != nil {
			return sub, err
		}
		sub.TimeLimit = d
	}
	return sub, nil
}

// parseTimeLimit reads "90m", "1h30m" or a number of seconds.
func parseTimeLimit(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errorf(CodeInvalid, "timeLimit: %q is not a duration (e.g. \"90m\", \"2h\" or a number of seconds)", v)
	}
	return d, nil
}

// POST /api/v1/workspaces/{ws}/jobs: submit a job as the caller; 201 with
// the job, or 200 with what would be created for a dry run
// (?dryRun=true or "dryRun": true).
func (s *server) apiSubmitJob(w http.ResponseWriter, r *http.Request) error {
	var req submitRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	dry, err := boolParam(r, "dryRun")
	if err != nil {
		return err
	}
	sub, err := req.submission()
	if err != nil {
		return err
	}
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return err
	}
	p := principalFrom(ctx)
	sum, err := s.jobsClient().Submit(ctx, ns, jobs.SubmitterOf(p.Name), sub, dry || req.DryRun)
	if err != nil {
		return jobsError(err)
	}
	if dry || req.DryRun {
		writeJSON(w, http.StatusOK, struct {
			*jobs.Summary
			DryRun bool `json:"dryRun"`
		}{sum, true})
		return nil
	}
	w.Header().Set("Location", "/api/v1/workspaces/"+r.PathValue("ws")+"/jobs/"+sum.Name)
	writeJSON(w, http.StatusCreated, sum)
	return nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); strings.ToLower(v) {
	case "", "false", "0":
		return false, nil
	case "true", "1", "all":
		return true, nil
	default:
		return false, errorf(CodeInvalid, "?%s=%s: say true or false", name, v)
	}
}

// states are the values ?state= takes.
var states = []jobs.State{jobs.Queued, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled}

// parseState reads ?state= (any case); "" selects all.
func parseState(v string) (jobs.State, error) {
	if v == "" {
		return "", nil
	}
	for _, st := range states {
		if strings.EqualFold(v, string(st)) {
			return st, nil
		}
	}
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return "", errorf(CodeInvalid, "?state=%s is not a job state: use one of %s", v, strings.Join(names, ", "))
}

// GET /api/v1/workspaces/{ws}/jobs?state=&mine=true: the workspace's jobs,
// newest first, as the caller may list them.
func (s *server) apiListJobs(w http.ResponseWriter, r *http.Request) error {
	items, err := s.listJobs(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *server) listJobs(r *http.Request) ([]jobs.Summary, error) {
	st, err := parseState(r.URL.Query().Get("state"))
	if err != nil {
		return nil, err
	}
	mine, err := boolParam(r, "mine")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return nil, err
	}
	f := jobs.Filter{State: st}
	if mine {
		f.SubmittedBy = jobs.SubmitterOf(principalFrom(ctx).Name)
	}
	items, err := s.jobsClient().List(ctx, ns, f)
	return items, jobsError(err)
}

// GET /api/v1/workspaces/{ws}/jobs/{name}
func (s *server) apiGetJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return err
	}
	d, err := s.jobsClient().Get(ctx, ns, r.PathValue("name"))
	if err != nil {
		return jobsError(err)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// POST /api/v1/workspaces/{ws}/jobs/{name}/cancel
func (s *server) apiCancelJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return err
	}
	sum, err := s.jobsClient().Cancel(ctx, ns, r.PathValue("name"), jobs.SubmitterOf(principalFrom(ctx).Name))
	if err != nil {
		return jobsError(err)
	}
	writeJSON(w, http.StatusOK, sum)
	return nil
}

// DELETE /api/v1/workspaces/{ws}/jobs/{name}: 204; its pods follow.
func (s *server) apiDeleteJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return err
	}
	if err := s.jobsClient().Delete(ctx, ns, r.PathValue("name")); err != nil {
		return jobsError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logOptions reads ?task=N&follow=true&tail=N&prefix=true.
func logOptions(r *http.Request) (jobs.LogOptions, error) {
	var o jobs.LogOptions
	q := r.URL.Query()
	if v := q.Get("task"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, errorf(CodeInvalid, "?task=%s: give a task index (0, 1, …)", v)
		}
		o.Task = &n
	}
	if v := q.Get("tail"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, errorf(CodeInvalid, "?tail=%s: give the number of last lines to show", v)
		}
		o.Tail = &n
	}
	var err error
	if o.Follow, err = boolParam(r, "follow"); err != nil {
		return o, err
	}
	if o.Prefix, err = boolParam(r, "prefix"); err != nil {
		return o, err
	}
	return o, nil
}

// flushWriter sends each line at once, for following.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f flushWriter) Flush()                      { _ = f.rc.Flush() }

// GET /api/v1/workspaces/{ws}/jobs/{name}/logs: text/plain, every task in
// task order, or ?task=N; ?follow=true streams until the job ends.
func (s *server) apiJobLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := logOptions(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ns, err := s.jobsNamespace(ctx, r.PathValue("ws"))
	if err != nil {
		return err
	}
	c := s.jobsClient()
	name := r.PathValue("name")
	// Refusals (no such job, no task N, may not read logs) before the
	// first byte, as JSON errors.
	d, err := c.Get(ctx, ns, name)
	if err != nil {
		return jobsError(err)
	}
	if o.Task != nil && *o.Task >= int(d.Tasks) {
		return errorf(CodeInvalid, "?task=%d is not a task of job %s: its tasks are 0 to %d", *o.Task, name, d.Tasks-1)
	}
	if ok, err := s.canPods(ctx, "get", "log", ns); err != nil {
		return err
	} else if !ok {
		return errorf(CodeForbidden, "you may not read pod logs in %s: ask the workspace's owner for a role that may (view and up)", ns)
	}
	rc := http.NewResponseController(w)
	if o.Follow {
		_ = rc.SetWriteDeadline(time.Time{}) // a follow lasts as long as the job
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	if err := c.Logs(ctx, ns, name, o, flushWriter{w: w, rc: rc}); err != nil && ctx.Err() == nil {
		s.Log.Error(err, "Job logs ended early", "namespace", ns, "job", name)
		msg := "internal error"
		if e, internal := asError(jobsError(err)); !internal {
			msg = e.Message
		}
		_, _ = fmt.Fprintf(w, "\n[tenancy: the output ended early: %s]\n", msg)
	}
	return nil
}

// canPods asks RBAC, as the caller, whether they may verb pods (or the
// subresource) in ns.
func (s *server) canPods(ctx context.Context, verb, subresource, ns string) (bool, error) {
	ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Resource: "pods", Subresource: subresource, Verb: verb, Namespace: ns},
	}}
	if err := s.AsUser.Create(ctx, ssar); err != nil {
		return false, err
	}
	return ssar.Status.Allowed, nil
}
