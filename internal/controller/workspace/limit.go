package workspace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// ownerIndex indexes cached Workspaces by their owner (Subject.String()).
const ownerIndex = "spec.owner"

// workspaceIndex selects the cached objects Tenancy made by the workspace
// they are for: the object cache (objcache) answers this field selector
// from its index by workspace label, so that a cluster-scoped kind is not
// scanned whole for each workspace (each reconcile's prune and sweep would
// cost more with every workspace, and a controller restarted on 10,000 of
// them took minutes to verify them all).
const workspaceIndex = "metadata.labels." + tenancyv1.LabelWorkspace

// clusterObjectsOf selects the cluster-scoped objects made for the
// workspace name, through workspaceIndex.
func clusterObjectsOf(name string) []client.ListOption {
	return []client.ListOption{
		client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: name},
		client.MatchingFields{workspaceIndex: name},
	}
}

// blockedRetry is how soon a workspace that waits on something the
// controller does not watch (a foreign or terminating namespace, an owner
// at the limit) is looked at again.
const blockedRetry = 5 * time.Second

func indexOwner(obj client.Object) []string {
	ws, ok := obj.(*tenancyv1.Workspace)
	if !ok || ws.Spec.Owner == nil {
		return nil
	}
	return []string{ws.Spec.Owner.String()}
}

// username is the name the API server authenticates a subject as, or ""
// for a group.
func username(s tenancyv1.Subject) string {
	switch s.Kind {
	case tenancyv1.UserKind:
		return s.Name
	case tenancyv1.ServiceAccountKind:
		return "system:serviceaccount:" + s.Namespace + ":" + s.Name
	}
	return ""
}

// overOwnerLimit says why a self-serve workspace may not be provisioned:
// its owner already has as many workspaces as the class allows, counting
// in creation order every workspace they own (those an admin made for them
// too). It is "" for a workspace within the limit, for group owners, and
// for workspaces somebody else created for the owner (an admin's). A
// workspace with no creator recorded (a cluster without
// MutatingAdmissionPolicy) counts as the owner's own.
func (r *Reconciler) overOwnerLimit(ctx context.Context, ws *tenancyv1.Workspace, class *tenancyv1.WorkspaceClass) (string, error) {
	limit := class.MaxWorkspaces()
	if limit <= 0 || ws.Spec.Owner == nil {
		return "", nil
	}
	owner := username(*ws.Spec.Owner)
	if creator, ok := ws.Annotations[tenancyv1.AnnotationCreatedBy]; owner == "" || ok && creator != owner {
		return "", nil
	}
	list := &tenancyv1.WorkspaceList{}
	if err := r.client.List(ctx, list, client.MatchingFields{ownerIndex: ws.Spec.Owner.String()}); err != nil {
		return "", fmt.Errorf("list workspaces of %s: %w", ws.Spec.Owner, err)
	}
	slices.SortFunc(list.Items, func(a, b tenancyv1.Workspace) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	pos := slices.IndexFunc(list.Items, func(o tenancyv1.Workspace) bool { return o.UID == ws.UID })
	if pos < limit {
		return "", nil
	}
	className := "the default class"
	if class != nil {
		className = "WorkspaceClass " + class.Name
	}
	return fmt.Sprintf("%s owns %d workspaces and %s allows %d per owner: this one is not provisioned; delete one of the others (it is then provisioned by itself) or ask a Tenancy admin to raise spec.maxWorkspacesPerOwner",
		owner, len(list.Items), className, limit), nil
}
