//go:build integration

package selfserve

import (
	"context"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// TestGrantCLI: `tenancy grant` as the admin runs it, errors included.
func TestGrantCLI(t *testing.T) {
	fails(t, tenancy(t, "admin", "grant", "create-workspaces"), "error: name who: --user USER or --group GROUP")
	fails(t, tenancy(t, "admin", "grant", "create-workspaces", "--user", "ann", "--group", "ml"), "error: --user and --group are exclusive")
	fails(t, tenancy(t, "admin", "grant", "create-workspaces", "--user", "ann", "--class", "gpuu"),
		`error: WorkspaceClass "gpuu" does not exist; classes: gpu, standard (default)`)
	fails(t, tenancy(t, "admin", "grant", "create-workspaces", "--user", "ann", "--class", "gpu", "--all-classes"),
		"error: --class and --all-classes are exclusive")

	// The default class when none is named; granting again adds classes.
	contains(t, "grant", succeeds(t, tenancy(t, "admin", "grant", "create-workspaces", "--user", "ann")),
		"User ann may create workspaces of class standard")
	contains(t, "grant", succeeds(t, tenancy(t, "admin", "grant", "create-workspaces", "--user", "ann", "--class", "gpu")),
		"User ann may create workspaces of classes gpu, standard")
	contains(t, "grant", succeeds(t, tenancy(t, "admin", "grant", "create-workspaces", "--group", "ml-team", "--all-classes")),
		"Group ml-team may create workspaces of any class")
	out := succeeds(t, tenancy(t, "admin", "grant", "list"))
	contains(t, "grant list", out, "SUBJECT", "CLASSES", "User/ann", "gpu,standard", "Group/ml-team", "* (all)")

	// A member of ml-team may use any class, through the group.
	kubeconfig(t, "maya", "ml-team")
	canI(t, "maya", true, "use", "workspaceclasses.tenancy.dev/gpu")
	canI(t, "ann", false, "use", "workspaceclasses.tenancy.dev/other")

	fails(t, tenancy(t, "admin", "grant", "revoke", "create-workspaces", "--user", "ann", "--class", "other"),
		"error: User ann was not granted class other; granted: gpu, standard")
	contains(t, "revoke a class", succeeds(t, tenancy(t, "admin", "grant", "revoke", "create-workspaces", "--user", "ann", "--class", "gpu")),
		"User ann may no longer use class gpu; may still create workspaces of class standard")
	succeeds(t, tenancy(t, "admin", "grant", "revoke", "create-workspaces", "--user", "ann"))
	succeeds(t, tenancy(t, "admin", "grant", "revoke", "create-workspaces", "--group", "ml-team"))
	fails(t, tenancy(t, "admin", "grant", "revoke", "create-workspaces", "--user", "ann"),
		"error: User ann has no create-workspaces grant (tenancy grant list shows the grants)")

	// Only whoever may write ClusterRoleBindings can grant.
	fails(t, tenancy(t, "jane", "grant", "create-workspaces", "--user", "jane", "--all-classes"),
		`User "jane" cannot get resource "clusterroles"`, "Granting takes a cluster admin")
}

// TestWorkspaceCLI: `tenancy workspace` run by jane (granted the standard
// class) and by the admin, reading real output and exit codes.
func TestWorkspaceCLI(t *testing.T) {
	ctx := context.Background()
	succeeds(t, tenancy(t, "admin", "grant", "create-workspaces", "--user", "jane", "--class", "standard"))
	t.Cleanup(func() {
		tenancy(t, "admin", "grant", "revoke", "create-workspaces", "--user", "jane")
		deleteWorkspace(t, "team-x")
	})
	canI(t, "jane", true, "create", "workspaces.tenancy.dev")

	// Mistakes caught before anything is sent.
	fails(t, tenancy(t, "jane", "workspace", "create"), "error: a workspace name is required: tenancy workspace create NAME")
	fails(t, tenancy(t, "jane", "workspace", "create", "Jane_ML"), `error: workspace name "Jane_ML" is not valid`)
	fails(t, tenancy(t, "jane", "workspace", "create", "jane-x", "--contributor", "user:bob=owner"),
		`error: --contributor "user:bob=owner": role "owner" is not one of admin, edit, view`)
	fails(t, tenancy(t, "jane", "workspace", "create", "jane-x", "--contributor", "bob"),
		`error: --contributor "bob": want kind:name=role, e.g. user:bob=edit`)
	fails(t, tenancy(t, "jane", "workspace", "create", "jane-x", "--class", "nope"),
		`error: WorkspaceClass "nope" does not exist; classes: gpu, standard (default)`)
	fails(t, tenancy(t, "jane", "workspace", "create", "jane-x", "-o", "table"), `error: -o "table" is not an output format: use json, yaml`)

	// Refused by the policy, shown as the server said it.
	stderr := fails(t, tenancy(t, "jane", "workspace", "create", "jane-gpu", "--class", "gpu"),
		"error: workspaces.tenancy.dev \"jane-gpu\" is forbidden: "+denied+"you may not create workspaces of WorkspaceClass gpu")
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("want a one-line error, got %q", stderr)
	}
	fails(t, tenancy(t, "jane", "workspace", "create", "jane-bob", "--owner", "bob"),
		denied+"you may create workspaces only with yourself as owner: set spec.owner to {kind: User, name: jane} (it names User bob)")

	// Jane's own: owner from who she is, the default class looked up.
	out := succeeds(t, tenancy(t, "jane", "workspace", "create", "jane-cli", "--contributor", "group:ml-team=edit", "--wait"))
	contains(t, "create", out, "workspace.tenancy.dev/jane-cli created", "workspace jane-cli is Ready")
	ws := &tenancyv1.Workspace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "jane-cli"}, ws); err != nil {
		t.Fatal(err)
	}
	if ws.Spec.Owner == nil || *ws.Spec.Owner != (tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "jane"}) || ws.Spec.Class != "standard" {
		t.Errorf("created spec: owner %v class %q; want User jane, standard", ws.Spec.Owner, ws.Spec.Class)
	}

	// The admin creates one for bob, of a class jane may not use.
	out = succeeds(t, tenancy(t, "admin", "workspace", "create", "team-x", "--owner", "bob", "--class", "gpu", "-o", "name"))
	if strings.TrimSpace(out) != "workspace.tenancy.dev/team-x" {
		t.Errorf("-o name: got %q", out)
	}

	out = succeeds(t, tenancy(t, "jane", "workspace", "list"))
	// The columns of `kubectl get workspaces`: the CRD's printer columns.
	if !regexp.MustCompile(`(?m)^NAME\s+OWNER\s+READY\s+GPUS\s+AGE$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^jane-cli\s+jane\s+True\s+0/2\s+\S+$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^team-x\s+bob\s+`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}
	out = succeeds(t, tenancy(t, "jane", "workspace", "list", "--mine", "-o", "wide"))
	if !regexp.MustCompile(`(?m)^jane-cli\s+jane\s+True\s+0/2\s+standard\s+Reconciled\s+\S+\s+Group/ml-team=edit$`).MatchString(out) ||
		strings.Contains(out, "team-x") {
		t.Errorf("list --mine -o wide:\n%s", out)
	}

	// Sharing and unsharing.
	fails(t, tenancy(t, "jane", "workspace", "share", "jane-cli", "--user", "bob"), "error: --role: a role is required: admin, edit or view")
	fails(t, tenancy(t, "jane", "workspace", "share", "jane-cli", "--user", "bob", "--group", "x", "--role", "view"),
		"error: --user, --group and --serviceaccount name one subject")
	contains(t, "share", succeeds(t, tenancy(t, "jane", "workspace", "share", "jane-cli", "--user", "bob", "--role", "view")),
		"workspace jane-cli is shared with User bob (view)")
	contains(t, "share again", succeeds(t, tenancy(t, "jane", "workspace", "share", "jane-cli", "--user", "bob", "--role", "edit")),
		"workspace jane-cli is shared with User bob (edit, was view)")
	fails(t, tenancy(t, "jane", "workspace", "share", "team-x", "--user", "jane", "--role", "admin"),
		denied+"you may change only workspaces you own: team-x is owned by User bob")
	out = succeeds(t, tenancy(t, "jane", "workspace", "get", "jane-cli"))
	contains(t, "get", out, "Owner:", "User jane", "Class:", "standard", "Ready:", "True (Reconciled)",
		"Group ml-team", "User bob", "edit", "requests.nvidia.com/gpu", "Conditions:", "RBACReady")
	if !regexp.MustCompile(`(?m)^\s+requests\.cpu\s+\S+\s+16$`).MatchString(out) {
		t.Errorf("get: want requests.cpu used and hard 16 in:\n%s", out)
	}
	got := &tenancyv1.Workspace{}
	if err := yaml.Unmarshal([]byte(succeeds(t, tenancy(t, "jane", "workspace", "get", "jane-cli", "-o", "yaml"))), got); err != nil {
		t.Fatalf("get -o yaml: %v", err)
	}
	if got.Kind != "Workspace" || len(got.Spec.Contributors) != 2 || got.ManagedFields != nil {
		t.Errorf("get -o yaml: kind %q, %d contributors, managedFields %v", got.Kind, len(got.Spec.Contributors), got.ManagedFields)
	}
	contains(t, "unshare", succeeds(t, tenancy(t, "jane", "workspace", "unshare", "jane-cli", "--user", "bob")),
		"workspace jane-cli is no longer shared with User bob")
	fails(t, tenancy(t, "jane", "workspace", "unshare", "jane-cli", "--user", "bob"),
		"error: workspace jane-cli is not shared with User bob; it is shared with Group ml-team (edit)")

	// A Tenancy admin by RBAC (tenancy:admin, not system:masters) is not
	// held to the self-serve rules.
	succeeds(t, kubectl(t, "admin", "", "create", "clusterrolebinding", "test:lee-tenancy-admin", "--clusterrole=tenancy:admin", "--user=lee"))
	canI(t, "lee", true, "manage", "workspaces.tenancy.dev")
	contains(t, "admin creates", succeeds(t, tenancy(t, "lee", "workspace", "create", "team-y", "--owner", "group:team-y", "--class", "gpu")),
		"workspace.tenancy.dev/team-y created")
	contains(t, "admin deletes", succeeds(t, tenancy(t, "lee", "workspace", "delete", "team-y", "--wait")),
		"workspace team-y and its namespace are gone")

	// Deleting: not someone else's; her own, waiting until it is gone.
	fails(t, tenancy(t, "jane", "workspace", "delete", "team-x"),
		denied+"you may delete only workspaces you own: team-x is owned by User bob; ask its owner or a Tenancy admin")
	fails(t, tenancy(t, "jane", "workspace", "delete"), "error: name the workspaces to delete")
	out = succeeds(t, tenancy(t, "jane", "workspace", "delete", "jane-cli", "--wait"))
	contains(t, "delete", out, `workspace.tenancy.dev "jane-cli" deleted`, "workspace jane-cli and its namespace are gone")
	if err := admin.Get(ctx, client.ObjectKey{Name: "jane-cli"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace jane-cli: want NotFound, got %v", err)
	}
	fails(t, tenancy(t, "jane", "workspace", "get", "jane-cli"), `error: workspaces.tenancy.dev "jane-cli" not found`)

	// Without the grant: RBAC's refusal, and what to ask for.
	fails(t, tenancy(t, "carol", "workspace", "create", "carol-ml", "--class", "standard"),
		`User "carol" cannot create resource "workspaces"`, "ask a Tenancy admin to run: tenancy grant create-workspaces --user carol")
	fails(t, tenancy(t, "carol", "workspace", "list"),
		`error: workspaces.tenancy.dev is forbidden: User "carol" cannot list resource "workspaces" in API group "tenancy.dev" at the cluster scope`,
		"ask a Tenancy admin to run: tenancy grant create-workspaces --user carol")
}
