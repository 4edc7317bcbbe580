package workspace

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

const (
	networkPolicyName       = "tenancy-isolation"
	authorizationPolicyName = "tenancy-access"
)

// LabelAllowToWorkspaces marks namespaces (an ingress gateway's, a
// monitoring stack's) whose pods may reach every isolated workspace.
const LabelAllowToWorkspaces = "tenancy.dev/allow-to-workspaces"

// desiredNetworkPolicy admits ingress to the workspace's pods only from
// pods of the same namespace and from namespaces the admin labelled
// tenancy.dev/allow-to-workspaces=true, or is nil when isolation is off.
// Egress is left open.
func desiredNetworkPolicy(e effective, m objectMeta) *networkingv1ac.NetworkPolicyApplyConfiguration {
	if !e.NetworkIsolation {
		return nil
	}
	return networkingv1ac.NetworkPolicy(networkPolicyName, e.Name).WithLabels(m.labels()).
		WithOwnerReferences(m.ownerRef()).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector()).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().
				WithFrom(
					networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector()),
					networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(metav1ac.LabelSelector().
						WithMatchLabels(map[string]string{LabelAllowToWorkspaces: "true"})),
				)))
}

// desiredAuthorizationPolicy is the Istio AuthorizationPolicy that lets the
// owner and the User contributors reach the workspace's services through
// the mesh (identified by the header the ingress sets from the login), and
// lets the namespace's own workloads reach each other. Subjects are
// resolved as for RBAC, so a disabled user is left out; a name containing
// '*' is left out too, as Istio would read it as a wildcard.
// The header rule admits a request by its user header only when it comes
// from one of gatewayPrincipals (the ingress gateway's identity, which
// authenticates the user and sets the header): any other pod in the mesh
// could forge the header.
func desiredAuthorizationPolicy(e effective, m objectMeta, userHeader string, gatewayPrincipals []string, resolve SubjectResolver) *unstructured.Unstructured {
	var users []any
	addUsers := func(s tenancyv1.Subject) {
		for _, rs := range resolve(s) {
			if rs.Kind == "User" && !strings.Contains(rs.Name, "*") {
				users = append(users, rs.Name)
			}
		}
	}
	if e.Owner != nil {
		addUsers(*e.Owner)
	}
	for _, c := range e.Contributors {
		addUsers(c.Subject)
	}
	rules := []any{
		map[string]any{"from": []any{map[string]any{"source": map[string]any{"namespaces": []any{e.Name}}}}},
	}
	if len(users) > 0 && len(gatewayPrincipals) > 0 {
		principals := make([]any, 0, len(gatewayPrincipals))
		for _, p := range gatewayPrincipals {
			principals = append(principals, p)
		}
		rules = append(rules, map[string]any{
			"from": []any{map[string]any{"source": map[string]any{"principals": principals}}},
			"when": []any{map[string]any{
				"key":    "request.headers[" + userHeader + "]",
				"values": users,
			}}})
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1",
		"kind":       "AuthorizationPolicy",
		"metadata": map[string]any{
			"name":      authorizationPolicyName,
			"namespace": e.Name,
		},
		"spec": map[string]any{"action": "ALLOW", "rules": rules},
	}}
	u.SetLabels(m.labels())
	u.SetOwnerReferences([]metav1.OwnerReference{m.ownerReference()})
	return u
}
