package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels and annotations every object that Tenancy manages carries, so that
// listing, pruning and deletion are complete.
const (
	// LabelManagedBy marks objects created by Tenancy, with value ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on Tenancy's objects.
	ManagedByValue = "tenancy"
	// LabelWorkspace names the Workspace an object belongs to.
	LabelWorkspace = "tenancy.dev/workspace"
	// LabelComponent says which part of Tenancy made an object;
	// ComponentInstall marks what `tenancy install` puts in a cluster (its
	// ClusterRoles and admission policies), which belongs to no workspace.
	LabelComponent   = "app.kubernetes.io/component"
	ComponentInstall = "install"
	// LabelUser names the User an object belongs to.
	LabelUser = "tenancy.dev/user"

	// LabelGrant marks the objects of a grant (`tenancy grant`): its
	// ClusterRoleBindings and ClusterRole; the value is the grant's kind.
	LabelGrant = "tenancy.dev/grant"
	// AnnotationGrantSubject is the subject of a grant, as Subject.String
	// (User/jane); a User's grants follow the User (disabled, deleted).
	AnnotationGrantSubject = "tenancy.dev/grant-subject"

	// AnnotationIsDefaultClass marks the WorkspaceClass used by Workspaces
	// that name no class, in the StorageClass style.
	AnnotationIsDefaultClass = "tenancy.dev/is-default-class"

	// AnnotationCreatedBy records who created a Workspace, as the API
	// server authenticated them. The MutatingAdmissionPolicy
	// tenancy-workspace-defaults sets it and the ValidatingAdmissionPolicy
	// tenancy-self-serve keeps anybody from forging or changing it.
	AnnotationCreatedBy = "tenancy.dev/created-by"

	// LabelWorkspaceVolume "true" marks the namespace of a workspace with a
	// volume; AnnotationWorkspaceVolumeClaim and AnnotationWorkspaceVolumePath
	// on it name the claim and where pods mount it. The controller sets
	// them; the MutatingAdmissionPolicy tenancy-workspace-volume reads them.
	LabelWorkspaceVolume           = "tenancy.dev/workspace-volume"
	AnnotationWorkspaceVolumeClaim = "tenancy.dev/workspace-volume-claim"
	AnnotationWorkspaceVolumePath  = "tenancy.dev/workspace-volume-path"

	// AnnotationSubmittedBy names who submitted a Job, as the API server
	// authenticated them; the ValidatingAdmissionPolicy
	// tenancy-job-submitter keeps it true.
	AnnotationSubmittedBy = "tenancy.dev/submitted-by"

	// Finalizer is held on a Workspace until everything it created is gone.
	Finalizer = "tenancy.dev/cleanup"

	// FieldManager is the one server-side apply field manager of the controller.
	FieldManager = "tenancy-controller"
)

// Owns says whether obj was made by Tenancy for this very Workspace: it
// carries the managed-by and workspace labels and names the Workspace, by
// UID, as its controlling owner. Labels alone are not enough: anyone who
// may label an object could claim it, and a leftover of an earlier
// Workspace of the same name has the right labels but another UID.
func (ws *Workspace) Owns(obj metav1.Object) bool { return OwnedBy(obj, ws.Name, ws.UID) }

// OwnedBy is Owns for the Workspace of that name and UID.
func OwnedBy(obj metav1.Object, name string, uid types.UID) bool {
	return IsManagedFor(obj, name) && ControllerUID(obj) == uid
}

// IsManagedFor says whether obj carries Tenancy's labels for workspace name.
func IsManagedFor(obj metav1.Object, name string) bool {
	l := obj.GetLabels()
	return l[LabelManagedBy] == ManagedByValue && l[LabelWorkspace] == name
}

// ControllerUID is the UID of obj's controlling Workspace owner, or "".
func ControllerUID(obj metav1.Object) types.UID {
	for _, r := range obj.GetOwnerReferences() {
		if r.Controller != nil && *r.Controller && r.Kind == "Workspace" && r.APIVersion == GroupVersion.String() {
			return r.UID
		}
	}
	return ""
}
