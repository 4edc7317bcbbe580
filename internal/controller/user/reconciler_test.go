package user

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

func TestDesiredGrant(t *testing.T) {
	jane := tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "jane"}
	user := func(uid types.UID, mutate ...func(*tenancyv1.User)) *tenancyv1.User {
		u := &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{Name: "jane", UID: uid}}
		for _, m := range mutate {
			m(u)
		}
		return u
	}
	binding := func(owners ...types.UID) *rbacv1.ClusterRoleBinding {
		b := &rbacv1.ClusterRoleBinding{Subjects: []rbacv1.Subject{jane.RBAC()}}
		for _, uid := range owners {
			b.OwnerReferences = append(b.OwnerReferences, metav1.OwnerReference{APIVersion: tenancyv1.GroupVersion.String(), Kind: "User", Name: "jane", UID: uid})
		}
		return b
	}
	sa := tenancyv1.ServiceAccountRef{Namespace: "tenancy-system", Name: "user-jane"}
	owner := &metav1.OwnerReference{APIVersion: tenancyv1.GroupVersion.String(), Kind: "User", Name: "jane", UID: "u1"}
	tests := map[string]struct {
		b    *rbacv1.ClusterRoleBinding
		u    *tenancyv1.User
		want grantState
	}{
		"no User, never owned: left as it is": {binding(), nil, grantState{leave: true}},
		"no User any more: names nobody":      {binding("u1"), nil, grantState{}},
		"an earlier User of that name":        {binding("u0"), user("u1"), grantState{}},
		"a terminating User":                  {binding("u1"), user("u1", func(u *tenancyv1.User) { now := metav1.Now(); u.DeletionTimestamp = &now }), grantState{}},
		"disabled":                            {binding("u1"), user("u1", func(u *tenancyv1.User) { u.Spec.Disabled = true }), grantState{}},
		"enabled, owned":                      {binding("u1"), user("u1"), grantState{subjects: []rbacv1.Subject{jane.RBAC()}}},
		"enabled, not yet owned":              {binding(), user("u1"), grantState{subjects: []rbacv1.Subject{jane.RBAC()}, owner: owner}},
		"enabled with a token ServiceAccount": {binding("u1"), user("u1", func(u *tenancyv1.User) { u.Status.ServiceAccount = &sa }),
			grantState{subjects: []rbacv1.Subject{jane.RBAC(), {Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := desiredGrant(tc.b, jane, tc.u)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(grantState{})); diff != "" {
				t.Errorf("desiredGrant (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGrantUser(t *testing.T) {
	obj := func(labels, annotations map[string]string) metav1.Object {
		return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations}}
	}
	grant := map[string]string{tenancyv1.LabelGrant: "create-workspaces"}
	tests := map[string]struct {
		obj    metav1.Object
		want   string
		wantOK bool
	}{
		"a User's grant":  {obj(grant, map[string]string{tenancyv1.AnnotationGrantSubject: "User/jane"}), "jane", true},
		"a Group's grant": {obj(grant, map[string]string{tenancyv1.AnnotationGrantSubject: "Group/ml"}), "", false},
		"not a grant":     {obj(nil, map[string]string{tenancyv1.AnnotationGrantSubject: "User/jane"}), "", false},
		"no subject":      {obj(grant, nil), "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, ok := grantUser(tc.obj)
			if s.Name != tc.want || ok != tc.wantOK {
				t.Errorf("grantUser = %v, %v; want %q, %v", s, ok, tc.want, tc.wantOK)
			}
		})
	}
}
