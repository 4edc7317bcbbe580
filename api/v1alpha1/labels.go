package v1alpha1

// Labels and annotations every object that Tenancy manages carries, so that
// listing, pruning and deletion are complete.
const (
	// LabelManagedBy marks objects created by Tenancy, with value ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on Tenancy's objects.
	ManagedByValue = "tenancy"
	// LabelWorkspace names the Workspace an object belongs to.
	LabelWorkspace = "tenancy.dev/workspace"
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

	// Finalizer is held on a Workspace until everything it created is gone.
	Finalizer = "tenancy.dev/cleanup"

	// FieldManager is the one server-side apply field manager of the controller.
	FieldManager = "tenancy-controller"
)
