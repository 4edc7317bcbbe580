package server

// The Flux RESTful API protocol under /v1, so that users of Flux's
// flux-restful-client (0.2) and of flux-framework/flux-restful-api's HTTP
// API keep their scripts. Jobs are Tenancy jobs in the caller's own
// workspace, made and read as the caller (impersonation) through
// internal/jobs, exactly as /api/v1 does: RBAC and quota decide. The
// mapping of fields and states, and what is not supported and why, is in
// docs/design/flux.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// Choosing the workspace of a caller's Flux jobs, first that applies: the
// query parameter, the header, the annotation on their User (set by an
// admin: the unmodified Python client can send neither of the others),
// else the one workspace they own.
const (
	FluxWorkspaceParam      = "workspace"
	FluxWorkspaceHeader     = "X-Tenancy-Workspace"
	AnnotationFluxWorkspace = "tenancy.dev/flux-workspace"
)

// fluxRoutes are the endpoints of flux-restful-api's app/routers/api.py
// that Tenancy serves.
var fluxRoutes = []struct {
	pattern string
	h       func(*server) handler
	public  bool
}{
	{"POST /v1/login/access-token", func(s *server) handler { return s.fluxLogin }, true},
	{"POST /v1/token", func(s *server) handler { return s.fluxToken }, true},
	{"GET /v1/jobs", func(s *server) handler { return s.fluxListJobs }, false},
	{"GET /v1/jobs/search", func(s *server) handler { return s.fluxSearchJobs }, false},
	{"POST /v1/jobs/submit", func(s *server) handler { return s.fluxSubmit }, false},
	{"GET /v1/jobs/{id}", func(s *server) handler { return s.fluxGetJob }, false},
	{"GET /v1/jobs/{id}/output", func(s *server) handler { return s.fluxOutput }, false},
	{"GET /v1/jobs/{id}/output/stream", func(s *server) handler { return s.fluxStream }, false},
	{"POST /v1/jobs/{id}/cancel", func(s *server) handler { return s.fluxCancel }, false},
	{"GET /v1/nodes", func(s *server) handler { return s.fluxNodes }, false},
	{"POST /v1/service/stop", func(s *server) handler { return s.fluxStop }, false},
}

// FluxRoutes are the "METHOD /path" patterns of the Flux protocol.
func FluxRoutes() []string {
	out := make([]string, 0, len(fluxRoutes))
	for _, r := range fluxRoutes {
		out = append(out, r.pattern)
	}
	return out
}

// fluxHandle registers the Flux protocol on mux.
func (s *server) fluxHandle(mux *http.ServeMux) {
	for _, rt := range fluxRoutes {
		mux.Handle(rt.pattern, s.flux(rt.h(s), rt.public))
	}
	mux.Handle("/v1/", s.flux(func(_ http.ResponseWriter, r *http.Request) error {
		return errorf(CodeNotFound, "no such endpoint of the Flux RESTful API: %s %s (Tenancy serves: %s)", r.Method, r.URL.Path, strings.Join(FluxRoutes(), ", "))
	}, true))
}

// errFluxUnauthenticated is errUnauthenticated in the protocol's terms.
var errFluxUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "Not authenticated: send 'Authorization: Bearer TOKEN' (the Python client's set_bearer_auth); POST /v1/login/access-token with username and password gives a token, and so does a personal API token from POST /api/v1/tokens"}

// fluxError is FastAPI's error body, {"detail": …}, which Flux clients
// print; code is Tenancy's error code.
type fluxError struct {
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// flux wraps a handler of the protocol: the caller is authenticated as
// for /api/v1 (any Tenancy token), and errors are rendered as Flux's.
func (s *server) flux(h handler, public bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !public {
			p, err := s.authenticate(r)
			if err == nil && p == nil {
				err = errUnauthenticated
			}
			if err != nil {
				s.writeFluxError(w, r, err)
				return
			}
			r = r.WithContext(withPrincipal(r.Context(), p))
		}
		if err := h(w, r); err != nil {
			s.writeFluxError(w, r, err)
		}
	})
}

