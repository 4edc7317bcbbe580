//go:build integration

package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/server"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		SelfServe: true,
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			if err := install.CreateIfMissing(ctx, e.Admin, install.DefaultClass()); err != nil {
				return err
			}
			// The server runs as its own identity with the rights of
			// config/rbac/server_role.yaml and nothing else.
			return server.Grant(ctx, e.Admin, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: server.RoleName})
		},
	}, func(e *testenv.Env) { env = e }))
}

// testServer is a running server and its URL.
type testServer struct {
	*httptest.Server
	deps *server.Deps
}

// clock is a settable clock for the server.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// start runs a server as its own identity, with o.
func start(t *testing.T, o server.Options, mutate ...func(*server.Deps)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg, err := env.Cluster.UserConfig(server.RoleName)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	o.PublicURL = "http://" + ts.Listener.Addr().String()
	d, err := server.Setup(ctx, cfg, o, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mutate {
		m(d)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := d.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = server.NewServer(d)
	ts.Start()
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, deps: d}
}

var (
	shared     *testServer
	sharedOnce sync.Once
)

// srv is the package's default server.
func srv(t *testing.T) *testServer {
	sharedOnce.Do(func() {
		// Outlives the test that starts it: cleaned up with the process.
		ctx := context.Background()
		cfg, err := env.Cluster.UserConfig(server.RoleName)
		if err != nil {
			t.Fatal(err)
		}
		d, err := server.Setup(ctx, cfg, server.Options{LoginFailuresPerUser: 1000, LoginFailuresPerAddress: 100000}, logr.Discard())
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := d.WaitReady(wctx); err != nil {
			t.Fatal(err)
		}
		shared = &testServer{Server: httptest.NewServer(server.NewServer(d)), deps: d}
	})
	if shared == nil {
		t.Fatal("the shared server did not start")
	}
	return shared
}

// addUser makes a User with a password, as an admin does with `tenancy
// user add`, and returns the password.
func addUser(t *testing.T, name string, groups ...string) string {
	t.Helper()
	ctx := context.Background()
	u := &tenancyv1.User{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}},
		Spec:       tenancyv1.UserSpec{Groups: groups, PasswordSecret: passwords.SecretName(name)},
	}
	if err := env.Admin.Create(ctx, u); err != nil {
		t.Fatalf("create User %s: %v", name, err)
	}
	pw := passwords.Generate()
	if err := passwords.Set(ctx, env.Admin, name, pw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Admin.Delete(context.Background(), u)
		_ = passwords.DeleteAll(context.Background(), env.Admin, name)
	})
	return pw
}

// bind gives user a ClusterRole (install.CreatorRole, install.AdminRole).
func bind(t *testing.T, user, role string) {
	t.Helper()
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test:" + user + ":" + strings.ReplaceAll(role, ":", "-")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if err := env.Admin.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Admin.Delete(context.Background(), b) })
}

// workspace makes a workspace as an admin, and waits until it is Ready.
func workspace(t *testing.T, name, owner string, contributors ...tenancyv1.Contributor) {
	t.Helper()
	ws := &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: owner}, Contributors: contributors},
	}
	if err := env.Admin.Create(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Admin.Delete(context.Background(), ws) })
	waitReady(t, name)
}

func waitReady(t *testing.T, name string) {
	t.Helper()
	eventually(t, time.Minute, "workspace "+name+" Ready", func() (bool, string) {
		ws := &tenancyv1.Workspace{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, ws); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(ws.Status.Conditions, tenancyv1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && ws.Status.Quota != nil, fmt.Sprintf("%+v", c)
	})
}

// eventually polls f until it says true, or fails after timeout with f's
// last word.
func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, why := f()
		last = why
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not after %s (last: %s)", what, timeout, last)
	}
}

// response is an HTTP answer, read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r *response) errBody(t *testing.T) (code, message string) {
	t.Helper()
	var e struct{ Code, Message string }
	r.json(t, &e)
	return e.Code, e.Message
}

// call sends a request with token (none when empty) and a JSON body (none
// when nil; a string or []byte is sent as is).
func (s *testServer) call(t *testing.T, method, path, token string, body any) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

// want fails unless r has status.
func (r *response) want(t *testing.T, status int) *response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Body)
	}
	return r
}

// login signs in and returns the session token.
func (s *testServer) login(t *testing.T, user, pw string) string {
	t.Helper()
	var out struct {
		Token     string
		ExpiresAt time.Time
	}
	s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": user, "password": pw}).want(t, 200).json(t, &out)
	if out.Token == "" || time.Until(out.ExpiresAt) < 10*time.Minute {
		t.Fatalf("login gave token %q expiring %s", out.Token, out.ExpiresAt)
	}
	return out.Token
}

func objectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func do(t *testing.T, req *http.Request) *response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// passwordsSecret reads a credential Secret as an admin.
type passwordsSecret struct{ dump string }

func (p *passwordsSecret) get(t *testing.T, name string) {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: passwords.Namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(s)
	p.dump = string(raw)
	for _, v := range s.Data {
		p.dump += string(v)
	}
}

// grantCreate lets user create workspaces of the default class, as
// `tenancy grant create-workspaces --user USER` does.
func grantCreate(t *testing.T, user string) {
	t.Helper()
	bind(t, user, install.CreatorRole)
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test:use-" + install.DefaultClassName},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{tenancyv1.GroupVersion.Group}, Resources: []string{"workspaceclasses"},
			ResourceNames: []string{install.DefaultClassName}, Verbs: []string{install.VerbUse}}},
	}
	if err := env.Admin.Create(context.Background(), role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	bind(t, user, role.Name)
}

func jwtPart(t *testing.T, s string) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}
