//go:build integration

// Package jobs_test runs jobs end to end through the REST API as people
// do: `tenancy user add` for alex, bob and tom (the Arena guide's files),
// `tenancy serve` (the built binary) as its own identity, and process
// nodes that really run the jobs' pods, a GPU node among them.
package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/server"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		Binary:       true,
		ProcessNodes: localcluster.DefaultNodes(1, 1),
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			if err := install.CreateIfMissing(ctx, e.Admin, install.DefaultClass()); err != nil {
				return err
			}
			return server.Grant(ctx, e.Admin, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: server.RoleName})
		},
	}, func(e *testenv.Env) { env = e }))
}

// tenancy runs the binary in dir, as the admin.
func tenancy(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(env.Tenancy(), append(args, "--kubeconfig", env.Cluster.AdminKubeconfig())...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("tenancy %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

var shownOnce = regexp.MustCompile(`Password of (\S+) (?:for the web UI and REST API )?\(shown once\): ([A-Za-z0-9]{20})\n`)

// addUser runs `tenancy user add` with the args and returns the password
// it printed once.
func addUser(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out := tenancy(t, dir, append([]string{"user", "add", name}, args...)...)
	m := shownOnce.FindStringSubmatch(out)
	if m == nil || m[1] != name {
		t.Fatalf("user add %s printed no password:\n%s", name, out)
	}
	return m[2]
}

// api is one person's REST client.
type api struct {
	t     *testing.T
	base  string
	token string
}

// on is a for use in (sub)test t.
func (a *api) on(t *testing.T) *api { c := *a; c.t = t; return &c }

func signIn(t *testing.T, base, user, pw string) *api {
	t.Helper()
	a := &api{t: t, base: base}
	var out struct{ Token string }
	a.do("POST", "/api/v1/login", map[string]string{"username": user, "password": pw}).want(200).json(&out)
	a.token = out.Token
	return a
}

type reply struct {
	t      *testing.T
	what   string
	status int
	body   []byte
	header http.Header
}

func (a *api) do(method, path string, body any) *reply {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return &reply{t: a.t, what: method + " " + path, status: resp.StatusCode, body: b, header: resp.Header}
}

// stream opens a GET whose body is read as it comes.
func (a *api) stream(ctx context.Context, path string) *http.Response {
	a.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		a.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return resp
}

func (r *reply) want(status int) *reply {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s: %d, want %d: %s", r.what, r.status, status, r.body)
	}
	return r
}

func (r *reply) json(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("%s: decode %s: %v", r.what, r.body, err)
	}
}

func (r *reply) message() string {
	var e struct{ Code, Message string }
	_ = json.Unmarshal(r.body, &e)
	return e.Code + ": " + e.Message
}

// serve starts `tenancy serve` on loopback as the server's own identity
// and returns its URL.
func serve(t *testing.T, dir string) string {
	t.Helper()
	u, _ := env.Serve(t, dir, server.RoleName, "--address", "127.0.0.1:0")
	return u
}