func (s *server) writeFluxError(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := s.fluxAsError(err)
	if internal {
		s.Log.Error(err, "Request failed", "method", r.Method, "path", r.URL.Path)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if e.Code == CodeUnauthenticated {
		// The Python client answers a 401 with this header by trying the
		// shared-secret exchange (POST /v1/token), whose 400 says why not.
		w.Header().Set("WWW-Authenticate", "Bearer")
		if e == errUnauthenticated {
			e = errFluxUnauthenticated
		}
	}
	writeJSON(w, e.Status(), fluxError{Detail: e.Message, Code: e.Code})
}

// fluxAsError is asError, knowing the errors of internal/jobs.
func (s *server) fluxAsError(err error) (*Error, bool) {
	var field *jobs.FieldError
	var never *jobs.NeverFitsError
	var notFound *jobs.NotFoundError
	switch {
	case errors.As(err, &field):
		return errorf(CodeInvalid, "%s: %s", fluxParam(field.Field), field.Message), false
	case errors.As(err, &never):
		return errorf(CodeInvalid, "%s", never.Error()), false
	case errors.As(err, &notFound):
		return errorf(CodeNotFound, "Job %s not found in workspace %s%s", notFound.Name, notFound.Namespace, notFound.Why), false
	case errors.Is(err, jobs.ErrFinished):
		return errorf(CodeConflict, "%s", err.Error()), false
	}
	return asError(err)
}

// POST /v1/login/access-token: OAuth2's password grant, as a form
// (username, password; grant_type "password" or none). A session token
// comes back, which works as a bearer token here and on /api/v1.
func (s *server) fluxLogin(w http.ResponseWriter, r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" && ct != "multipart/form-data" {
		return errorf(CodeUnsupportedMedia, "send username and password as a form (Content-Type: application/x-www-form-urlencoded), as OAuth2's password flow does; got %q", r.Header.Get("Content-Type"))
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var err error
	if ct == "multipart/form-data" {
		err = r.ParseMultipartForm(maxBody)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return errorf(CodeInvalid, "the form cannot be read: %v", err)
	}
	if g := r.PostForm.Get("grant_type"); g != "" && g != "password" {
		return errorf(CodeInvalid, "grant_type: only \"password\" is supported, got %q", g)
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		return errorf(CodeInvalid, "give username and password as form fields")
	}
	tok, c, err := s.login(r.Context(), r, username, password)
	if errors.Is(err, errBadLogin) {
		// 400, as Flux answers (OAuth2's invalid_grant): a 401 would send
		// the Python client to try the shared-secret exchange.
		return errorf(CodeInvalid, "Incorrect user or password")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "bearer",
		"expires_in": int(c.Expires.Sub(s.Now()).Seconds()),
	})
	return nil
}

// POST /v1/token: Flux's shared-secret exchange, refused.
func (s *server) fluxToken(http.ResponseWriter, *http.Request) error {
	return errorf(CodeInvalid, "Flux's shared-secret token exchange (a JWT signed with FLUX_SECRET_KEY holding your user name and password) is not supported by Tenancy: "+
		"the JWT is signed, not encrypted, so it carries your password readable by whoever sees it, and a key shared by every client and the server proves nothing about who signed it. "+
		"Get a token with POST /v1/login/access-token (an OAuth2 password form: username, password), or make a personal API token (POST /api/v1/tokens, or Account in the web UI), "+
		"and give it to the client: client.set_bearer_auth(token)")
}

// POST /v1/service/stop: Flux's superuser shutdown, refused.
func (s *server) fluxStop(http.ResponseWriter, *http.Request) error {
	return errorf(CodeForbidden, "stopping the service is not offered: Tenancy's server is shared by every user and runs as long as its operator wants (stop `tenancy serve` itself)")
}

// fluxTarget is where a caller's Flux jobs go.
type fluxTarget struct {
	ns string
	// ws is the workspace from the cache, when the caller is a member
	// (nil otherwise: the impersonated requests alone decide then).
	ws *tenancyv1.Workspace
}

