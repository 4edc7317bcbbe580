//go:build integration

package selfserve

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/install"
)

// denied is how kubectl shows a request the self-serve policy refused.
const denied = "ValidatingAdmissionPolicy 'tenancy-self-serve' with binding 'tenancy-self-serve' denied request: "

// workspaceYAML is a Workspace as a person writes it; extra is appended to
// its spec (indented by two spaces).
func workspaceYAML(name, owner, class string, extra ...string) string {
	s := fmt.Sprintf(`apiVersion: tenancy.dev/v1alpha1
kind: Workspace
metadata:
  name: %s
spec:
  owner:
    kind: User
    name: %s
  class: %s
`, name, owner, class)
	for _, e := range extra {
		s += e
	}
	return s
}

const notebookPod = `apiVersion: v1
kind: Pod
metadata:
  name: notebook
spec:
  serviceAccountName: default-editor
  containers:
  - name: notebook
    image: kubeflownotebookswg/jupyter-scipy:v1.9.0
`

// The policy passed the API server's own type check, against the
// Workspace schema, with no warning.
func TestPolicyTypeChecked(t *testing.T) {
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	if err := admin.Get(context.Background(), client.ObjectKey{Name: install.SelfServePolicy}, p); err != nil {
		t.Fatal(err)
	}
	if p.Status.TypeChecking == nil || p.Status.ObservedGeneration != p.Generation {
		t.Fatalf("policy not type-checked: status %+v", p.Status)
	}
	for _, w := range p.Status.TypeChecking.ExpressionWarnings {
		t.Errorf("%s: %s", w.FieldRef, w.Warning)
	}
}

