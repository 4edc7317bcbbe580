package workspace

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/clitest"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestWorkspaceCreateValidate(t *testing.T) {
	tests := map[string]struct {
		o       CreateOptions
		output  string
		wantErr string
	}{
		"ok":                  {o: CreateOptions{Name: "ml", Contributors: []string{"bob=view"}}},
		"no name":             {o: CreateOptions{}, wantErr: "a workspace name is required: tenancy workspace create NAME"},
		"bad name":            {o: CreateOptions{Name: "ML"}, wantErr: `workspace name "ML" is not valid`},
		"contributor twice":   {o: CreateOptions{Name: "ml", Contributors: []string{"bob=view", "user:bob=edit"}}, wantErr: "User bob is listed twice"},
		"owner a contributor": {o: CreateOptions{Name: "ml", Owner: "group:ml", Contributors: []string{"group:ml=view"}}, wantErr: "Group ml is the owner"},
		"bad owner":           {o: CreateOptions{Name: "ml", Owner: "robot:x"}, wantErr: `--owner "robot:x": kind "robot"`},
		"bad output":          {o: CreateOptions{Name: "ml"}, output: "wide", wantErr: `-o "wide" is not an output format`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := tc.o
			o.print = cmdutil.NewPrintFlags("created", false)
			o.print.SetFormat(tc.output)
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
	share := func(s tenancyv1.Subject, role tenancyv1.ContributorRole) *ShareOptions {
		return &ShareOptions{subject: s, role: role}
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

	un := &ShareOptions{unshare: true, subject: testutil.User("bob")}
	changed, msg, err = un.remove(w)
	if err != nil || !changed || msg != "workspace ml is no longer shared with User bob" || len(w.Spec.Contributors) != 1 {
		t.Errorf("removing: %v %q %v %v", changed, msg, err, w.Spec.Contributors)
	}
	if _, _, err := un.remove(w); err == nil || err.Error() != "workspace ml is not shared with User bob; it is shared with ServiceAccount ml/ci (edit)" {
		t.Errorf("removing again: %v", err)
	}
}

func ready(ws *tenancyv1.Workspace) *tenancyv1.Workspace {
	ws.Generation = 1
	ws.Status.Conditions = []metav1.Condition{{Type: tenancyv1.ConditionReady, Status: metav1.ConditionTrue, Reason: tenancyv1.ReasonReconciled, ObservedGeneration: 1}}
	return ws
}

// run runs `tenancy workspace ARGS…` against the fake cluster.
func run(e *clitest.Env, args ...string) error {
	cmd := NewCommand(e.Factory)
	cmd.SetArgs(args)
	cmd.SetOut(e.Out)
	cmd.SetErr(e.Err)
	return cmd.ExecuteContext(context.Background())
}

func fixtures() []client.Object {
	ml := testutil.Workspace("ml").Owner("jane").Class("standard").Contributor(testutil.User("bob"), tenancyv1.RoleView).Obj()
	ml.CreationTimestamp = metav1.NewTime(clitest.Now.Add(-90 * time.Minute))
	ml.Status.GPUs, ml.Status.Class = "1/4", "standard"
	ready(ml)
	other := testutil.Workspace("zeta").Owner("tom").Obj()
	other.CreationTimestamp = metav1.NewTime(clitest.Now.Add(-3 * time.Hour))
	std := &tenancyv1.WorkspaceClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{tenancyv1.AnnotationIsDefaultClass: "true"}}}
	gpu := &tenancyv1.WorkspaceClass{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}}
	return []client.Object{ml, other, std, gpu}
}

