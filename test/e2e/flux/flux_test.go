//go:build integration

// Package flux checks Tenancy's Flux RESTful API protocol (/v1) against
// the shapes of flux-framework/flux-restful-api's app/routers/api.py and
// the requests of its Python client, flux-restful-client 0.2.1: the
// server runs as its own identity on a real control plane whose process
// nodes really run the jobs. The client is not installed (PyPI is out of
// reach here); fluxClient sends exactly what it sends.
package flux

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/server"
	"github.com/tenancy-dev/tenancy/internal/testenv"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		ProcessNodes: localcluster.DefaultNodes(2, 1),
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			if err := install.CreateIfMissing(ctx, e.Admin, install.DefaultClass()); err != nil {
				return err
			}
			return server.Grant(ctx, e.Admin, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: server.RoleName})
		},
	}, func(e *testenv.Env) { env = e }))
}

const wait = 2 * time.Minute

// serve runs the server as its own identity, with only the rights of
// config/rbac/server_role.yaml.
func serve(t *testing.T) string {
	t.Helper()
	cfg, err := env.Cluster.UserConfig(server.RoleName)
	if err != nil {
		t.Fatal(err)
	}
	d, err := server.Setup(t.Context(), cfg, server.Options{}, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := d.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.NewServer(d))
	t.Cleanup(ts.Close)
	return ts.URL
}

// addUser makes a User with a password, as `tenancy user add` does.
func addUser(t *testing.T, name string) string {
	t.Helper()
	u := &tenancyv1.User{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}},
		Spec:       tenancyv1.UserSpec{PasswordSecret: passwords.SecretName(name)},
	}
	if err := env.Admin.Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	pw := passwords.Generate()
	if err := passwords.Set(t.Context(), env.Admin, name, pw); err != nil {
		t.Fatal(err)
	}
	return pw
}

// workspace makes a Ready workspace owned by owner.
func workspace(t *testing.T, ws *tenancyv1.Workspace) {
	t.Helper()
	if err := env.Admin.Create(t.Context(), ws); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, wait, "workspace "+ws.Name+" Ready", func(ctx context.Context) error {
		if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(ws), ws); err != nil {
			return err
		}
		if c := ws.Condition(tenancyv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || ws.Status.Quota == nil {
			return fmt.Errorf("not Ready: %+v", ws.Status.Conditions)
		}
		return nil
	})
	testenv.Eventually(t, wait, "ServiceAccount default in "+ws.Name, func(ctx context.Context) error {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: "default"}, &corev1.ServiceAccount{})
	})
}