// fluxTarget finds the caller's workspace (see FluxWorkspaceParam).
func (s *server) fluxTarget(r *http.Request) (fluxTarget, error) {
	ctx := r.Context()
	p := principalFrom(ctx)
	name, from := r.URL.Query().Get(FluxWorkspaceParam), "the "+FluxWorkspaceParam+" parameter"
	if name == "" {
		name, from = r.Header.Get(FluxWorkspaceHeader), "the "+FluxWorkspaceHeader+" header"
	}
	if name == "" {
		u, err := s.localUser(ctx, p.Name)
		if err != nil {
			return fluxTarget{}, err
		}
		if u != nil {
			name, from = u.Annotations[AnnotationFluxWorkspace], "the "+AnnotationFluxWorkspace+" annotation of your User"
		}
	}
	if name != "" {
		if validateWorkspaceName(name) != nil {
			return fluxTarget{}, errorf(CodeInvalid, "%s: %q is not a workspace name", from, name)
		}
		ws := &tenancyv1.Workspace{}
		if err := s.Cache.Get(ctx, client.ObjectKey{Name: name}, ws); err == nil && roleOf(ws, p) != "" {
			return fluxTarget{ns: name, ws: ws}, nil
		} else if err != nil && !apierrors.IsNotFound(err) {
			return fluxTarget{}, err
		}
		return fluxTarget{ns: name}, nil
	}
	owned, err := s.ownedWorkspaces(ctx, p)
	if err != nil {
		return fluxTarget{}, err
	}
	const choose = "name one with ?" + FluxWorkspaceParam + "=NAME or the " + FluxWorkspaceHeader + " header, or ask an admin to annotate your User: kubectl annotate user NAME " + AnnotationFluxWorkspace + "=WORKSPACE"
	switch len(owned) {
	case 0:
		return fluxTarget{}, errorf(CodeNotFound, "you own no workspace for your Flux jobs to run in: create one, or %s", choose)
	case 1:
		return fluxTarget{ns: owned[0].Name, ws: owned[0]}, nil
	}
	names := make([]string, len(owned))
	for i, ws := range owned {
		names[i] = ws.Name
	}
	return fluxTarget{}, errorf(CodeConflict, "you own several workspaces (%s): %s", strings.Join(names, ", "), choose)
}

// ownedWorkspaces are the workspaces the caller owns (themself or through
// a group), from the cache, by name.
func (s *server) ownedWorkspaces(ctx context.Context, p *Principal) ([]*tenancyv1.Workspace, error) {
	keys := []string{string(tenancyv1.UserKind) + "/" + p.Name}
	for _, g := range p.Groups {
		keys = append(keys, string(tenancyv1.GroupKind)+"/"+g)
	}
	byName := map[string]*tenancyv1.Workspace{}
	for _, k := range keys {
		list := &tenancyv1.WorkspaceList{}
		if err := s.Cache.List(ctx, list, client.MatchingFields{memberIndex: k}); err != nil {
			return nil, err
		}
		for i := range list.Items {
			ws := &list.Items[i]
			if ws.DeletionTimestamp.IsZero() && roleOf(ws, p) == RoleOwner {
				byName[ws.Name] = ws
			}
		}
	}
	out := make([]*tenancyv1.Workspace, 0, len(byName))
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[n])
	}
	return out, nil
}

// GET /v1/nodes: the nodes the caller's workspace can schedule on (its
// pool), from the server's cache, since users may not list nodes.
func (s *server) fluxNodes(w http.ResponseWriter, r *http.Request) error {
	t, err := s.fluxTarget(r)
	if err != nil {
		return err
	}
	nodes, err := s.poolNodes(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]string{"nodes": nodes})
	return nil
}

