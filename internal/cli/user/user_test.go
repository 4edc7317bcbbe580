package user

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/clitest"
	"github.com/tenancy-dev/tenancy/internal/scheme"
	"github.com/tenancy-dev/tenancy/internal/userconfig"
)

func TestUserNameValidation(t *testing.T) {
	tests := map[string]string{
		"alex":                   "",
		"alex.smith":             "",
		"a-1":                    "",
		"":                       "a user name is required",
		"Alex":                   `user name "Alex" is not valid`,
		"system:admin":           `names starting with "system:" are Kubernetes' own`,
		"alex/x":                 "is not valid",
		strings.Repeat("a", 64):  "is not valid",
		strings.Repeat("a", 63):  "",
		"-alex":                  "is not valid",
		"alex smith":             "is not valid",
		"ünicode":                "is not valid",
		"alex..smith":            "is not valid",
		"1234":                   "",
		"tenancy-system-account": "",
	}
	for name, want := range tests {
		err := validateUserName(name)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("validateUserName(%q) = %v, want %q", name, err, want)
		}
	}
}

func TestUserWorkspaceNameValidation(t *testing.T) {
	tests := map[string]string{
		"workplace1":     "",
		"kube-system":    "reserved",
		"kube-anything":  "reserved",
		"tenancy-system": "reserved",
		"default":        "reserved",
		"openshift-x":    "reserved",
		"a.b":            "is not a valid namespace name",
		"Work":           "is not a valid namespace name",
	}
	for name, want := range tests {
		err := validateUserWorkspaceName(name)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("validateUserWorkspaceName(%q) = %v, want %q", name, err, want)
		}
	}
}