// workspace list prints the CRD's printer columns, as kubectl get does.
func TestList(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list"}, `NAME   OWNER   READY   GPUS   AGE
ml     jane    True    1/4    90m
zeta   tom                    3h
`},
		{[]string{"list", "-o", "wide"}, `NAME   OWNER   READY   GPUS   CLASS      REASON       AGE   CONTRIBUTORS
ml     jane    True    1/4    standard   Reconciled   90m   bob=view
zeta   tom                                            3h    
`},
		{[]string{"list", "--mine", "-o", "name"}, "workspace.tenancy.dev/ml\n"},
		{[]string{"ls", "-o", "jsonpath={.items[*].spec.owner.name}"}, "jane tom"},
	} {
		e := clitest.New("bob", nil, fixtures()...)
		if err := run(e, tc.args...); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if diff := cmp.Diff(tc.want, e.Out.String()); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.args, diff)
		}
	}
}

func TestGet(t *testing.T) {
	e := clitest.New("jane", nil, fixtures()...)
	if err := run(e, "get", "ml"); err != nil {
		t.Fatal(err)
	}
	want := `Name:        ml
Owner:       User jane
Class:       standard
Namespace:   <none>
Node pool:   <any node>
Ready:       True (Reconciled)
Age:         90m
Contributors:
  User bob   view
Quota:       <none>
Conditions:
  TYPE       STATUS   REASON       MESSAGE
  Ready      True     Reconciled   
`
	if diff := cmp.Diff(want, e.Out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	e = clitest.New("jane", nil, fixtures()...)
	if err := run(e, "get", "nope"); err == nil || !apierrors.IsNotFound(err) {
		t.Errorf("get of a workspace that does not exist: %v, want NotFound", err)
	}
}

func TestCreate(t *testing.T) {
	e := clitest.New("jane", nil, fixtures()...)
	if err := run(e, "create", "jane-ml", "--contributor", "group:ml-team=edit"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("workspace.tenancy.dev/jane-ml created\n", e.Out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	ws := &tenancyv1.Workspace{}
	if err := e.Client.Get(context.Background(), client.ObjectKey{Name: "jane-ml"}, ws); err != nil {
		t.Fatal(err)
	}
	want := tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "jane"}, Class: "standard",
		Contributors: []tenancyv1.Contributor{{Subject: testutil.Group("ml-team"), Role: tenancyv1.RoleEdit}}}
	if diff := cmp.Diff(want, ws.Spec); diff != "" {
		t.Errorf("spec: the caller owns it, of the default class (-want +got):\n%s", diff)
	}

	e = clitest.New("jane", nil, fixtures()...)
	err := run(e, "create", "x", "--class", "huge")
	if err == nil || err.Error() != `WorkspaceClass "huge" does not exist; classes: gpu, standard (default)` {
		t.Errorf("an unknown class: %v", err)
	}
}

func TestDeleteWaits(t *testing.T) {
	e := clitest.New("jane", nil, fixtures()...)
	if err := run(e, "delete", "zeta", "--wait", "--timeout", "5s"); err != nil {
		t.Fatal(err)
	}
	want := "workspace.tenancy.dev \"zeta\" deleted\nworkspace zeta and its namespace are gone\n"
	if diff := cmp.Diff(want, e.Out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestShare(t *testing.T) {
	e := clitest.New("jane", nil, fixtures()...)
	if err := run(e, "share", "ml", "--user", "bob", "--role", "edit"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("workspace ml is shared with User bob (edit, was view)\n", e.Out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	err := run(e, "unshare", "ml", "--group", "nobody")
	if err == nil || err.Error() != "workspace ml is not shared with Group nobody; it is shared with User bob (edit)" {
		t.Errorf("unshare: %v", err)
	}
}

// The commands reject bad flags before they send a request.
func TestFailBeforeAnyRequest(t *testing.T) {
	for _, args := range [][]string{
		{"create"},
		{"create", "ML"},
		{"share", "ml", "--role", "view"},
		{"share", "ml", "--user", "bob", "--role", "owner"},
		{"list", "-o", "table"},
		{"delete", "ml", "--timeout", "0s"},
	} {
		e := clitest.New("jane", nil, fixtures()...)
		if err := run(e, args...); err == nil || e.Calls > 0 {
			t.Errorf("%v: error %v after %d requests, want a flag error before any", args, err, e.Calls)
		}
	}
}
