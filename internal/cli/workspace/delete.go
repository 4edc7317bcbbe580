package workspace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// DeleteOptions are the flags of `tenancy workspace delete`.
type DeleteOptions struct {
	streams genericiooptions.IOStreams
	client  client.Client

	Names   []string
	Wait    bool
	Timeout time.Duration
}

func newDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	o := &DeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete NAME... [--wait]",
		Short: "Delete workspaces, their namespaces and everything in them",
		Long: `Delete workspaces. The controller deletes each namespace with everything in
it, and the RBAC it made; the Workspace is gone when that is done. With
--wait the command returns then. The owner, or a Tenancy admin, may delete.`,
		Example:           `  tenancy workspace delete jane-ml --wait`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cmdutil.CompleteWorkspaces(f),
		RunE:              cmdutil.RunE(f, o),
	}
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "wait until the workspaces and their namespaces are gone")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// Complete takes the names and the client.
func (o *DeleteOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.Names = f.Streams, args
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks the flags.
func (o *DeleteOptions) Validate() error {
	if len(o.Names) == 0 {
		return errors.New("name the workspaces to delete: tenancy workspace delete NAME [NAME]")
	}
	if err := cmdutil.ValidateTimeout(o.Timeout); err != nil {
		return err
	}
	return nil
}

// Run deletes each workspace (going on past failures) and, with --wait,
// waits for the ones deleted to be gone.
func (o *DeleteOptions) Run(ctx context.Context) error {
	c := o.client
	var errs []error
	var deleted []*tenancyv1.Workspace
	for _, name := range o.Names {
		// Delete the workspace the user named as it is now, never one
		// created again under that name meanwhile.
		ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		var opts []client.DeleteOption
		if err := c.Get(ctx, client.ObjectKey{Name: name}, ws); err == nil {
			opts = append(opts, client.Preconditions{UID: &ws.UID})
		}
		if err := c.Delete(ctx, ws, opts...); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.streams.Out, "workspace.tenancy.dev %q deleted\n", name)
		deleted = append(deleted, ws)
	}
	if o.Wait {
		for _, ws := range deleted {
			if err := cmdutil.ForDeleted(ctx, c, o.Timeout, ws); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(o.streams.Out, "workspace %s and its namespace are gone\n", ws.Name)
		}
	}
	return errors.Join(errs...)
}