// poolNodes are the names of the Ready, schedulable nodes that match the
// workspace's node selector and whose NoSchedule taints its pods tolerate
// (a GPU node's nvidia.com/gpu taint counts as tolerated: Tenancy's GPU
// jobs tolerate it).
func (s *server) poolNodes(ctx context.Context, t fluxTarget) ([]string, error) {
	ws := t.ws
	if ws == nil {
		// Not a member: only someone who may run jobs there may see its pool.
		may, err := s.can(ctx, check{verb: "create", resource: "jobs", group: ptr.To("batch"), namespace: t.ns})
		if err != nil {
			return nil, err
		}
		if !may[0] {
			return nil, errorf(CodeForbidden, "you may not run jobs in workspace %q", t.ns)
		}
		ws = &tenancyv1.Workspace{}
		if err := s.Cache.Get(ctx, client.ObjectKey{Name: t.ns}, ws); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, errorf(CodeNotFound, "workspace %q not found", t.ns)
			}
			return nil, err
		}
	}
	sel := ws.Status.NodeSelector
	if len(sel) == 0 {
		sel = ws.Spec.NodeSelector
	}
	list := &corev1.NodeList{}
	if err := s.Cache.List(ctx, list, client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(sel)}); err != nil {
		return nil, err
	}
	tolerations := append(slices.Clone(ws.Spec.Tolerations), corev1.Toleration{Key: string(jobs.GPUResource), Operator: corev1.TolerationOpExists})
	names := []string{}
	for i := range list.Items {
		n := &list.Items[i]
		if n.Spec.Unschedulable || !nodeReady(n) || !tolerated(n.Spec.Taints, tolerations) {
			continue
		}
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func tolerated(taints []corev1.Taint, tolerations []corev1.Toleration) bool {
	for i := range taints {
		taint := &taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !slices.ContainsFunc(tolerations, func(t corev1.Toleration) bool {
			return t.ToleratesTaint(klog.Background(), taint, false)
		}) {
			return false
		}
	}
	return true
}

// fluxJob is a Job with its pods and state.
type fluxJob struct {
	job  *batchv1.Job
	pods []corev1.Pod
	st   jobs.Status
}

// fluxJobs reads the caller's Tenancy jobs in ns (one when name is not ""),
// as the caller: the same requests /api/v1 makes.
func (s *server) fluxJobs(ctx context.Context, ns, name string) ([]fluxJob, error) {
	var list []batchv1.Job
	if name != "" {
		job := &batchv1.Job{}
		if err := s.AsUser.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &jobs.NotFoundError{Namespace: ns, Name: name}
			}
			return nil, err
		}
		if job.Labels[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue {
			return nil, &jobs.NotFoundError{Namespace: ns, Name: name, Why: " (a Job of that name exists, but it is not a Tenancy job)"}
		}
		list = []batchv1.Job{*job}
	} else {
		jl := &batchv1.JobList{}
		if err := s.AsUser.List(ctx, jl, client.InNamespace(ns), client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}); err != nil {
			return nil, err
		}
		list = jl.Items
	}
	podSel := client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}
	if name != "" {
		podSel = client.MatchingLabels{batchv1.ControllerUidLabel: string(list[0].UID)}
	}
	pl := &corev1.PodList{}
	if err := s.AsUser.List(ctx, pl, client.InNamespace(ns), podSel); err != nil && !apierrors.IsForbidden(err) {
		return nil, err
	}
	slices.SortStableFunc(pl.Items, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	byJob := map[string][]corev1.Pod{}
	for _, p := range pl.Items {
		uid := p.Labels[batchv1.ControllerUidLabel]
		byJob[uid] = append(byJob[uid], p)
	}
	out := make([]fluxJob, 0, len(list))
	waiting := false
	for i := range list {
		job := &list[i]
		pods := byJob[string(job.UID)]
		st := jobs.StateOf(job, pods)
		waiting = waiting || st.State == jobs.Queued && len(pods) == 0
		out = append(out, fluxJob{job: job, pods: pods, st: st})
	}
	if waiting {
		// Why a job without pods waits (the quota, say) is in the Job
		// controller's events, which internal/jobs reads.
		reasons := map[string]string{}
		if name != "" {
			if d, err := s.jobsClient().Get(ctx, ns, name); err == nil {
				reasons[name] = d.Reason
			}
		} else if sums, err := s.jobsClient().List(ctx, ns, jobs.Filter{State: jobs.Queued}); err == nil {
			for _, sum := range sums {
				reasons[sum.Name] = sum.Reason
			}
		}
		for i := range out {
			if r, ok := reasons[out[i].job.Name]; ok && out[i].st.State == jobs.Queued && r != "" {
				out[i].st.Reason = r
			}
		}
	}
	// Newest first, as Flux lists.
	slices.SortStableFunc(out, func(a, b fluxJob) int {
		if c := b.job.CreationTimestamp.Compare(a.job.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.job.Name, b.job.Name)
	})
	return out, nil
}

func (s *server) fluxInfos(r *http.Request) ([]fluxJobInfo, error) {
	t, err := s.fluxTarget(r)
	if err != nil {
		return nil, err
	}
	list, err := s.fluxJobs(r.Context(), t.ns, "")
	if err != nil {
		return nil, err
	}
	now := s.Now()
	infos := make([]fluxJobInfo, len(list))
	for i, j := range list {
		infos[i] = fluxInfo(j.job, j.pods, j.st, now)
	}
	return infos, nil
}

