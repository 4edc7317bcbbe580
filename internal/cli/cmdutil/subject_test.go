package cmdutil

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
			got, err := ParseContributor(tc.in)
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
