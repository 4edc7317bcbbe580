package grant

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/clitest"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestGrantValidate(t *testing.T) {
	tests := map[string]struct {
		o       Options
		wantErr string
	}{
		"user":          {o: Options{User: "jane", Classes: []string{"gpu"}}},
		"group, all":    {o: Options{Group: "ml", AllClasses: true}},
		"nobody":        {o: Options{}, wantErr: "name who: --user USER or --group GROUP"},
		"both":          {o: Options{User: "jane", Group: "ml"}, wantErr: "--user and --group are exclusive"},
		"class and all": {o: Options{User: "jane", Classes: []string{"gpu"}, AllClasses: true}, wantErr: "--class and --all-classes are exclusive"},
		"system user":   {o: Options{User: "system:admin"}, wantErr: `--user "system:admin": a name may not contain`},
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
	creator, classes := Names(testutil.User("jane@example.com"))
	if creator != "tenancy:create-workspaces:user:jane@example.com" || classes != creator+":classes" {
		t.Errorf("got %q, %q", creator, classes)
	}
}

func grantFixtures() []client.Object {
	var objs []client.Object
	for _, g := range []struct {
		s       tenancyv1.Subject
		classes []string
		bound   bool
	}{
		{testutil.User("jane"), []string{"standard", "gpu"}, true},
		{testutil.Group("ml-team"), nil, true},
		{testutil.User("gina"), []string{"standard"}, false},
	} {
		creator, classRole := Names(g.s)
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: creator, Labels: grantLabels(),
			Annotations: map[string]string{tenancyv1.AnnotationGrantSubject: g.s.String()}},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: install.CreatorRole}}
		if g.bound {
			b.Subjects = []rbacv1.Subject{g.s.RBAC()}
		}
		rule := rbacv1.PolicyRule{APIGroups: []string{tenancyv1.GroupVersion.Group}, Resources: []string{"workspaceclasses"}, Verbs: []string{install.VerbUse}, ResourceNames: g.classes}
		objs = append(objs, b, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: classRole, Labels: grantLabels()}, Rules: []rbacv1.PolicyRule{rule}})
	}
	return objs
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list"}, `SUBJECT         CLASSES
Group/ml-team   * (all)
User/gina       standard (suspended: the User is disabled)
User/jane       gpu,standard
`},
		{[]string{"list", "-o", "name"}, `clusterrolebinding.rbac.authorization.k8s.io/tenancy:create-workspaces:group:ml-team
clusterrolebinding.rbac.authorization.k8s.io/tenancy:create-workspaces:user:gina
clusterrolebinding.rbac.authorization.k8s.io/tenancy:create-workspaces:user:jane
`},
	} {
		e := clitest.New("admin", nil, grantFixtures()...)
		cmd := NewCommand(e.Factory)
		cmd.SetArgs(tc.args)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if diff := cmp.Diff(tc.want, e.Out.String()); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.args, diff)
		}
	}
}
