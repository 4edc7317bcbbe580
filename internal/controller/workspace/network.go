package workspace

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
)

const (
	networkPolicyName       = "tenancy-isolation"
	authorizationPolicyName = "tenancy-access"
)

// desiredNetworkPolicy admits ingress to the workspace's pods only from
// pods of the same namespace, or is nil when isolation is off. Egress is
// left open.
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
				WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector()))))
}

// desiredAuthorizationPolicy is the Istio AuthorizationPolicy that lets the
// owner and the User contributors reach the workspace's services through
// the mesh (identified by the header the ingress sets from the login), and
// lets the namespace's own workloads reach each other.
func desiredAuthorizationPolicy(e effective, m objectMeta, userHeader string) *unstructured.Unstructured {
	var users []any
	if e.Owner != nil && e.Owner.Kind == "User" {
		users = append(users, e.Owner.Name)
	}
	for _, c := range e.Contributors {
		if c.Kind == "User" {
			users = append(users, c.Name)
		}
	}
	rules := []any{
		map[string]any{"from": []any{map[string]any{"source": map[string]any{"namespaces": []any{e.Name}}}}},
	}
	if len(users) > 0 {
		rules = append(rules, map[string]any{"when": []any{map[string]any{
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
	ref := m.ownerRef()
	u.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: *ref.APIVersion, Kind: *ref.Kind, Name: *ref.Name, UID: *ref.UID,
		Controller: ref.Controller, BlockOwnerDeletion: ref.BlockOwnerDeletion,
	}})
	return u
}
