//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Where Istio's AuthorizationPolicy is served (TestMain installs its CRD),
// each workspace gets one letting its owner and User contributors in.
func TestIstioAuthorizationPolicy(t *testing.T) {
	t.Parallel()
	const ns = "mesh"
	ws := workspace(ns, "ines")
	ws.Spec.Contributors = []tenancyv1.Contributor{
		{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "ivan"}, Role: tenancyv1.RoleView},
		{Subject: tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: "mesh-team"}, Role: tenancyv1.RoleView},
	}
	createWorkspace(t, ws)
	waitCondition(t, ns, tenancyv1.ConditionIstio, metav1.ConditionTrue, tenancyv1.ReasonReconciled)

	key := "request.headers[" + istioUserHeader + "]"
	eventually(t, timeout, "AuthorizationPolicy "+ns+"/tenancy-access names ines and ivan", func(ctx context.Context) error {
		ap := &unstructured.Unstructured{}
		ap.SetGroupVersionKind(schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"})
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tenancy-access"}, ap); err != nil {
			return err
		}
		if l := ap.GetLabels(); l[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue || l[tenancyv1.LabelWorkspace] != ns {
			return fmt.Errorf("labels %v", l)
		}
		if action, _, _ := unstructured.NestedString(ap.Object, "spec", "action"); action != "ALLOW" {
			return fmt.Errorf("spec.action %q, want ALLOW", action)
		}
		users, err := headerValues(ap, key)
		if err != nil {
			return err
		}
		if !slices.Equal(users, []string{"ines", "ivan"}) {
			return fmt.Errorf("%s values %v, want [ines ivan]", key, users)
		}
		return nil
	})
}

// headerValues returns the values of the when-condition on key among the
// policy's rules.
func headerValues(ap *unstructured.Unstructured, key string) ([]string, error) {
	rules, _, err := unstructured.NestedSlice(ap.Object, "spec", "rules")
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		whens, _, _ := unstructured.NestedSlice(rule, "when")
		for _, w := range whens {
			when, _ := w.(map[string]any)
			if when["key"] != key {
				continue
			}
			vals, _, err := unstructured.NestedStringSlice(when, "values")
			return vals, err
		}
	}
	return nil, fmt.Errorf("no rule with a when on %s in spec.rules %v", key, rules)
}
