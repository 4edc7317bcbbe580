package workspace

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// ignoreTypeMeta leaves apiVersion and kind out of object comparisons;
// TestDesiredKinds checks them once for every builder.
var ignoreTypeMeta = cmpopts.IgnoreTypes(metav1.TypeMeta{})

// decode turns an apply configuration into the typed object it describes,
// through the JSON the API server would receive, so that tests compare
// plain Kubernetes objects. A nil apply configuration decodes to nil.
func decode[T any](t *testing.T, ac any) *T {
	t.Helper()
	raw, err := json.Marshal(ac)
	if err != nil {
		t.Fatalf("marshal %T: %v", ac, err)
	}
	if string(raw) == "null" {
		return nil
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("unmarshal %T into %T: %v", ac, out, err)
	}
	return out
}

// metaOf is the objectMeta the reconciler builds for ws.
func metaOf(ws *tenancyv1.Workspace) objectMeta {
	return objectMeta{WorkspaceName: ws.Name, WorkspaceUID: ws.UID}
}

// bindAsDeclared resolves every subject to itself, as the reconciler does
// for subjects without a User object.
func bindAsDeclared(s tenancyv1.Subject) []rbacv1.Subject { return []rbacv1.Subject{s.RBAC()} }

// wantLabels are the labels on every object of workspace ws.
func wantLabels(ws string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/managed-by": "tenancy",
		"tenancy.dev/workspace":        ws,
	}
}

// wantOwnerRefs is the controlling owner reference to workspace ws, whose
// UID is "uid-<ws>" as testutil.Workspace sets it.
func wantOwnerRefs(ws string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{
		APIVersion:         "tenancy.dev/v1alpha1",
		Kind:               "Workspace",
		Name:               ws,
		UID:                types.UID("uid-" + ws),
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}}
}

// wantMeta is the metadata of a managed object of workspace ws.
func wantMeta(ws, namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       namespace,
		Labels:          wantLabels(ws),
		OwnerReferences: wantOwnerRefs(ws),
	}
}
