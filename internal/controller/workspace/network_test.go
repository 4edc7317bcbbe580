package workspace

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestDesiredNetworkPolicy(t *testing.T) {
	sameNamespaceOnly := &networkingv1.NetworkPolicy{
		ObjectMeta: wantMeta("ml", "ml", "tenancy-isolation"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{}, // every pod of the namespace
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				// A pod selector with no namespace selector: this namespace only;
				// and namespaces the admin opened to every workspace.
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{}},
					{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tenancy.dev/allow-to-workspaces": "true"}}},
				},
			}},
		},
	}
	tests := map[string]struct {
		ws    *tenancyv1.Workspace
		class *tenancyv1.WorkspaceClass
		want  *networkingv1.NetworkPolicy
	}{
		"isolation by default: ingress from the same namespace only": {
			ws:   testutil.Workspace("ml").Obj(),
			want: sameNamespaceOnly,
		},
		"isolation off in the class: none": {
			ws:    testutil.Workspace("ml").Obj(),
			class: testutil.Class("c").NetworkIsolation(false).Obj(),
			want:  nil,
		},
		"isolation off in the workspace: none": {
			ws:   testutil.Workspace("ml").NetworkIsolation(false).Obj(),
			want: nil,
		},
		"workspace turns isolation back on": {
			ws:    testutil.Workspace("ml").NetworkIsolation(true).Obj(),
			class: testutil.Class("c").NetworkIsolation(false).Obj(),
			want:  sameNamespaceOnly,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ac := desiredNetworkPolicy(effectiveSpec(tc.ws, tc.class), metaOf(tc.ws))
			got := decode[networkingv1.NetworkPolicy](t, ac)
			if diff := cmp.Diff(tc.want, got, ignoreTypeMeta); diff != "" {
				t.Errorf("desiredNetworkPolicy() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredAuthorizationPolicy(t *testing.T) {
	sameNamespace := map[string]any{"from": []any{map[string]any{"source": map[string]any{"namespaces": []any{"ml"}}}}}
	usersRule := func(users ...any) map[string]any {
		return map[string]any{
			"from": []any{map[string]any{"source": map[string]any{"principals": []any{DefaultGatewayPrincipal}}}},
			"when": []any{map[string]any{
				"key":    "request.headers[kubeflow-userid]",
				"values": users,
			}},
		}
	}
	disabled := func(name string) SubjectResolver {
		return func(s tenancyv1.Subject) []rbacv1.Subject {
			if s.Kind == tenancyv1.UserKind && s.Name == name {
				return nil
			}
			return []rbacv1.Subject{s.RBAC()}
		}
	}
	tests := map[string]struct {
		ws         *tenancyv1.Workspace
		resolve    SubjectResolver // bindAsDeclared when nil
		principals []string        // DefaultGatewayPrincipal when nil
		wantSpec   map[string]any
	}{
		"the header is trusted only from the gateways named": {
			ws:         testutil.Workspace("ml").Owner("alex").Obj(),
			principals: []string{"cluster.local/ns/gw/sa/a", "cluster.local/ns/gw/sa/b"},
			wantSpec: map[string]any{"action": "ALLOW", "rules": []any{sameNamespace, map[string]any{
				"from": []any{map[string]any{"source": map[string]any{"principals": []any{"cluster.local/ns/gw/sa/a", "cluster.local/ns/gw/sa/b"}}}},
				"when": []any{map[string]any{"key": "request.headers[kubeflow-userid]", "values": []any{"alex"}}},
			}}},
		},
		"no gateway trusted: no header rule at all": {
			ws:         testutil.Workspace("ml").Owner("alex").Obj(),
			principals: []string{},
			wantSpec:   map[string]any{"action": "ALLOW", "rules": []any{sameNamespace}},
		},
		"a disabled user is left out": {
			ws: testutil.Workspace("ml").Owner("alex").
				Contributor(testutil.User("bob"), tenancyv1.RoleEdit).Obj(),
			resolve:  disabled("bob"),
			wantSpec: map[string]any{"action": "ALLOW", "rules": []any{sameNamespace, usersRule("alex")}},
		},
		"a name with '*' is left out (Istio would read it as a wildcard)": {
			ws: testutil.Workspace("ml").Owner("alex").
				Contributor(testutil.User("*"), tenancyv1.RoleView).
				Contributor(testutil.User("*@corp.com"), tenancyv1.RoleView).Obj(),
			wantSpec: map[string]any{"action": "ALLOW", "rules": []any{sameNamespace, usersRule("alex")}},
		},
		"user owner and user contributors in the header rule; groups and service accounts not": {
			ws: testutil.Workspace("ml").Owner("alex").
				Contributor(testutil.User("bob"), tenancyv1.RoleEdit).
				Contributor(testutil.Group("ml-team"), tenancyv1.RoleView).
				Contributor(testutil.ServiceAccount("tools", "ci"), tenancyv1.RoleAdmin).
				Contributor(testutil.User("carol"), tenancyv1.RoleView).
				Obj(),
			wantSpec: map[string]any{"action": "ALLOW", "rules": []any{sameNamespace, usersRule("alex", "bob", "carol")}},
		},
		"group owner, user contributor": {
			ws: testutil.Workspace("ml").OwnerSubject(testutil.Group("ml-team")).
				Contributor(testutil.User("bob"), tenancyv1.RoleEdit).Obj(),
			wantSpec: map[string]any{"action": "ALLOW", "rules": []any{sameNamespace, usersRule("bob")}},
		},
		"no users: only the namespace's own workloads": {
			ws:       testutil.Workspace("ml").OwnerSubject(testutil.ServiceAccount("tools", "ci")).Obj(),
			wantSpec: map[string]any{"action": "ALLOW", "rules": []any{sameNamespace}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resolve := tc.resolve
			if resolve == nil {
				resolve = bindAsDeclared
			}
			principals := tc.principals
			if principals == nil {
				principals = []string{DefaultGatewayPrincipal}
			}
			u := desiredAuthorizationPolicy(effectiveSpec(tc.ws, nil), metaOf(tc.ws), "kubeflow-userid", principals, resolve)
			if diff := cmp.Diff(tc.wantSpec, u.Object["spec"]); diff != "" {
				t.Errorf("desiredAuthorizationPolicy() spec mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredAuthorizationPolicyMetadata(t *testing.T) {
	ws := testutil.Workspace("ml").Owner("alex").Obj()
	u := desiredAuthorizationPolicy(effectiveSpec(ws, nil), metaOf(ws), "x-user", []string{DefaultGatewayPrincipal}, bindAsDeclared)

	got := metav1.ObjectMeta{
		Name: u.GetName(), Namespace: u.GetNamespace(),
		Labels: u.GetLabels(), OwnerReferences: u.GetOwnerReferences(),
	}
	if diff := cmp.Diff(wantMeta("ml", "ml", "tenancy-access"), got); diff != "" {
		t.Errorf("desiredAuthorizationPolicy() metadata mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"security.istio.io/v1", "AuthorizationPolicy"}, []string{u.GetAPIVersion(), u.GetKind()}); diff != "" {
		t.Errorf("desiredAuthorizationPolicy() type mismatch (-want +got):\n%s", diff)
	}
}
