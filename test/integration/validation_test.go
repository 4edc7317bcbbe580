//go:build integration

package integration

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// The API server refuses invalid Workspaces with a message naming the
// problem. Objects are created with dry run: validation runs in full,
// nothing is stored.
func TestValidationAtAdmission(t *testing.T) {
	t.Parallel()
	user := func(name string) tenancyv1.Subject { return tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: name} }
	valid := func(name string) *tenancyv1.Workspace { return workspace(name, "val") }
	with := func(name string, mutate func(*tenancyv1.Workspace)) *tenancyv1.Workspace {
		ws := valid(name)
		mutate(ws)
		return ws
	}
	badQuantity := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": tenancyv1.GroupVersion.String(),
		"kind":       "Workspace",
		"metadata":   map[string]any{"name": "val-quantity"},
		"spec": map[string]any{
			"owner":         map[string]any{"kind": "User", "name": "val"},
			"resourceQuota": map[string]any{"hard": map[string]any{"requests.cpu": "ten"}},
		},
	}}

	tests := map[string]struct {
		obj  client.Object
		want []string // substrings of the message; none means valid
	}{
		"valid": {obj: with("val-ok", func(ws *tenancyv1.Workspace) {
			ws.Spec.Contributors = []tenancyv1.Contributor{{Subject: user("other"), Role: tenancyv1.RoleView}}
		})},
		"quota quantity not a quantity": {obj: badQuantity, want: []string{"requests.cpu", `"ten"`}},
		"unknown contributor role": {
			obj: with("val-role", func(ws *tenancyv1.Workspace) {
				ws.Spec.Contributors = []tenancyv1.Contributor{{Subject: user("other"), Role: "owner"}}
			}),
			want: []string{"spec.contributors[0].role", `"owner"`, `"admin", "edit", "view"`},
		},
		"invalid subject kind": {
			obj: with("val-kind", func(ws *tenancyv1.Workspace) {
				ws.Spec.Contributors = []tenancyv1.Contributor{{Subject: tenancyv1.Subject{Kind: "Robot", Name: "r2"}, Role: tenancyv1.RoleView}}
			}),
			want: []string{"spec.contributors[0].kind", `"Robot"`},
		},
		"ServiceAccount without namespace": {
			obj: with("val-sa", func(ws *tenancyv1.Workspace) {
				ws.Spec.Contributors = []tenancyv1.Contributor{{Subject: tenancyv1.Subject{Kind: tenancyv1.ServiceAccountKind, Name: "bot"}, Role: tenancyv1.RoleEdit}}
			}),
			want: []string{"namespace is required for a ServiceAccount subject"},
		},
		"name kube-system": {obj: valid("kube-system"), want: []string{"reserved"}},
		"name default":     {obj: valid("default"), want: []string{"reserved"}},
		"name Bad_Name":    {obj: valid("Bad_Name"), want: []string{"Bad_Name", "lowercase"}},
		"name of 64 characters": {
			obj:  valid(strings.Repeat("a", 64)),
			want: []string{"at most 63"},
		},
		"duplicate contributor": {
			obj: with("val-dup", func(ws *tenancyv1.Workspace) {
				ws.Spec.Contributors = []tenancyv1.Contributor{
					{Subject: user("other"), Role: tenancyv1.RoleView},
					{Subject: user("other"), Role: tenancyv1.RoleEdit},
				}
			}),
			want: []string{"each contributor may be listed once"},
		},
		"owner also contributor": {
			obj: with("val-self", func(ws *tenancyv1.Workspace) {
				ws.Spec.Contributors = []tenancyv1.Contributor{{Subject: user("val"), Role: tenancyv1.RoleEdit}}
			}),
			want: []string{"the owner cannot also be a contributor"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := admin.Create(t.Context(), tc.obj, client.DryRunAll)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid Workspace refused: %v", err)
				}
				return
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want Invalid naming %q, got %v", tc.want, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message does not contain %q:\n%v", w, err)
				}
			}
			t.Logf("the user sees: %v", err)
		})
	}
}