func TestDesiredUserWorkspace(t *testing.T) {
	cfg := &userconfig.Config{
		Quota:        corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("5")},
		Roles:        []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list"}}},
		Contributors: []tenancyv1.Contributor{{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "alex"}, Role: tenancyv1.RoleView}},
	}
	got := desiredUserWorkspace("workplace3", "tom", "gpu", cfg)
	want := tenancyv1.WorkspaceSpec{
		Owner:         &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "tom"},
		Class:         "gpu",
		ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("5")}},
		Rules:         cfg.Roles,
		Contributors:  cfg.Contributors,
	}
	if diff := cmp.Diff(want, got.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if got.Labels[tenancyv1.LabelUser] != "tom" || got.Labels[tenancyv1.LabelManagedBy] != "tenancy" {
		t.Errorf("labels %v", got.Labels)
	}

	// --force keeps what user add does not own.
	existing := tenancyv1.WorkspaceSpec{NetworkIsolation: ptrTo(false), Rules: cfg.Roles, ResourceQuota: want.ResourceQuota}
	setUserWorkspaceSpec(&existing, "tom", "", &userconfig.Config{})
	if existing.NetworkIsolation == nil || existing.Rules != nil || existing.ResourceQuota != nil || existing.Owner.Name != "tom" {
		t.Errorf("after --force: %+v", existing)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestUserWriteManifests(t *testing.T) {
	u := desiredUser("bob", []string{"ml"})
	u.UID, u.ResourceVersion, u.Generation = "x", "12", 3
	u.CreationTimestamp = metav1.Now()
	u.Status.Credentials = []tenancyv1.IssuedCredential{{Kind: tenancyv1.CredentialCert, ID: "AB"}}
	u.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
	ws := desiredUserWorkspace("workplace2", "bob", "", &userconfig.Config{})
	var buf bytes.Buffer
	if err := userWriteManifests(&buf, scheme.New(), u, ws); err != nil {
		t.Fatal(err)
	}
	want := `---
apiVersion: tenancy.dev/v1alpha1
kind: User
metadata:
  labels:
    app.kubernetes.io/managed-by: tenancy
    tenancy.dev/user: bob
  name: bob
spec:
  groups:
  - ml
  passwordSecret: password-bob
---
apiVersion: tenancy.dev/v1alpha1
kind: Workspace
metadata:
  labels:
    app.kubernetes.io/managed-by: tenancy
    tenancy.dev/user: bob
  name: workplace2
spec:
  owner:
    kind: User
    name: bob
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("manifests (-want +got):\n%s", diff)
	}
	// Each document decodes strictly into its type.
	docs := strings.Split(buf.String(), "---\n")
	if err := yaml.UnmarshalStrict([]byte(docs[2]), &tenancyv1.Workspace{}); err != nil {
		t.Error(err)
	}
}

func TestUserTable(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	users := []tenancyv1.User{
		{ObjectMeta: metav1.ObjectMeta{Name: "alex", CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Hour))},
			Status: tenancyv1.UserStatus{Credentials: []tenancyv1.IssuedCredential{
				{Kind: tenancyv1.CredentialToken, ExpiresAt: metav1.NewTime(now.Add(-time.Hour))},
				{Kind: tenancyv1.CredentialCert, ExpiresAt: metav1.NewTime(now.Add(720 * time.Hour))},
			}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "tom", CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
			Spec: tenancyv1.UserSpec{Groups: []string{"gpu"}, Disabled: true},
			Status: tenancyv1.UserStatus{
				ServiceAccount: &tenancyv1.ServiceAccountRef{Namespace: "tenancy-system", Name: "user-tom"},
				Credentials:    []tenancyv1.IssuedCredential{{Kind: tenancyv1.CredentialToken, ExpiresAt: metav1.NewTime(now.Add(-3 * time.Minute))}},
			}},
	}
	owner := func(n string) *tenancyv1.Subject { return &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: n} }
	workspaces := []tenancyv1.Workspace{
		{ObjectMeta: metav1.ObjectMeta{Name: "workplace1"}, Spec: tenancyv1.WorkspaceSpec{Owner: owner("alex")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ml"}, Spec: tenancyv1.WorkspaceSpec{Owner: owner("alex"),
			Contributors: []tenancyv1.Contributor{{Subject: *owner("tom"), Role: tenancyv1.RoleEdit}}}},
	}
	for wide, want := range map[bool]string{
		false: `NAME   GROUPS   WORKSPACES      CREDENTIAL   EXPIRES
alex   <none>   ml,workplace1   cert         in 30d
tom    gpu      <none>          token        expired 3m ago
`,
		true: `NAME   GROUPS   WORKSPACES      CREDENTIAL   EXPIRES          DISABLED   CONTRIBUTOR   SERVICEACCOUNT            AGE
alex   <none>   ml,workplace1   cert         in 30d           false      <none>        <none>                    120m
tom    gpu      <none>          token        expired 3m ago   true       ml(edit)      tenancy-system/user-tom   60s
`,
	} {
		var buf bytes.Buffer
		if err := printers.NewTablePrinter(printers.PrintOptions{Wide: wide}).PrintObj(userTable(users, workspaces, now), &buf); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, buf.String()); diff != "" {
			t.Errorf("wide=%v (-want +got):\n%s", wide, diff)
		}
	}
}

func TestReadPasswordLine(t *testing.T) {
	for in, want := range map[string]string{
		"secret-password-1\n":         "secret-password-1",
		"secret-password-1\r\nsecond": "secret-password-1",
		"no newline at all":           "no newline at all",
	} {
		got, err := readPasswordLine(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := readPasswordLine(strings.NewReader("\nx")); err == nil {
		t.Error("an empty first line is accepted")
	}
}

// run runs `tenancy user ARGS…` against the fake cluster.
func run(e *clitest.Env, args ...string) error {
	cmd := NewCommand(e.Factory)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(context.Background())
}

func TestListCommand(t *testing.T) {
	alex := desiredUser("alex", []string{"ml"})
	alex.CreationTimestamp = metav1.NewTime(clitest.Now.Add(-time.Hour))
	ws := desiredUserWorkspace("workplace1", "alex", "", &userconfig.Config{})
	e := clitest.New("admin", nil, alex, ws)
	if err := run(e, "list"); err != nil {
		t.Fatal(err)
	}
	want := "NAME   GROUPS   WORKSPACES   CREDENTIAL   EXPIRES\nalex   ml       workplace1   <none>       <none>\n"
	if diff := cmp.Diff(want, e.Out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	e.Out.Reset()
	if err := run(e, "list", "-o", "name"); err != nil || e.Out.String() != "user.tenancy.dev/alex\n" {
		t.Errorf("-o name: %q %v", e.Out.String(), err)
	}
}

// -o is the print format: someone who types -o FILE is told the flag.
func TestOutputFileHint(t *testing.T) {
	for _, args := range [][]string{
		{"kubeconfig", "alex", "--output", "alex.kubeconfig"},
		{"add", "alex", "-o", "alex.kubeconfig"},
	} {
		e := clitest.New("admin", nil)
		err := run(e, args...)
		want := "-o/--output is the print format (json, yaml"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), "to write the file alex.kubeconfig, use --kubeconfig-out alex.kubeconfig") {
			t.Errorf("%v: %v", args, err)
		}
		if e.Calls > 0 {
			t.Errorf("%v: %d requests before refusing", args, e.Calls)
		}
	}
}