// fluxClient sends what flux-restful-client 0.2.1's FluxRestfulClient
// sends: the prefix v1, set_bearer_auth's header, submit's fields as query
// parameters of a POST without a body (httpx post(params=data)), envars
// as Python's str() of a dict (what httpx makes of a dict value), jobs()
// with detail=true / listing=true, output, stream_output (a GET read by
// lines), cancel and list_nodes.
type fluxClient struct {
	t     *testing.T
	host  string
	token string
	// extra query parameters on every request (a raw HTTP user choosing a
	// workspace; the Python client cannot send them).
	extra url.Values
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r reply) want(t *testing.T, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

func (r reply) detail(t *testing.T) string {
	t.Helper()
	var e struct{ Detail string }
	r.json(t, &e)
	return e.Detail
}

func (c *fluxClient) do(method, endpoint string, params url.Values, body io.Reader, header http.Header) reply {
	c.t.Helper()
	q := url.Values{}
	maps.Copy(q, c.extra)
	maps.Copy(q, params)
	u := c.host + "/v1/" + endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

// submit is client.submit(command, **kwargs).
func (c *fluxClient) submit(command string, kwargs map[string]string) reply {
	c.t.Helper()
	q := url.Values{"command": {command}}
	for k, v := range kwargs {
		q.Set(k, v)
	}
	return c.do("POST", "jobs/submit", q, nil, nil)
}

// submitted is the id of a submit that must succeed.
func (c *fluxClient) submitted(command string, kwargs map[string]string) string {
	c.t.Helper()
	var out struct{ Message, ID string }
	c.submit(command, kwargs).want(c.t, 200).json(c.t, &out)
	if out.Message != "Job submit." || out.ID == "" {
		c.t.Fatalf("submit gave %+v", out)
	}
	return out.ID
}

// info is GET /v1/jobs/{id}.
type info struct {
	ID         string         `json:"id"`
	State      string         `json:"state"`
	Result     string         `json:"result"`
	Returncode any            `json:"returncode"`
	Success    bool           `json:"success"`
	Ntasks     int            `json:"ntasks"`
	Nodelist   string         `json:"nodelist"`
	TRun       any            `json:"t_run"`
	Exception  map[string]any `json:"exception"`
}

func (c *fluxClient) info(id string) (info, int) {
	c.t.Helper()
	var in info
	var fields map[string]any
	r := c.do("GET", "jobs/"+id, nil, nil, nil).want(c.t, 200)
	r.json(c.t, &in)
	r.json(c.t, &fields)
	return in, len(fields)
}

// until polls the job until it is INACTIVE, and returns its last info and
// each state seen, in order.
func (c *fluxClient) until(id string, done func(info) bool) (info, []string) {
	c.t.Helper()
	var last info
	var seen []string
	testenv.Eventually(c.t, wait, "job "+id, func(context.Context) error {
		last, _ = c.info(id)
		if len(seen) == 0 || seen[len(seen)-1] != last.State {
			seen = append(seen, last.State)
		}
		if !done(last) {
			return fmt.Errorf("state %s result %q, seen %v", last.State, last.Result, seen)
		}
		return nil
	})
	return last, seen
}

func inactive(in info) bool { return in.State == "INACTIVE" }

func (c *fluxClient) output(id string) (lines []string, message string) {
	c.t.Helper()
	var out struct {
		Output  []string
		Message string
	}
	c.do("GET", "jobs/"+id+"/output", nil, nil, nil).want(c.t, 200).json(c.t, &out)
	return out.Output, out.Message
}

func login(t *testing.T, host, user, pw string) string {
	t.Helper()
	form := url.Values{"username": {user}, "password": {pw}}
	c := &fluxClient{t: t, host: host}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	c.do("POST", "login/access-token", nil, strings.NewReader(form.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}).want(t, 200).json(t, &tok)
	if tok.AccessToken == "" || tok.TokenType != "bearer" {
		t.Fatalf("login gave %+v", tok)
	}
	return tok.AccessToken
}

func TestFluxProtocol(t *testing.T) {
	host := serve(t)
	alexPW, tomPW, bobPW := addUser(t, "alex"), addUser(t, "tom"), addUser(t, "bob")
	workspace(t, testutil.Workspace("flux-alex").Owner("alex").NodeSelector(localcluster.PoolLabel, "cpu").Obj())
	workspace(t, testutil.Workspace("flux-tom").Owner("tom").Obj())

	t.Run("login, bearer tokens and the refused shared-secret exchange", func(t *testing.T) {
		anon := &fluxClient{t: t, host: host}
		r := anon.do("GET", "jobs", nil, nil, nil).want(t, 401)
		if r.header.Get("WWW-Authenticate") == "" || !strings.Contains(r.detail(t), "Bearer") {
			t.Errorf("401 without WWW-Authenticate or a word on how: %v %s", r.header, r.body)
		}
		// What the client does next with a 401: POST /v1/token with a JWT.
		r = anon.do("POST", "token", nil, nil, http.Header{"Authorization": {"Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYWxleCJ9.c2ln"}}).want(t, 400)
		if d := r.detail(t); !strings.Contains(d, "not supported") || !strings.Contains(d, "/v1/login/access-token") || !strings.Contains(d, "set_bearer_auth") {
			t.Errorf("/v1/token 400 does not say why and what instead: %s", d)
		}
		form := url.Values{"username": {"alex"}, "password": {"wrong"}}
		r = anon.do("POST", "login/access-token", nil, strings.NewReader(form.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}).want(t, 400)
		if d := r.detail(t); d != "Incorrect user or password" {
			t.Errorf("bad login: %q", d)
		}
		r = anon.do("POST", "login/access-token", nil, strings.NewReader(`{"username":"alex"}`), http.Header{"Content-Type": {"application/json"}}).want(t, 415)
		if !strings.Contains(r.detail(t), "form") {
			t.Errorf("a JSON login is not told to send a form: %s", r.body)
		}
		tok := login(t, host, "alex", alexPW)
		var jobs struct{ Jobs []info }
		(&fluxClient{t: t, host: host, token: tok}).do("GET", "jobs", nil, nil, nil).want(t, 200).json(t, &jobs)
		// A personal API token works as set_bearer_auth's token too.
		req, _ := http.NewRequestWithContext(t.Context(), "POST", host+"/api/v1/tokens", strings.NewReader(`{"name":"flux"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var api struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&api); err != nil || resp.StatusCode != 201 {
			t.Fatalf("create token: %d %v", resp.StatusCode, err)
		}
		_ = resp.Body.Close()
		withAPIToken := &fluxClient{t: t, host: host, token: api.Token}
		withAPIToken.do("GET", "jobs", nil, nil, nil).want(t, 200)
		// Flux's superuser shutdown is nobody's to call here.
		if d := withAPIToken.do("POST", "service/stop", nil, nil, nil).want(t, 403).detail(t); !strings.Contains(d, "not offered") {
			t.Errorf("service/stop: %s", d)
		}
	})

	alex := &fluxClient{t: t, host: host, token: login(t, host, "alex", alexPW)}
	tom := &fluxClient{t: t, host: host, token: login(t, host, "tom", tomPW)}

	var doneID, runningID string
	t.Run("submit, list, info through completion, output", func(t *testing.T) {
		alex.t = t
		doneID = alex.submitted("sh -c 'echo pancakes 🥞; sleep 3; echo done'", nil)
		var list struct{ Jobs []info }
		alex.do("GET", "jobs", nil, nil, nil).want(t, 200).json(t, &list)
		if !slices.ContainsFunc(list.Jobs, func(j info) bool { return j.ID == doneID }) {
			t.Errorf("GET /v1/jobs %+v lacks %s", list.Jobs, doneID)
		}
		last, seen := alex.until(doneID, inactive)
		if last.Result != "COMPLETED" || last.Returncode != float64(0) || !last.Success {
			t.Errorf("finished job: %+v", last)
		}
		// Flux's states in order: SCHED (perhaps not seen), RUN, INACTIVE.
		if !slices.Contains(seen, "RUN") || seen[len(seen)-1] != "INACTIVE" || slices.Index(seen, "RUN") > slices.Index(seen, "INACTIVE") {
			t.Errorf("states seen %v, want RUN then INACTIVE", seen)
		}
		_, n := alex.info(doneID)
		if n <= 20 {
			t.Errorf("job info has %d fields, Flux's has more than 20", n)
		}
		lines, msg := alex.output(doneID)
		if !slices.Equal(lines, []string{"pancakes 🥞\n", "done\n"}) {
			t.Errorf("output %q (%s)", lines, msg)
		}

		// details (the client sends "detail"), listing, limit.
		var byID map[string]info
		alex.do("GET", "jobs", url.Values{"detail": {"true"}}, nil, nil).want(t, 200).json(t, &byID)
		if byID[doneID].ID != doneID || byID[doneID].State != "INACTIVE" {
			t.Errorf("details: %+v", byID)
		}
		var listing []info
		alex.do("GET", "jobs", url.Values{"details": {"true"}, "listing": {"true"}}, nil, nil).want(t, 200).json(t, &listing)
		if len(listing) == 0 || listing[0].ID != doneID {
			t.Errorf("listing: %+v", listing)
		}
		var none map[string]info
		alex.do("GET", "jobs", url.Values{"details": {"true"}, "limit": {"0"}}, nil, nil).want(t, 200).json(t, &none)
		if len(none) != 0 {
			t.Errorf("limit 0 gave %d jobs", len(none))
		}
		var search struct {
			Data                          []info
			RecordsTotal, RecordsFiltered int
		}
		alex.do("GET", "jobs/search", url.Values{"search": {doneID}}, nil, nil).want(t, 200).json(t, &search)
		if search.RecordsFiltered != 1 || search.Data[0].ID != doneID || search.RecordsTotal < 1 {
			t.Errorf("search: %+v", search)
		}
	})

	t.Run("tasks, envars and workdir as the client sends them", func(t *testing.T) {
		alex.t = t
		id := alex.submitted(`sh -c 'echo "$GREETING" $JOB_COMPLETION_INDEX $(pwd)'`, map[string]string{
			"num_tasks": "2", "cores_per_task": "1", "envars": "{'GREETING': 'hi there'}", "workdir": "/tmp",
		})
		last, _ := alex.until(id, inactive)
		if last.Result != "COMPLETED" || last.Ntasks != 2 {
			t.Fatalf("%+v", last)
		}
		lines, _ := alex.output(id)
		if !slices.Equal(lines, []string{"hi there 0 /tmp\n", "hi there 1 /tmp\n"}) {
			t.Errorf("output %q", lines)
		}
		// An older client's JSON body, the command as a list.
		var out struct{ ID string }
		alex.do("POST", "jobs/submit", nil, strings.NewReader(`{"command": ["echo", "from json"]}`), http.Header{"Content-Type": {"application/json"}}).want(t, 200).json(t, &out)
		alex.until(out.ID, inactive)
		if lines, _ := alex.output(out.ID); !slices.Equal(lines, []string{"from json\n"}) {
			t.Errorf("JSON submit output %q", lines)
		}
	})

	t.Run("bad submissions are refused, naming the parameter", func(t *testing.T) {
		alex.t = t
		var e struct {
			Message string
			Errors  []string
		}
		alex.submit("", nil).want(t, 400).json(t, &e)
		if e.Message != "Invalid submit request" || !slices.Equal(e.Errors, []string{"'command' is required."}) {
			t.Errorf("%+v", e)
		}
		alex.submit("true", map[string]string{"exclusive": "true", "num_nodes": "3"}).want(t, 400).json(t, &e)
		if len(e.Errors) != 2 || !strings.Contains(e.Errors[0], "only schedule on 2 nodes") || !strings.Contains(e.Errors[1], "exclusive is not supported") {
			t.Errorf("%+v", e)
		}
		var never struct{ Message, Error string }
		alex.submit("true", map[string]string{"gpus_per_task": "3"}).want(t, 400).json(t, &never)
		if !strings.Contains(never.Error, "requests.nvidia.com/gpu") || !strings.Contains(never.Error, "never run") {
			t.Errorf("a job over the GPU quota: %+v", never)
		}
	})

	t.Run("a failing command: FAILED with its returncode", func(t *testing.T) {
		alex.t = t
		id := alex.submitted("sh -c 'echo oops; exit 3'", nil)
		last, _ := alex.until(id, inactive)
		if last.Result != "FAILED" || last.Returncode != float64(3) || last.Success {
			t.Errorf("%+v", last)
		}
		if lines, _ := alex.output(id); !slices.Equal(lines, []string{"oops\n"}) {
			t.Errorf("output %q", lines)
		}
	})

	t.Run("runtime exceeded: TIMEOUT", func(t *testing.T) {
		alex.t = t
		id := alex.submitted("sleep 120", map[string]string{"runtime": "2"})
		last, _ := alex.until(id, inactive)
		if last.Result != "TIMEOUT" || last.Exception["type"] != "timeout" {
			t.Errorf("%+v", last)
		}
	})

	t.Run("output streams while the job runs", func(t *testing.T) {
		alex.t = t
		id := alex.submitted("sh -c 'for i in 1 2 3; do echo line $i; sleep 1; done'", nil)
		req, _ := http.NewRequestWithContext(t.Context(), "GET", host+"/v1/jobs/"+id+"/output/stream", nil)
		req.Header.Set("Authorization", "Bearer "+alex.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(resp.Body)
		var lines []string
		for sc.Scan() {
			if len(lines) == 0 {
				// The first line comes while the job still runs.
				if in, _ := alex.info(id); in.State != "RUN" {
					t.Errorf("first line came with the job %s", in.State)
				}
			}
			lines = append(lines, sc.Text())
		}
		if !slices.Equal(lines, []string{"line 1", "line 2", "line 3"}) {
			t.Errorf("streamed %q (%v)", lines, sc.Err())
		}
	})

	t.Run("cancel: CANCELED, and a second cancel cannot", func(t *testing.T) {
		alex.t = t
		id := alex.submitted("sleep 300", nil)
		alex.until(id, func(in info) bool { return in.State == "RUN" })
		var out struct{ Message, ID string }
		alex.do("POST", "jobs/"+id+"/cancel", nil, nil, nil).want(t, 200).json(t, &out)
		if out.Message != "Job is requested to cancel." || out.ID != id {
			t.Errorf("%+v", out)
		}
		last, _ := alex.until(id, inactive)
		if last.Result != "CANCELED" || last.Success || last.Exception["type"] != "cancel" {
			t.Errorf("%+v", last)
		}
		alex.do("POST", "jobs/"+id+"/cancel", nil, nil, nil).want(t, 400).json(t, &out)
		if !strings.Contains(out.Message, "cannot be cancelled") {
			t.Errorf("%+v", out)
		}
	})

	t.Run("nodes: the workspace's pool", func(t *testing.T) {
		alex.t, tom.t = t, t
		pool := func(sel map[string]string) []string {
			var nodes corev1.NodeList
			if err := env.Admin.List(t.Context(), &nodes, client.MatchingLabels(sel)); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, n := range nodes.Items {
				names = append(names, n.Name)
			}
			slices.Sort(names)
			return names
		}
		var got struct{ Nodes []string }
		alex.do("GET", "nodes", nil, nil, nil).want(t, 200).json(t, &got)
		if want := pool(map[string]string{localcluster.PoolLabel: "cpu"}); len(want) != 2 || !slices.Equal(got.Nodes, want) {
			t.Errorf("alex's (cpu pool) nodes %v, want %v", got.Nodes, want)
		}
		tom.do("GET", "nodes", nil, nil, nil).want(t, 200).json(t, &got)
		if want := pool(nil); len(want) != 3 || !slices.Equal(got.Nodes, want) {
			t.Errorf("tom's (no pool) nodes %v, want %v", got.Nodes, want)
		}
	})

	t.Run("isolation: tom cannot list, read or cancel alex's jobs", func(t *testing.T) {
		alex.t, tom.t = t, t
		runningID = alex.submitted("sleep 300", nil)
		alex.until(runningID, func(in info) bool { return in.State == "RUN" })

		// His own workspace shows none of them.
		var list struct{ Jobs []info }
		tom.do("GET", "jobs", nil, nil, nil).want(t, 200).json(t, &list)
		for _, j := range list.Jobs {
			if j.ID == runningID || j.ID == doneID {
				t.Errorf("tom lists alex's job %s", j.ID)
			}
		}
		// There, alex's jobs do not exist.
		for _, ep := range []string{"jobs/" + doneID, "jobs/" + doneID + "/output", "jobs/" + runningID + "/output/stream"} {
			tom.do("GET", ep, nil, nil, nil).want(t, 404)
		}
		tom.do("POST", "jobs/"+runningID+"/cancel", nil, nil, nil).want(t, 404)
		// Naming alex's workspace, Kubernetes refuses him.
		tomThere := &fluxClient{t: t, host: host, token: tom.token, extra: url.Values{"workspace": {"flux-alex"}}}
		for _, ep := range []string{"jobs", "jobs/" + doneID, "jobs/" + doneID + "/output", "jobs/" + runningID + "/output/stream", "nodes"} {
			if r := tomThere.do("GET", ep, nil, nil, nil); r.status != 403 {
				t.Errorf("tom GET %s in flux-alex: %d %s", ep, r.status, r.body)
			}
		}
		tomThere.do("POST", "jobs/"+runningID+"/cancel", nil, nil, nil).want(t, 403)
		tomThere.submit("true", nil).want(t, 403)
		// The header chooses the same way.
		if r := tom.do("GET", "jobs/"+doneID, nil, nil, http.Header{"X-Tenancy-Workspace": {"flux-alex"}}); r.status != 403 {
			t.Errorf("tom with the header: %d %s", r.status, r.body)
		}
		if in, _ := alex.info(runningID); in.State != "RUN" {
			t.Errorf("alex's job is %s after tom's cancel", in.State)
		}
		alex.do("POST", "jobs/"+runningID+"/cancel", nil, nil, nil).want(t, 200)
	})

	t.Run("a view contributor may list and read, not submit or cancel: RBAC decides", func(t *testing.T) {
		alex.t, tom.t = t, t
		workspace(t, testutil.Workspace("flux-shared").Owner("alex").Contributor(testutil.User("tom"), tenancyv1.RoleView).Obj())
		alexThere := &fluxClient{t: t, host: host, token: alex.token, extra: url.Values{"workspace": {"flux-shared"}}}
		tomThere := &fluxClient{t: t, host: host, token: tom.token, extra: url.Values{"workspace": {"flux-shared"}}}
		id := alexThere.submitted("sh -c 'echo shared; sleep 300'", nil)
		alexThere.until(id, func(in info) bool { return in.State == "RUN" })
		var list struct{ Jobs []info }
		tomThere.do("GET", "jobs", nil, nil, nil).want(t, 200).json(t, &list)
		if len(list.Jobs) != 1 || list.Jobs[0].ID != id {
			t.Errorf("tom lists %+v in flux-shared", list.Jobs)
		}
		tomThere.info(id)
		testenv.Eventually(t, wait, "tom reads the output", func(context.Context) error {
			if lines, msg := tomThere.output(id); !slices.Equal(lines, []string{"shared\n"}) {
				return fmt.Errorf("%q %s", lines, msg)
			}
			return nil
		})
		tomThere.submit("true", nil).want(t, 403)
		tomThere.do("POST", "jobs/"+id+"/cancel", nil, nil, nil).want(t, 403)
		if in, _ := alexThere.info(id); in.State != "RUN" {
			t.Errorf("the job is %s after tom's cancel", in.State)
		}
		// Alex owns two workspaces now: she must say which.
		if d := alex.do("GET", "jobs", nil, nil, nil).want(t, 409).detail(t); !strings.Contains(d, "flux-alex, flux-shared") {
			t.Errorf("%s", d)
		}
		alexThere.do("POST", "jobs/"+id+"/cancel", nil, nil, nil).want(t, 200)
	})

	t.Run("the workspace of someone who owns none: the User's annotation", func(t *testing.T) {
		bob := &fluxClient{t: t, host: host, token: login(t, host, "bob", bobPW)}
		if d := bob.do("GET", "jobs", nil, nil, nil).want(t, 404).detail(t); !strings.Contains(d, "you own no workspace") || !strings.Contains(d, server.AnnotationFluxWorkspace) {
			t.Errorf("%s", d)
		}
		u := &tenancyv1.User{}
		if err := env.Admin.Get(t.Context(), client.ObjectKey{Name: "bob"}, u); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(u.DeepCopy())
		u.Annotations = map[string]string{server.AnnotationFluxWorkspace: "flux-alex"}
		if err := env.Admin.Patch(t.Context(), u, patch); err != nil {
			t.Fatal(err)
		}
		// The annotation names a workspace; RBAC still decides: bob is no
		// member of alex's.
		testenv.Eventually(t, wait, "bob's annotation seen", func(context.Context) error {
			if r := bob.do("GET", "jobs", nil, nil, nil); r.status != 403 {
				return fmt.Errorf("%d %s", r.status, r.body)
			}
			return nil
		})
	})
}