// TestKubeflowCUJ is the self-serve part of the Kubeflow multi-user CUJ
// with kubectl: the admin grants jane the right to create workspaces of the
// standard class; jane creates hers, works in it, shares it with bob, and
// deletes it; everything else she tries is refused with what to do.
func TestKubeflowCUJ(t *testing.T) {
	ctx := context.Background()
	const mine = "kubeflow-jane"
	t.Cleanup(func() { deleteWorkspace(t, "kubeflow-bob") })

	// Admin grants permission to create workspaces (the CUJ's profile-creator).
	out := succeeds(t, tenancy(t, "admin", "grant", "create-workspaces", "--user", "jane", "--class", "standard"))
	contains(t, "grant", out, "User jane may create workspaces of class standard")
	canI(t, "jane", true, "create", "workspaces.tenancy.dev")

	// Jane creates her workspace with kubectl; it becomes Ready.
	out = succeeds(t, kubectl(t, "jane", workspaceYAML(mine, "jane", "standard"), "apply", "-f", "-"))
	contains(t, "kubectl apply", out, "workspace.tenancy.dev/"+mine+" created")
	succeeds(t, kubectl(t, "jane", "", "wait", "--for=condition=Ready", "workspace/"+mine, "--timeout=90s"))

	// She works in it: a notebook pod, as Kubeflow runs it.
	out = succeeds(t, kubectl(t, "jane", notebookPod, "-n", mine, "apply", "-f", "-"))
	contains(t, "create pod", out, "pod/notebook created")

	// What only an admin may do is refused, each with what to do instead.
	fails(t, kubectl(t, "jane", workspaceYAML("kubeflow-bob2", "bob", "standard"), "create", "-f", "-"),
		"Error from server (Forbidden)",
		denied+"you may create workspaces only with yourself as owner: set spec.owner to {kind: User, name: jane} (it names User bob); a Tenancy admin can create workspaces for others")
	fails(t, kubectl(t, "jane", workspaceYAML("jane-gpu", "jane", "gpu"), "create", "-f", "-"),
		"Error from server (Forbidden)",
		denied+"you may not create workspaces of WorkspaceClass gpu: choose a class you were granted, or ask a Tenancy admin to run: tenancy grant create-workspaces --user jane --class gpu")
	bigQuota := "  resourceQuota:\n    hard:\n      requests.nvidia.com/gpu: \"64\"\n"
	fails(t, kubectl(t, "jane", workspaceYAML("jane-big", "jane", "standard", bigQuota), "create", "-f", "-"),
		denied+"only a Tenancy admin may set spec.resourceQuota: the WorkspaceClass decides it; remove it, or choose another class")
	fails(t, kubectl(t, "jane", workspaceYAML(mine, "jane", "standard", bigQuota), "apply", "-f", "-"),
		denied+"only a Tenancy admin may change spec.resourceQuota of a workspace; you may change spec.contributors to share it: keep the other fields as they are")

	// Sharing is hers to do: bob may then read (only read) her pods.
	shared := "  contributors:\n  - kind: User\n    name: bob\n    role: view\n"
	out = succeeds(t, kubectl(t, "jane", workspaceYAML(mine, "jane", "standard", shared), "apply", "-f", "-"))
	contains(t, "share", out, "workspace.tenancy.dev/"+mine+" configured")
	eventually(t, "bob reads the pods of "+mine, 30*time.Second, func() (bool, string) {
		r := execute(t, "", "kubectl", "--kubeconfig", kubeconfig(t, "bob"), "-n", mine, "get", "pods")
		return r.code == 0 && strings.Contains(r.stdout, "notebook"), r.stdout + r.stderr
	})
	fails(t, kubectl(t, "bob", "", "-n", mine, "delete", "pod", "notebook"),
		`User "bob" cannot delete resource "pods" in API group "" in the namespace "`+mine+`"`)

	// Someone else's workspace is not hers to delete: RBAC lets creators
	// delete workspaces (it cannot tell whose), the policy refuses.
	succeeds(t, kubectl(t, "admin", workspaceYAML("kubeflow-bob", "bob", "gpu"), "apply", "-f", "-"))
	fails(t, kubectl(t, "jane", "", "delete", "workspace", "kubeflow-bob"),
		"Error from server (Forbidden)",
		denied+"you may delete only workspaces you own: kubeflow-bob is owned by User bob; ask its owner or a Tenancy admin")
	// Nor to take over by editing it.
	fails(t, kubectl(t, "jane", "", "patch", "workspace", "kubeflow-bob", "--type=merge", "-p", `{"spec":{"contributors":[{"kind":"User","name":"jane","role":"admin"}]}}`),
		denied+"you may change only workspaces you own: kubeflow-bob is owned by User bob")

	// Nor may she skip the cleanup of her own.
	fails(t, kubectl(t, "jane", "", "patch", "workspace", mine, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`),
		denied+"only Tenancy may change metadata.finalizers")

	// She deletes her own; kubectl waits until the namespace is gone.
	out = succeeds(t, kubectl(t, "jane", "", "delete", "workspace", mine, "--timeout=2m"))
	contains(t, "delete", out, `workspace.tenancy.dev "`+mine+`" deleted`)
	if err := admin.Get(ctx, client.ObjectKey{Name: mine}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after its workspace was deleted: want NotFound, got %v", mine, err)
	}

	// Without the grant, RBAC refuses before the policy is asked.
	fails(t, kubectl(t, "carol", workspaceYAML("kubeflow-carol", "carol", "standard"), "create", "-f", "-"),
		"Error from server (Forbidden)",
		`User "carol" cannot create resource "workspaces" in API group "tenancy.dev" at the cluster scope`)

	// Revoked, jane is refused as carol is.
	out = succeeds(t, tenancy(t, "admin", "grant", "revoke", "create-workspaces", "--user", "jane"))
	contains(t, "revoke", out, "User jane may no longer create workspaces")
	canI(t, "jane", false, "create", "workspaces.tenancy.dev")
	fails(t, kubectl(t, "jane", workspaceYAML(mine, "jane", "standard"), "create", "-f", "-"),
		`User "jane" cannot create resource "workspaces" in API group "tenancy.dev" at the cluster scope`)
}