// GET /v1/jobs: {"jobs": [info…]}; with details=true a map from id to
// info, and with listing=true as well a list of infos; limit bounds the
// details. (flux-restful-client 0.2 sends "detail", which is taken too.)
func (s *server) fluxListJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	details, err := queryBool(q, "details", "detail")
	if err != nil {
		return err
	}
	listing, err := queryBool(q, "listing")
	if err != nil {
		return err
	}
	limit := -1
	if v := q.Get("limit"); v != "" && v != "None" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return errorf(CodeInvalid, "limit: %q is not a whole number >= 0", v)
		}
	}
	infos, err := s.fluxInfos(r)
	if err != nil {
		return err
	}
	switch {
	case !details:
		writeJSON(w, http.StatusOK, map[string][]fluxJobInfo{"jobs": infos})
	case limit >= 0 && limit < len(infos):
		infos = infos[:limit]
		fallthrough
	default:
		if listing {
			writeJSON(w, http.StatusOK, infos)
			return nil
		}
		byID := make(map[string]fluxJobInfo, len(infos))
		for _, in := range infos {
			byID[in.ID] = in
		}
		writeJSON(w, http.StatusOK, byID)
	}
	return nil
}

func queryBool(q url.Values, names ...string) (bool, error) {
	for _, n := range names {
		switch v := strings.ToLower(q.Get(n)); v {
		case "":
		case "true", "1", "yes", "on":
			return true, nil
		case "false", "0", "no", "off":
			return false, nil
		default:
			return false, errorf(CodeInvalid, "%s: %q is not true or false", n, q.Get(n))
		}
	}
	return false, nil
}

// GET /v1/jobs/search: the datatables listing of Flux's web UI
// ({"data","draw","recordsTotal","recordsFiltered"}); search (or
// search[value], or query) is a regular expression matched against each
// job's fields, start and length page.
func (s *server) fluxSearchJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	num := func(name string) (int, error) {
		v := q.Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, errorf(CodeInvalid, "%s: %q is not a whole number >= 0", name, v)
		}
		return n, nil
	}
	start, err := num("start")
	if err != nil {
		return err
	}
	length, err := num("length")
	if err != nil {
		return err
	}
	var re *regexp.Regexp
	for _, k := range []string{"search[value]", "search", "query"} {
		if v := q.Get(k); v != "" {
			if re, err = regexp.Compile(v); err != nil {
				return errorf(CodeInvalid, "%s: %q is not a regular expression: %v", k, v, err)
			}
			break
		}
	}
	infos, err := s.fluxInfos(r)
	if err != nil {
		return err
	}
	total := len(infos)
	if re != nil {
		var kept []fluxJobInfo
		for _, in := range infos {
			raw, _ := json.Marshal(in)
			if re.Match(raw) {
				kept = append(kept, in)
			}
		}
		infos = kept
	}
	if start > 0 && start < len(infos) {
		infos = infos[start:]
	}
	if length > 0 && length < len(infos) {
		infos = infos[:length]
	}
	if infos == nil {
		infos = []fluxJobInfo{}
	}
	draw := q.Get("draw")
	if draw == "" {
		draw = "1"
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": infos, "draw": draw, "recordsTotal": total, "recordsFiltered": len(infos)})
	return nil
}

// POST /v1/jobs/submit: {"Message": "Job submit.", "id": NAME}.
func (s *server) fluxSubmit(w http.ResponseWriter, r *http.Request) error {
	params, err := submitParams(w, r)
	if err != nil {
		return err
	}
	t, err := s.fluxTarget(r)
	if err != nil {
		return err
	}
	nodes := 0 // the pool's size, read only to check a num_nodes
	if params.Get("num_nodes") != "" {
		pool, err := s.poolNodes(r.Context(), t)
		if err != nil {
			return err
		}
		nodes = len(pool)
	}
	sub, errs := fluxSubmission(params, nodes)
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"Message": "Invalid submit request", "Errors": errs, "detail": strings.Join(errs, "; ")})
		return nil
	}
	p := principalFrom(r.Context())
	sum, err := s.jobsClient().Submit(r.Context(), t.ns, jobs.SubmitterOf(p.Name), sub, false)
	if err != nil {
		e, internal := s.fluxAsError(err)
		if internal {
			return err
		}
		writeJSON(w, e.Status(), map[string]any{"Message": "There was an issue submitting that job.", "Error": e.Message, "detail": e.Message, "code": e.Code})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"Message": "Job submit.", "id": sum.Name})
	return nil
}

