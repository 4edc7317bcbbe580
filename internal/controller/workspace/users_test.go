package workspace

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

// TestUsersLookupError: a User lookup that fails for another reason than
// NotFound fails the reconcile; it never binds the user as declared (a
// disabled user would come back on a transient error).
func TestUsersLookupError(t *testing.T) {
	scheme := testScheme(t)
	disabled := &tenancyv1.User{}
	disabled.Name = "alex"
	disabled.Spec.Disabled = true
	ws := testutil.Workspace("ml").Owner("alex").Contributor(testutil.User("oidc-bob"), tenancyv1.RoleView).Obj()

	ok := fake.NewClientBuilder().WithScheme(scheme).WithObjects(disabled).Build()
	r := New(ok, ok)
	us, err := r.users(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	if got := us.resolve(*ws.Spec.Owner); len(got) != 0 {
		t.Errorf("a disabled user resolved to %v, want nothing", got)
	}
	want := []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "oidc-bob"}}
	if diff := cmp.Diff(want, us.resolve(ws.Spec.Contributors[0].Subject)); diff != "" {
		t.Errorf("a user without a User object (-want +got):\n%s", diff)
	}

	failing := fake.NewClientBuilder().WithScheme(scheme).WithObjects(disabled).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, isUser := obj.(*tenancyv1.User); isUser {
				return apierrors.NewServiceUnavailable("etcd is having a moment")
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	r = New(failing, failing)
	if _, err := r.users(context.Background(), ws); err == nil {
		t.Fatal("users() succeeded although reading the User failed")
	} else if !apierrors.IsServiceUnavailable(err) {
		t.Errorf("error %v does not wrap the API error", err)
	}
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := tenancyv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
