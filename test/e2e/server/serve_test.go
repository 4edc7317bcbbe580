//go:build integration

// Package server_test runs `tenancy serve`, `tenancy user add` and
// `tenancy user passwd` as an admin and a user would — the built binary
// against a real control plane — and signs in over HTTP with what they
// printed.
package server_test

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

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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
		Binary:    true,
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			if err := install.CreateIfMissing(ctx, e.Admin, install.DefaultClass()); err != nil {
				return err
			}
			return server.Grant(ctx, e.Admin, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: server.RoleName})
		},
	}, func(e *testenv.Env) { env = e }))
}

// tenancy runs the binary in dir with stdin, as the admin.
func tenancy(t *testing.T, dir, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(env.Tenancy(), append(args, "--kubeconfig", env.Cluster.AdminKubeconfig())...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func post(t *testing.T, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return send(t, req, token)
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	return send(t, req, token)
}

func send(t *testing.T, req *http.Request, token string) (int, []byte) {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func login(t *testing.T, base, user, pw string) (string, int) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	st, raw := post(t, base+"/api/v1/login", "", string(body))
	var out struct{ Token string }
	_ = json.Unmarshal(raw, &out)
	return out.Token, st
}

var shownOnce = regexp.MustCompile(`Password of (\S+) (?:for the web UI and REST API )?\(shown once\): ([A-Za-z0-9]{20})\n`)

func TestServeAndPasswordsAsAPerson(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := tenancy(t, dir, "", "user", "add", "pa-alexander")
	if err != nil {
		t.Fatalf("user add: %v\n%s%s", err, out, errOut)
	}
	m := shownOnce.FindStringSubmatch(out)
	if m == nil || m[1] != "pa-alexander" {
		t.Fatalf("user add shows no generated password:\n%s", out)
	}
	pw := m[2]

	base, _ := env.Serve(t, dir, server.RoleName, "--address", "127.0.0.1:0")
	for _, p := range []string{"/healthz", "/readyz"} {
		if st, body := get(t, base+p, ""); st != 200 {
			t.Fatalf("%s: %d %s", p, st, body)
		}
	}
	if _, body := get(t, base+"/metrics", ""); !strings.Contains(string(body), "tenancy_server_logins_total") {
		t.Fatal("/metrics has no tenancy_server_ metrics")
	}

	tok, st := login(t, base, "pa-alexander", pw)
	if st != 200 {
		t.Fatalf("login with the password user add printed: %d", st)
	}
	if st, body := get(t, base+"/api/v1/workspaces", tok); st != 200 || !strings.Contains(string(body), `"name": "pa-alexander"`) {
		t.Fatalf("alex's workspaces: %d %s", st, body)
	}

	// A password from stdin: the first line, checked for strength.
	if _, errOut, err := tenancy(t, dir, "short\n", "user", "passwd", "pa-alexander", "--password-stdin"); err == nil || !strings.Contains(errOut, "at least 12") {
		t.Fatalf("a weak password: %v %s", err, errOut)
	}
	if _, errOut, err := tenancy(t, dir, "pa-alexander\n", "user", "passwd", "pa-alexander", "--password-stdin"); err == nil || !strings.Contains(errOut, "name") {
		t.Fatalf("the user's name as password: %v %s", err, errOut)
	}
	out, errOut, err = tenancy(t, dir, "a-new-password-42\nignored\n", "user", "passwd", "pa-alexander", "--password-stdin")
	if err != nil || strings.Contains(out, "a-new-password-42") {
		t.Fatalf("user passwd --password-stdin: %v\n%s%s", err, out, errOut)
	}
	// The old session ended with the change.
	if st, _ := get(t, base+"/api/v1/me", tok); st != 401 {
		t.Fatalf("a session of the old password: %d", st)
	}
	if _, st := login(t, base, "pa-alexander", pw); st != 401 {
		t.Fatalf("the old password still works: %d", st)
	}
	if _, st := login(t, base, "pa-alexander", "a-new-password-42"); st != 200 {
		t.Fatalf("the new password: %d", st)
	}

	// A generated one, shown once.
	out, _, err = tenancy(t, dir, "", "user", "passwd", "pa-alexander")
	if m = shownOnce.FindStringSubmatch(out); err != nil || m == nil {
		t.Fatalf("user passwd: %v %s", err, out)
	}
	if _, st := login(t, base, "pa-alexander", m[2]); st != 200 {
		t.Fatalf("the generated password: %d", st)
	}
	if _, errOut, err := tenancy(t, dir, "", "user", "passwd", "pa-nobody"); err == nil || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("passwd for nobody: %v %s", err, errOut)
	}

	// 'user delete' takes the web credentials with the User.
	if out, errOut, err := tenancy(t, dir, "", "user", "delete", "pa-alexander"); err != nil {
		t.Fatalf("user delete: %v\n%s%s", err, out, errOut)
	}
	left := &corev1.SecretList{}
	if err := env.Admin.List(context.Background(), left, client.InNamespace(passwords.Namespace), client.MatchingLabels{tenancyv1.LabelUser: "pa-alexander"}); err != nil {
		t.Fatal(err)
	}
	if len(left.Items) > 0 {
		t.Fatalf("user delete left %d credential Secrets", len(left.Items))
	}
}

func TestServeWarnsOnPlainHTTPForOthers(t *testing.T) {
	_, stderr := env.Serve(t, t.TempDir(), server.RoleName, "--address", "0.0.0.0:0")
	if !strings.Contains(stderr.String(), "WARNING: serving plain HTTP") {
		t.Fatalf("no warning: %s", stderr)
	}
}
