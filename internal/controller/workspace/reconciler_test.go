package workspace

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestDefaultClass(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	tests := map[string]struct {
		classes []tenancyv1.WorkspaceClass
		want    string // "" for none
	}{
		"no classes": {},
		"none marked default": {
			classes: []tenancyv1.WorkspaceClass{
				*testutil.Class("a").Obj(),
				*testutil.Class("b").Annotation(tenancyv1.AnnotationIsDefaultClass, "false").Obj(),
			},
		},
		"one marked default": {
			classes: []tenancyv1.WorkspaceClass{
				*testutil.Class("a").Created(t0).Obj(),
				*testutil.Class("b").Created(t1).Default().Obj(),
			},
			want: "b",
		},
		"several: the oldest wins": {
			classes: []tenancyv1.WorkspaceClass{
				*testutil.Class("a").Created(t1).Default().Obj(),
				*testutil.Class("z").Created(t0).Default().Obj(),
				*testutil.Class("m").Created(t1).Default().Obj(),
			},
			want: "z",
		},
		"several as old: the first by name wins": {
			classes: []tenancyv1.WorkspaceClass{
				*testutil.Class("m").Created(t0).Default().Obj(),
				*testutil.Class("b").Created(t0).Default().Obj(),
				*testutil.Class("a").Created(t1).Default().Obj(),
			},
			want: "b",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ""
			if c := DefaultClass(tc.classes); c != nil {
				got = c.Name
			}
			if got != tc.want {
				t.Errorf("DefaultClass() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDefaultClassKeepsOrder guards the caller's list, which is the
// informer cache's: DefaultClass must sort a copy.
func TestDefaultClassKeepsOrder(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	classes := []tenancyv1.WorkspaceClass{
		*testutil.Class("b").Created(t0.Add(time.Hour)).Default().Obj(),
		*testutil.Class("a").Created(t0).Default().Obj(),
	}
	DefaultClass(classes)
	if classes[0].Name != "b" || classes[1].Name != "a" {
		t.Errorf("DefaultClass() reordered its input: %s, %s", classes[0].Name, classes[1].Name)
	}
}

func TestResolveUser(t *testing.T) {
	tests := map[string]struct {
		user *tenancyv1.User
		want []rbacv1.Subject
	}{
		"active user": {
			user: &tenancyv1.User{},
			want: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alex"}},
		},
		"active user with a token ServiceAccount": {
			user: &tenancyv1.User{Status: tenancyv1.UserStatus{
				ServiceAccount: &tenancyv1.ServiceAccountRef{Namespace: "tenancy-system", Name: "user-alex"},
			}},
			want: []rbacv1.Subject{
				{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alex"},
				{Kind: "ServiceAccount", Namespace: "tenancy-system", Name: "user-alex"},
			},
		},
		"disabled user: nothing, token ServiceAccount included": {
			user: &tenancyv1.User{
				Spec: tenancyv1.UserSpec{Disabled: true},
				Status: tenancyv1.UserStatus{
					ServiceAccount: &tenancyv1.ServiceAccountRef{Namespace: "tenancy-system", Name: "user-alex"},
				},
			},
			want: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ResolveUser(testutil.User("alex"), tc.user)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ResolveUser() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
