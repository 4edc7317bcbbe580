// Package workspace holds `tenancy workspace …`: create, list, get, share,
// unshare and delete workspaces.
package workspace

import (
	"github.com/spf13/cobra"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// NewCommand is `tenancy workspace`.
func NewCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "workspace",
		Aliases: []string{"workspaces", "ws"},
		Short:   "Create, list, share and delete workspaces",
		Long: `Create, list, share and delete workspaces: each is a namespace with its quota,
RBAC and sharing, made by the Tenancy controller from a Workspace object.

Anyone a Tenancy admin granted 'tenancy grant create-workspaces' may create
workspaces they own, of the classes they were granted, and share or delete
them; the admin's fields (quota, limit range, rules, node pool, …) come from
the class. Admins may do anything, for anyone.`,
	}
	cmd.AddCommand(
		newCreateCommand(f),
		newListCommand(f),
		newGetCommand(f),
		newShareCommand(f, false),
		newShareCommand(f, true),
		newDeleteCommand(f),
	)
	return cmd
}

// workspaceClass is the class that applies: as the controller reported it,
// else as named.
func workspaceClass(ws *tenancyv1.Workspace) string {
	if ws.Status.Class != "" {
		return ws.Status.Class
	}
	return ws.Spec.Class
}
