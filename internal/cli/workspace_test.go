package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestParseContributor(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    tenancyv1.Contributor
		wantErr string
	}{
		"user by default": {in: "bob=view", want: tenancyv1.Contributor{Subject: testutil.User("bob"), Role: tenancyv1.RoleView}},
		"user":            {in: "User:bob=Edit", want: tenancyv1.Contributor{Subject: testutil.User("bob"), Role: tenancyv1.RoleEdit}},
		"group":           {in: "group:ml-team=admin", want: tenancyv1.Contributor{Subject: testutil.Group("ml-team"), Role: tenancyv1.RoleAdmin}},
		"service account": {in: "sa:ml/pipeline=edit", want: tenancyv1.Contributor{Subject: testutil.ServiceAccount("ml", "pipeline"), Role: tenancyv1.RoleEdit}},
		"no role":         {in: "user:bob", wantErr: `--contributor "user:bob": want kind:name=role, e.g. user:bob=edit`},
		"empty role":      {in: "user:bob=", wantErr: `--contributor "user:bob=": a role is required: admin, edit or view`},
		"bad role":        {in: "user:bob=owner", wantErr: `--contributor "user:bob=owner": role "owner" is not one of admin, edit, view`},
		"bad kind":        {in: "team:ml=view", wantErr: `--contributor "team:ml": kind "team" is not one of user, group, serviceaccount`},
		"sa without ns":   {in: "serviceaccount:pipeline=view", wantErr: "a ServiceAccount is namespace/name"},
		"reserved chars":  {in: "user:a/b=view", wantErr: `a name may not contain '/', '%' or ':'`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseContributor(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWorkspaceCreateValidate(t *testing.T) {
	tests := map[string]struct {
		o       WorkspaceCreateOptions
		output  string
		wantErr string
	}{
		"ok":                  {o: WorkspaceCreateOptions{Name: "ml", Contributors: []string{"bob=view"}}},
		"no name":             {o: WorkspaceCreateOptions{}, wantErr: "a workspace name is required: tenancy workspace create NAME"},
		"bad name":            {o: WorkspaceCreateOptions{Name: "ML"}, wantErr: `workspace name "ML" is not valid`},
		"contributor twice":   {o: WorkspaceCreateOptions{Name: "ml", Contributors: []string{"bob=view", "user:bob=edit"}}, wantErr: "User bob is listed twice"},
		"owner a contributor": {o: WorkspaceCreateOptions{Name: "ml", Owner: "group:ml", Contributors: []string{"group:ml=view"}}, wantErr: "Group ml is the owner"},
		"bad owner":           {o: WorkspaceCreateOptions{Name: "ml", Owner: "robot:x"}, wantErr: `--owner "robot:x": kind "robot"`},
		"bad output":          {o: WorkspaceCreateOptions{Name: "ml"}, output: "wide", wantErr: "unable to match a printer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := tc.o
			o.print = genericclioptions.NewPrintFlags("created")
			*o.print.OutputFormat = tc.output
			o.Timeout = time.Minute
			err := o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestShareAndUnshare(t *testing.T) {
	ws := testutil.Workspace("ml").Owner("jane").Contributor(testutil.User("bob"), tenancyv1.RoleView).Obj()
	share := func(s tenancyv1.Subject, role tenancyv1.ContributorRole) *WorkspaceShareOptions {
		return &WorkspaceShareOptions{subject: s, role: role}
	}

	if _, _, err := share(testutil.User("jane"), tenancyv1.RoleEdit).add(ws.DeepCopy()); err == nil || !strings.Contains(err.Error(), "User jane owns workspace ml") {
		t.Errorf("sharing with the owner: %v", err)
	}
	w := ws.DeepCopy()
	changed, msg, err := share(testutil.User("bob"), tenancyv1.RoleView).add(w)
	if err != nil || changed || msg != "workspace ml is already shared with User bob (view)" {
		t.Errorf("sharing again: %v %q %v", changed, msg, err)
	}
	changed, msg, err = share(testutil.User("bob"), tenancyv1.RoleEdit).add(w)
	if err != nil || !changed || msg != "workspace ml is shared with User bob (edit, was view)" || w.Spec.Contributors[0].Role != tenancyv1.RoleEdit {
		t.Errorf("changing the role: %v %q %v %v", changed, msg, err, w.Spec.Contributors)
	}
	changed, _, err = share(testutil.ServiceAccount("ml", "ci"), tenancyv1.RoleEdit).add(w)
	if err != nil || !changed || len(w.Spec.Contributors) != 2 {
		t.Errorf("adding: %v %v %v", changed, err, w.Spec.Contributors)
	}

	un := &WorkspaceShareOptions{unshare: true, subject: testutil.User("bob")}
	changed, msg, err = un.remove(w)
	if err != nil || !changed || msg != "workspace ml is no longer shared with User bob" || len(w.Spec.Contributors) != 1 {
		t.Errorf("removing: %v %q %v %v", changed, msg, err, w.Spec.Contributors)
	}
	if _, _, err := un.remove(w); err == nil || err.Error() != "workspace ml is not shared with User bob; it is shared with ServiceAccount ml/ci (edit)" {
		t.Errorf("removing again: %v", err)
	}
}

func TestGrantValidate(t *testing.T) {
	tests := map[string]struct {
		o       GrantOptions
		wantErr string
	}{
		"user":          {o: GrantOptions{User: "jane", Classes: []string{"gpu"}}},
		"group, all":    {o: GrantOptions{Group: "ml", AllClasses: true}},
		"nobody":        {o: GrantOptions{}, wantErr: "name who: --user USER or --group GROUP"},
		"both":          {o: GrantOptions{User: "jane", Group: "ml"}, wantErr: "--user and --group are exclusive"},
		"class and all": {o: GrantOptions{User: "jane", Classes: []string{"gpu"}, AllClasses: true}, wantErr: "--class and --all-classes are exclusive"},
		"system user":   {o: GrantOptions{User: "system:admin"}, wantErr: `--user "system:admin": a name may not contain`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestGrantNames(t *testing.T) {
	creator, classes := grantNames(testutil.User("jane@example.com"))
	if creator != "tenancy:create-workspaces:user:jane@example.com" || classes != creator+":classes" {
		t.Errorf("got %q, %q", creator, classes)
	}
}

func TestInvolves(t *testing.T) {
	ws := testutil.Workspace("ml").Owner("jane").Contributor(testutil.Group("ml-team"), tenancyv1.RoleEdit).
		Contributor(testutil.ServiceAccount("ci", "bot"), tenancyv1.RoleView).Obj()
	for _, tc := range []struct {
		u    authenticationv1.UserInfo
		want bool
	}{
		{authenticationv1.UserInfo{Username: "jane"}, true},
		{authenticationv1.UserInfo{Username: "maya", Groups: []string{"ml-team"}}, true},
		{authenticationv1.UserInfo{Username: "system:serviceaccount:ci:bot"}, true},
		{authenticationv1.UserInfo{Username: "bob", Groups: []string{"other"}}, false},
	} {
		if got := involves(ws, tc.u); got != tc.want {
			t.Errorf("involves(%v) = %v, want %v", tc.u, got, tc.want)
		}
	}
}

func TestWorkspaceTableAndDescribe(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ws := testutil.Workspace("ml").Owner("jane").Class("standard").Contributor(testutil.User("bob"), tenancyv1.RoleView).
		Condition(metav1.Condition{Type: tenancyv1.ConditionReady, Status: metav1.ConditionTrue, Reason: tenancyv1.ReasonReconciled}).Obj()
	ws.CreationTimestamp = metav1.NewTime(now.Add(-90 * time.Minute))
	ws.Status.GPUs = "1/4"

	var out bytes.Buffer
	if err := printWorkspaceTable(&out, []tenancyv1.Workspace{*ws}, true, now); err != nil {
		t.Fatal(err)
	}
	want := "NAME   OWNER   CLASS      READY   GPUS   AGE   CONTRIBUTORS   REASON\n" +
		"ml     jane    standard   True    1/4    90m   bob=view       Reconciled\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}

	out.Reset()
	if err := describeWorkspace(&out, ws, now); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Name:", "ml", "Owner:", "User jane", "Ready:", "True (Reconciled)", "User bob", "view", "Quota:", "<none>"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("describe: want %q in\n%s", s, out.String())
		}
	}
}

// The commands reject bad flags before connecting anywhere.
func TestCommandsFailBeforeConnecting(t *testing.T) {
	for _, args := range [][]string{
		{"workspace", "create", "--kubeconfig", "/nonexistent"},
		{"workspace", "share", "ml", "--role", "view", "--kubeconfig", "/nonexistent"},
		{"grant", "create-workspaces", "--kubeconfig", "/nonexistent"},
	} {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), args, nil, &out, &errOut)
		if err == nil || strings.Contains(err.Error(), "nonexistent") {
			t.Errorf("%v: want a flag error, got %v", args, err)
		}
	}
}
