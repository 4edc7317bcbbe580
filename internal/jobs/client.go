package jobs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Client does what a person does with jobs, as that person: Kube and
// Clientset must act as the caller (impersonated by the server, the
// user's own kubeconfig for the CLI), so that RBAC, quota and the
// submitter policy decide. It holds no state of its own.
type Client struct {
	// Kube reads and writes Jobs, pods, events and quotas as the caller.
	Kube client.Client
	// Clientset reads pod logs as the caller; Logs needs it.
	Clientset kubernetes.Interface
	// Defaults gives a namespace's job defaults (class image and TTL, the
	// workspace volume); WorkspaceDefaults with Kube when nil. The server
	// passes its own identity here, since a user may not read classes.
	Defaults func(ctx context.Context, ns string) (Defaults, error)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Defaults are what a workspace gives its jobs.
type Defaults struct {
	// Image of a submission that names none ("" for DefaultImage).
	Image string
	// TTLSecondsAfterFinished of each job; kept until deleted when nil.
	TTLSecondsAfterFinished *int32
	// VolumePath is where the workspace volume is mounted in every pod
	// ("" when the workspace has none); each task's output is also
	// written under it, at OutputPath.
	VolumePath string
}

// Filter selects jobs in List; zero fields select all.
type Filter struct {
	State       State
	SubmittedBy string
}

// Summary is one job as every door lists it.
type Summary struct {
	Name        string    `json:"name"`
	Namespace   string    `json:"namespace"`
	State       State     `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	ExitCode    *int32    `json:"exitCode,omitempty"`
	SubmittedBy string    `json:"submittedBy"`
	Tasks       int32     `json:"tasks"`
	Created     time.Time `json:"created"`
	// Started and Finished are when the Job controller started it and
	// when it ended (nil until then).
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	// Command run by each task (a script shows as sh -c SCRIPT), its
	// image, each task's resources and the time limit in seconds (0: none).
	Command          []string  `json:"command"`
	Image            string    `json:"image"`
	Resources        Resources `json:"resources"`
	TimeLimitSeconds int64     `json:"timeLimitSeconds,omitempty"`
	// Tasks succeeded, failed and active, from the Job's status.
	SucceededTasks int32 `json:"succeededTasks"`
	FailedTasks    int32 `json:"failedTasks"`
	ActiveTasks    int32 `json:"activeTasks"`
	// OutputPath is where task output is also written on the workspace
	// volume ("" when not), e.g. /workspace/.tenancy/jobs/train.
	OutputPath string `json:"outputPath,omitempty"`
}

// Detail is one job with each task's state.
type Detail struct {
	Summary
	TaskStatus []TaskState `json:"taskStatus"`
}

// NeverFitsError refuses a submission that can never fit the workspace's
// hard quota: each shortfall names the resource and the figures.
type NeverFitsError struct {
	Shortfalls []Shortfall
}

// Shortfall is one resource a submission needs more of than the quota has.
type Shortfall struct {
	// Resource is the quota's name for it, e.g. requests.nvidia.com/gpu.
	Resource corev1.ResourceName `json:"resource"`
	Tasks    int64               `json:"tasks"`
	// PerTask × Tasks = Need, more than Hard ("" Hard: no quota at all).
	PerTask resource.Quantity `json:"perTask"`
	Need    resource.Quantity `json:"need"`
	Hard    resource.Quantity `json:"hard"`
	// NoQuota says the workspace has none of it (GPUs).
	NoQuota bool `json:"noQuota,omitempty"`
}

func (s Shortfall) String() string {
	if s.NoQuota {
		return fmt.Sprintf("%s: the workspace has no GPU quota; ask for 0 GPUs or a workspace with some", s.Resource)
	}
	return fmt.Sprintf("%s: %d task(s) × %s = %s is more than the workspace's quota of %s, so it can never run; ask for less",
		s.Resource, s.Tasks, s.PerTask.String(), s.Need.String(), s.Hard.String())
}

func (e *NeverFitsError) Error() string {
	msgs := make([]string, len(e.Shortfalls))
	for i, s := range e.Shortfalls {
		msgs[i] = s.String()
	}
	return strings.Join(msgs, "\n")
}

// ErrFinished is returned by Cancel for a job that has already ended.
var ErrFinished = errors.New("the job has already finished")

// NotFoundError says a job does not exist, or is not a Tenancy job.
type NotFoundError struct{ Namespace, Name, Why string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("job %s not found in %s%s", e.Name, e.Namespace, e.Why)
}

// Labels Kubernetes puts on a Job's pods.
const (
	labelControllerUID = "batch.kubernetes.io/controller-uid"
	labelJobName       = "batch.kubernetes.io/job-name"
)

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Quota is the namespace's hard quota and what is used of it, as the
// caller may read them (nil, nil when they may not or there is none). Of
// several ResourceQuotas the tightest entry of each resource counts.
func (c *Client) Quota(ctx context.Context, ns string) (hard, used corev1.ResourceList, err error) {
	var list corev1.ResourceQuotaList
	if err := c.Kube.List(ctx, &list, client.InNamespace(ns)); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read the quota of %s: %w", ns, err)
	}
	for _, rq := range list.Items {
		hardOf := rq.Status.Hard
		if len(hardOf) == 0 {
			hardOf = rq.Spec.Hard
		}
		for name, h := range hardOf {
			if cur, ok := hard[name]; ok && cur.Cmp(h) <= 0 {
				continue
			}
			if hard == nil {
				hard, used = corev1.ResourceList{}, corev1.ResourceList{}
			}
			hard[name] = h
			used[name] = rq.Status.Used[name]
		}
	}
	return hard, used, nil
}

// Submit validates s, refuses it at once when it can never fit the
// namespace's hard quota (*NeverFitsError), and creates the Job as the
// caller, submitted by submitter (who must be the caller: the policy
// tenancy-job-submitter refuses anybody else). With dryRun the API
// server checks it all (admission, quota of the Job object) and nothing
// is created.
func (c *Client) Submit(ctx context.Context, ns, submitter string, s Submission, dryRun bool) (*Summary, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	hard, _, err := c.Quota(ctx, ns)
	if err != nil {
		return nil, err
	}
	if err := CheckFits(s, hard); err != nil {
		return nil, err
	}
	d, err := c.defaults(ctx, ns)
	if err != nil {
		return nil, err
	}
	if s.Image == "" {
		s.Image = d.Image
	}
	job := Build(ns, submitter, s)
	job.Spec.TTLSecondsAfterFinished = d.TTLSecondsAfterFinished
	WriteOutputTo(job, d.VolumePath)
	var opts []client.CreateOption
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := c.Kube.Create(ctx, job, opts...); err != nil {
		return nil, fmt.Errorf("create job in %s: %w", ns, err)
	}
	if job.Name == "" { // a dry run with generateName
		job.Name = job.GenerateName + "<generated>"
	}
	sum := summaryOf(job, StateOf(job, nil))
	return &sum, nil
}

func (c *Client) defaults(ctx context.Context, ns string) (Defaults, error) {
	if c.Defaults != nil {
		return c.Defaults(ctx, ns)
	}
	return WorkspaceDefaults(ctx, c.Kube, ns)
}

// WorkspaceDefaults reads the job defaults of the workspace of namespace
// ns with r: its class's jobs (image, TTL) and its volume's mount path.
// What r may not read (a user may not read classes) is left out.
func WorkspaceDefaults(ctx context.Context, r client.Reader, ns string) (Defaults, error) {
	var d Defaults
	ignorable := func(err error) bool {
		return apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || meta.IsNoMatchError(err)
	}
	ws := &tenancyv1.Workspace{}
	if err := r.Get(ctx, client.ObjectKey{Name: ns}, ws); err != nil {
		if !ignorable(err) {
			return d, fmt.Errorf("read workspace %s: %w", ns, err)
		}
		// Not a workspace we may read: the namespace may still say where
		// its volume is.
		nsObj := &corev1.Namespace{}
		if err := r.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err == nil && nsObj.Annotations[tenancyv1.AnnotationWorkspaceVolumeClaim] != "" {
			d.VolumePath = nsObj.Annotations[tenancyv1.AnnotationWorkspaceVolumePath]
		}
		return d, nil
	}
	storage := ws.Spec.Storage
	className := ws.Status.Class
	if className == "" {
		className = ws.Spec.Class
	}
	if className != "" {
		class := &tenancyv1.WorkspaceClass{}
		switch err := r.Get(ctx, client.ObjectKey{Name: className}, class); {
		case err == nil:
			if j := class.Spec.Jobs; j != nil {
				d.Image, d.TTLSecondsAfterFinished = j.Image, j.TTLSecondsAfterFinished
			}
			if storage == nil {
				storage = class.Spec.Storage
			}
		case !ignorable(err):
			return d, fmt.Errorf("read workspace class %s: %w", className, err)
		}
	}
	if storage != nil {
		d.VolumePath = storage.MountPath
		if d.VolumePath == "" {
			d.VolumePath = tenancyv1.DefaultMountPath
		}
	}
	return d, nil
}

// List is the Tenancy jobs in ns that match f, newest first.
func (c *Client) List(ctx context.Context, ns string, f Filter) ([]Summary, error) {
	var jobs batchv1.JobList
	if err := c.Kube.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}); err != nil {
		return nil, fmt.Errorf("list jobs in %s: %w", ns, err)
	}
	pods, err := c.pods(ctx, ns, client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue})
	if err != nil {
		return nil, err
	}
	byJob := map[string][]corev1.Pod{}
	for _, p := range pods {
		uid := p.Labels[labelControllerUID]
		byJob[uid] = append(byJob[uid], p)
	}
	var events []corev1.Event
	out := make([]Summary, 0, len(jobs.Items))
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if f.SubmittedBy != "" && job.Annotations[AnnotationSubmittedBy] != f.SubmittedBy {
			continue
		}
		st := StateOf(job, byJob[string(job.UID)])
		if st.State == Queued && len(byJob[string(job.UID)]) == 0 {
			if events == nil {
				events = c.failedCreates(ctx, ns, "")
			}
			if r := quotaReason(job, events); r != "" {
				st.Reason = r
			}
		}
		if f.State != "" && st.State != f.State {
			continue
		}
		out = append(out, summaryOf(job, st))
	}
	slices.SortStableFunc(out, func(a, b Summary) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// pods lists pods as the caller; none when they may not.
func (c *Client) pods(ctx context.Context, ns string, sel client.MatchingLabels) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := c.Kube.List(ctx, &pods, client.InNamespace(ns), sel); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	slices.SortStableFunc(pods.Items, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	return pods.Items, nil
}

// failedCreates are the Job controller's FailedCreate events in ns (for
// job name when not ""), as the caller may read them.
func (c *Client) failedCreates(ctx context.Context, ns, name string) []corev1.Event {
	sel := fields.Set{"reason": "FailedCreate", "involvedObject.kind": "Job"}
	if name != "" {
		sel["involvedObject.name"] = name
	}
	var list corev1.EventList
	if err := c.Kube.List(ctx, &list, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: sel.AsSelector()}); err != nil {
		return []corev1.Event{}
	}
	return list.Items
}

var exceededQuota = regexp.MustCompile(`exceeded quota: ([^,]+), requested: ([^ ]+), used: ([^ ]+), limited: ([^ ]+)$`)

// quotaReason is why the Job controller cannot create job's pods, from its
// newest FailedCreate event for it: "" when there is none.
func quotaReason(job *batchv1.Job, events []corev1.Event) string {
	var newest *corev1.Event
	for i := range events {
		e := &events[i]
		if e.InvolvedObject.UID != job.UID && (e.InvolvedObject.UID != "" || e.InvolvedObject.Name != job.Name) {
			continue
		}
		if newest == nil || eventTime(e).After(eventTime(newest)) {
			newest = e
		}
	}
	if newest == nil {
		return ""
	}
	return QueuedReasonOf(newest.Message)
}

// QueuedReasonOf turns the Job controller's FailedCreate message into a
// Queued reason: "waiting for quota: requests.nvidia.com/gpu used 4 of 5,
// a task needs 2" for an exceeded quota, the message itself otherwise.
func QueuedReasonOf(msg string) string {
	m := exceededQuota.FindStringSubmatch(strings.TrimSpace(msg))
	if m == nil {
		return "cannot create its pods: " + msg
	}
	req, used, lim := pairs(m[2]), pairs(m[3]), pairs(m[4])
	var parts []string
	for _, r := range req {
		parts = append(parts, fmt.Sprintf("%s used %s of %s, a task needs %s", r[0], lookup(used, r[0]), lookup(lim, r[0]), r[1]))
	}
	return "waiting for quota to free up: " + strings.Join(parts, "; ")
}

func pairs(s string) [][2]string {
	var out [][2]string
	for kv := range strings.SplitSeq(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func lookup(ps [][2]string, k string) string {
	for _, p := range ps {
		if p[0] == k {
			return p[1]
		}
	}
	return "?"
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// job reads one Tenancy job; *NotFoundError for another Job.
func (c *Client) job(ctx context.Context, ns, name string) (*batchv1.Job, error) {
	job := &batchv1.Job{}
	if err := c.Kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &NotFoundError{Namespace: ns, Name: name}
		}
		return nil, fmt.Errorf("get job %s/%s: %w", ns, name, err)
	}
	if job.Labels[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue {
		return nil, &NotFoundError{Namespace: ns, Name: name, Why: " (a Job of that name exists, but it is not a Tenancy job: use kubectl for it)"}
	}
	return job, nil
}

// Get is one job with each task's state.
func (c *Client) Get(ctx context.Context, ns, name string) (*Detail, error) {
	job, err := c.job(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	pods, err := c.pods(ctx, ns, client.MatchingLabels{labelControllerUID: string(job.UID)})
	if err != nil {
		return nil, err
	}
	st := StateOf(job, pods)
	if st.State == Queued && len(pods) == 0 {
		if r := quotaReason(job, c.failedCreates(ctx, ns, name)); r != "" {
			st.Reason = r
		}
	}
	return &Detail{Summary: summaryOf(job, st), TaskStatus: st.Tasks}, nil
}

// Cancel stops a job's pods and keeps it, as Cancelled (until deleted or
// its TTL passes), for whoever RBAC lets patch jobs in ns. by is who
// cancels, recorded on the Job. A job already cancelled is left as it is;
// one that has finished gets ErrFinished.
//
// It marks the Job cancelled and gives it an active deadline of a
// second: the Job controller stops its pods and marks it Failed
// (DeadlineExceeded), so the Job is finished and its TTL counts.
func (c *Client) Cancel(ctx context.Context, ns, name, by string) (*Summary, error) {
	for attempt := 0; ; attempt++ {
		sum, err := c.cancel(ctx, ns, name, by)
		// A conflict: the Job changed (perhaps it finished); look again.
		if !apierrors.IsConflict(err) || attempt == 4 {
			return sum, err
		}
	}
}

func (c *Client) cancel(ctx context.Context, ns, name, by string) (*Summary, error) {
	job, err := c.job(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	st := StateOf(job, nil)
	switch st.State {
	case Cancelled:
		sum := summaryOf(job, st)
		return &sum, nil
	case Succeeded, Failed:
		return nil, fmt.Errorf("cancel job %s: %w (%s): delete it to remove it", name, ErrFinished, st.State)
	}
	orig := job.DeepCopy()
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[AnnotationCancelled] = "true"
	job.Annotations[AnnotationCancelledBy] = by
	job.Annotations[AnnotationCancelledAt] = c.now().UTC().Format(time.RFC3339)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		job.Spec.Suspend = ptr.To(false) // a suspended job has no deadline running
	}
	if err := c.Kube.Patch(ctx, job, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return nil, fmt.Errorf("cancel job %s/%s: %w", ns, name, err)
	}
	sum := summaryOf(job, StateOf(job, nil))
	return &sum, nil
}

// Delete removes a job; its pods go with it (background propagation:
// the garbage collector deletes them just after).
func (c *Client) Delete(ctx context.Context, ns, name string) error {
	job, err := c.job(ctx, ns, name)
	if err != nil {
		return err
	}
	err = c.Kube.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &job.UID})
	if apierrors.IsNotFound(err) {
		return &NotFoundError{Namespace: ns, Name: name}
	}
	if err != nil {
		return fmt.Errorf("delete job %s/%s: %w", ns, name, err)
	}
	return nil
}

// summaryOf is job's summary in state st.
func summaryOf(job *batchv1.Job, st Status) Summary {
	s := Summary{
		Name: job.Name, Namespace: job.Namespace, State: st.State, Reason: st.Reason, ExitCode: st.ExitCode,
		SubmittedBy: job.Annotations[AnnotationSubmittedBy], Tasks: 1, Created: job.CreationTimestamp.Time,
		SucceededTasks: job.Status.Succeeded, FailedTasks: job.Status.Failed, ActiveTasks: job.Status.Active,
	}
	if dir := job.Annotations[AnnotationOutput]; dir != "" {
		s.OutputPath = dir + "/" + job.Name
	}
	if job.Spec.Completions != nil {
		s.Tasks = *job.Spec.Completions
	}
	if t := job.Status.StartTime; t != nil {
		s.Started = ptr.To(t.Time)
	}
	if t := job.Status.CompletionTime; t != nil {
		s.Finished = ptr.To(t.Time)
	}
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobFailed || cond.Type == batchv1.JobComplete) && cond.Status == corev1.ConditionTrue && s.Finished == nil {
			s.Finished = ptr.To(cond.LastTransitionTime.Time)
		}
	}
	if job.Spec.ActiveDeadlineSeconds != nil && job.Annotations[AnnotationCancelled] != "true" {
		s.TimeLimitSeconds = *job.Spec.ActiveDeadlineSeconds
	}
	if cs := job.Spec.Template.Spec.Containers; len(cs) > 0 {
		s.Image = cs[0].Image
		s.Command = commandOf(cs[0])
		req := cs[0].Resources.Requests
		if v, ok := req[corev1.ResourceCPU]; ok {
			s.Resources.CPU = &v
		}
		if v, ok := req[corev1.ResourceMemory]; ok {
			s.Resources.Memory = &v
		}
		if v, ok := req[GPUResource]; ok {
			s.Resources.GPU = v.Value()
		}
	}
	return s
}

// commandOf is what the person asked to run, without the output wrapper.
func commandOf(c corev1.Container) []string {
	cmd := append(slices.Clone(c.Command), c.Args...)
	if len(cmd) > 4 && cmd[0] == "sh" && cmd[1] == "-c" && cmd[2] == outputWrapper && cmd[3] == wrapperName {
		return cmd[4:]
	}
	return cmd
}

// Submitter is who the API server says the caller of cs is, as Submit's
// submitter must name them (SubmitterOf their username): for the CLI,
// whose kubeconfig may hold a certificate, a token or an OIDC login. It
// asks with a SelfSubjectReview, which everybody may make.
func Submitter(ctx context.Context, cs kubernetes.Interface) (string, error) {
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("ask the API server who you are: %w", err)
	}
	return SubmitterOf(r.Status.UserInfo.Username), nil
}