// submitParams are the submit's parameters: the query string (what
// flux-restful-client 0.2 sends), with a form or JSON body merged in
// (older clients).
func submitParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	params := r.URL.Query()
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var body url.Values
	switch ct {
	case "application/json":
		raw := map[string]any{}
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, decodeError(err)
		}
		var err error
		if body, err = valuesOfJSON(raw); err != nil {
			return nil, errorf(CodeInvalid, "%v", err)
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, errorf(CodeInvalid, "the form cannot be read: %v", err)
		}
		body = r.PostForm
	}
	for k, vs := range body {
		if _, ok := params[k]; !ok {
			params[k] = vs
		}
	}
	return params, nil
}

// fluxOne reads the job {id} of the caller's workspace.
func (s *server) fluxOne(r *http.Request) (fluxTarget, *fluxJob, error) {
	t, err := s.fluxTarget(r)
	if err != nil {
		return t, nil, err
	}
	id := r.PathValue("id")
	if validJobID(id) != nil {
		return t, nil, &jobs.NotFoundError{Namespace: t.ns, Name: id}
	}
	list, err := s.fluxJobs(r.Context(), t.ns, id)
	if err != nil {
		return t, nil, err
	}
	return t, &list[0], nil
}

// validJobID: ids are Job names (DNS labels).
func validJobID(id string) error {
	if id == "" || len(id) > 63 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return fmt.Errorf("%q is not a job id", id)
	}
	return nil
}

// GET /v1/jobs/{id}
func (s *server) fluxGetJob(w http.ResponseWriter, r *http.Request) error {
	_, j, err := s.fluxOne(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fluxInfo(j.job, j.pods, j.st, s.Now()))
	return nil
}

// POST /v1/jobs/{id}/cancel: {"Message": "Job is requested to cancel.",
// "id"}; 400 "Job cannot be cancelled: …" for one that has ended, as Flux
// answers for an inactive job.
func (s *server) fluxCancel(w http.ResponseWriter, r *http.Request) error {
	t, j, err := s.fluxOne(r)
	if err != nil {
		return err
	}
	id := j.job.Name
	cannot := func(why string) error {
		writeJSON(w, http.StatusBadRequest, map[string]any{"Message": "Job cannot be cancelled: " + why + ".", "id": id})
		return nil
	}
	switch j.st.State {
	case jobs.Succeeded, jobs.Failed:
		return cannot("it has already finished (" + strings.ToLower(string(j.st.State)) + ")")
	case jobs.Cancelled:
		return cannot("it is already cancelled")
	}
	p := principalFrom(r.Context())
	if _, err := s.jobsClient().Cancel(r.Context(), t.ns, id, jobs.SubmitterOf(p.Name)); err != nil {
		if errors.Is(err, jobs.ErrFinished) {
			return cannot("it has already finished")
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"Message": "Job is requested to cancel.", "id": id})
	return nil
}

// GET /v1/jobs/{id}/output: {"Output": [line…]}, each line with its
// newline, all tasks in task order; {"Message"} while there is none.
func (s *server) fluxOutput(w http.ResponseWriter, r *http.Request) error {
	t, err := s.fluxTarget(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if validJobID(id) != nil {
		return &jobs.NotFoundError{Namespace: t.ns, Name: id}
	}
	var buf bytes.Buffer
	if err := s.jobsClient().Logs(r.Context(), t.ns, id, jobs.LogOptions{}, &buf); err != nil {
		return err
	}
	lines := splitLines(buf.String())
	if len(lines) == 0 {
		writeJSON(w, http.StatusOK, map[string]string{"Message": "The output does not exist yet, or the jobid is incorrect."})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string][]string{"Output": lines})
	return nil
}

// splitLines splits s after each newline, keeping it (Flux's output
// chunks keep theirs).
func splitLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i+1], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// GET /v1/jobs/{id}/output/stream: the output as it is written, as
// text/plain, until the job ends or the client goes.
func (s *server) fluxStream(w http.ResponseWriter, r *http.Request) error {
	t, _, err := s.fluxOne(r) // a refusal or 404 before the 200 starts
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	sw := &streamWriter{w: w, rc: http.NewResponseController(w)}
	err = s.jobsClient().Logs(r.Context(), t.ns, r.PathValue("id"), jobs.LogOptions{Follow: true}, sw)
	if err != nil && !sw.started {
		return err
	}
	if err != nil && r.Context().Err() == nil {
		s.Log.Error(err, "Output stream ended early", "workspace", t.ns, "job", r.PathValue("id"))
	}
	return nil
}

// streamWriter sends what it is given at once.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	sw.started = true
	return sw.w.Write(p)
}

func (sw *streamWriter) Flush() { _ = sw.rc.Flush() }
