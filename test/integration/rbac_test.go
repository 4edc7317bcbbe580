//go:build integration

package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// The owner works in their workspace and nowhere else.
func TestOwnerIsAdminOfOwnWorkspaceOnly(t *testing.T) {
	t.Parallel()
	createWorkspace(t, workspace("rbac-alex", "alex"))
	createWorkspace(t, workspace("rbac-tess", "tess"))
	alex, tess := userClient(t, "alex"), userClient(t, "tess")

	waitReady(t, "rbac-alex")
	eventuallyCreatePod(t, alex, "alex", "rbac-alex", pod("mine", corev1.ResourceRequirements{}))

	// tess's workspace is in effect (tess can use it) before alex is
	// refused there, so the refusal is not just a binding not yet made.
	waitReady(t, "rbac-tess")
	eventuallyListPods(t, tess, "tess", "rbac-tess")
	_, err := createPod(t.Context(), alex, "rbac-tess", pod("intruder", corev1.ResourceRequirements{}))
	denied(t, "alex creates a pod in tess's workspace", err)
	_, err = alex.CoreV1().Pods("rbac-tess").List(t.Context(), metav1.ListOptions{})
	denied(t, "alex lists pods in tess's workspace", err)
	_, err = alex.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	denied(t, "alex lists namespaces cluster-wide", err)
	_, err = alex.RbacV1().RoleBindings("rbac-tess").List(t.Context(), metav1.ListOptions{})
	denied(t, "alex lists RoleBindings in tess's workspace", err)
}

// Contributors get their role's rights, and lose or change them with the
// spec.
func TestContributorRoles(t *testing.T) {
	t.Parallel()
	const ns = "rbac-shared"
	ws := workspace(ns, "olga")
	ws.Spec.Contributors = []tenancyv1.Contributor{
		{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "vera"}, Role: tenancyv1.RoleView},
		{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "eddie"}, Role: tenancyv1.RoleEdit},
	}
	createWorkspace(t, ws)
	vera, eddie := userClient(t, "vera"), userClient(t, "eddie")
	waitReady(t, ns)

	// eddie (edit) creates; vera (view) reads it but cannot create.
	eventuallyCreatePod(t, eddie, "eddie (edit)", ns, pod("by-eddie", corev1.ResourceRequirements{}))
	eventuallyListPods(t, vera, "vera (view)", ns)
	if _, err := vera.CoreV1().Pods(ns).Get(t.Context(), "by-eddie", metav1.GetOptions{}); err != nil {
		t.Errorf("vera (view) gets pod by-eddie: %v", err)
	}
	_, err := createPod(t.Context(), vera, ns, pod("by-vera", corev1.ResourceRequirements{}))
	denied(t, "vera (view) creates a pod", err)

	// Removing eddie from the spec revokes his access.
	updateWorkspace(t, ns, func(ws *tenancyv1.Workspace) {
		ws.Spec.Contributors = ws.Spec.Contributors[:1]
	})
	eventuallyDenied(t, "eddie (removed) listing pods", listPods(eddie, ns))

	// vera from view to edit: she may now create.
	updateWorkspace(t, ns, func(ws *tenancyv1.Workspace) {
		ws.Spec.Contributors[0].Role = tenancyv1.RoleEdit
	})
	eventuallyCreatePod(t, vera, "vera (now edit)", ns, pod("by-vera", corev1.ResourceRequirements{}))
	// The view binding went with the change (roleRef is immutable, so the
	// binding is replaced, not edited).
	waitReady(t, ns)
	rbs, err := adminCS.RbacV1().RoleBindings(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range rbs.Items {
		if rb.RoleRef.Name == "view" && rb.Name != "tenancy:default-viewer" {
			t.Errorf("RoleBinding %s still binds %v to view after the role changed to edit", rb.Name, rb.Subjects)
		}
	}
}

// Groups and ServiceAccounts are subjects like users.
func TestGroupAndServiceAccountSubjects(t *testing.T) {
	t.Parallel()
	const ns, robots = "rbac-team", "rbac-robots"

	// A ServiceAccount living in a namespace of its own.
	createOrFail(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: robots}})
	createOrFail(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: robots}})

	ws := &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: tenancyv1.WorkspaceSpec{
			Owner: &tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: "team-a"},
			Contributors: []tenancyv1.Contributor{
				{Subject: tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: "auditors"}, Role: tenancyv1.RoleView},
				{Subject: tenancyv1.Subject{Kind: tenancyv1.ServiceAccountKind, Namespace: robots, Name: "robot"}, Role: tenancyv1.RoleEdit},
			},
		},
	}
	createWorkspace(t, ws)
	waitReady(t, ns)

	gina := userClient(t, "gina", "team-a")
	eventuallyCreatePod(t, gina, "gina (group team-a, owner)", ns, pod("by-gina", corev1.ResourceRequirements{}))
	// Owner means admin: gina manages the workspace's RoleBindings.
	if _, err := gina.RbacV1().RoleBindings(ns).List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Errorf("gina (group team-a, owner) lists RoleBindings: %v", err)
	}

	ann := userClient(t, "ann", "auditors")
	eventuallyListPods(t, ann, "ann (group auditors, view)", ns)
	_, err := createPod(t.Context(), ann, ns, pod("by-ann", corev1.ResourceRequirements{}))
	denied(t, "ann (group auditors, view) creates a pod", err)

	// Same user without the group: nothing.
	_, err = userClient(t, "gina").CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	denied(t, "gina without group team-a lists pods", err)

	robot := serviceAccountClient(t, robots, "robot")
	eventuallyCreatePod(t, robot, "ServiceAccount rbac-robots/robot (edit)", ns, pod("by-robot", corev1.ResourceRequirements{}))
	_, err = robot.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	denied(t, "ServiceAccount robot lists pods in default", err)
}
