package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// WorkspaceDeleteOptions are the flags of `tenancy workspace delete`.
type WorkspaceDeleteOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags

	Names   []string
	Wait    bool
	Timeout time.Duration
}

func newWorkspaceDeleteCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &WorkspaceDeleteOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "delete NAME... [--wait]",
		Short: "Delete workspaces, their namespaces and everything in them",
		Long: `Delete workspaces. The controller deletes each namespace with everything in
it, and the RBAC it made; the Workspace is gone when that is done. With
--wait the command returns then. The owner, or a Tenancy admin, may delete.`,
		Example: `  tenancy workspace delete jane-ml --wait`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Names = args
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = kubeFlags(cmd)
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "wait until the workspaces and their namespaces are gone")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// Validate checks the flags.
func (o *WorkspaceDeleteOptions) Validate() error {
	if len(o.Names) == 0 {
		return errors.New("name the workspaces to delete: tenancy workspace delete NAME [NAME]")
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	return nil
}

// Run deletes each workspace (going on past failures) and, with --wait,
// waits for the ones deleted to be gone.
func (o *WorkspaceDeleteOptions) Run(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	var errs []error
	var deleted []string
	for _, name := range o.Names {
		// Delete the workspace the user named as it is now, never one
		// created again under that name meanwhile.
		ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		var opts []client.DeleteOption
		if err := c.Get(ctx, client.ObjectKey{Name: name}, ws); err == nil {
			opts = append(opts, client.Preconditions{UID: &ws.UID})
		}
		if err := c.Delete(ctx, ws, opts...); err != nil {
			errs = append(errs, explain(ctx, c, err))
			continue
		}
		fmt.Fprintf(o.streams.Out, "workspace.tenancy.dev %q deleted\n", name)
		deleted = append(deleted, name)
	}
	if o.Wait {
		for _, name := range deleted {
			if err := waitGone(ctx, c, name, o.Timeout); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(o.streams.Out, "workspace %s and its namespace are gone\n", name)
		}
	}
	return errors.Join(errs...)
}

// waitGone waits until the Workspace no longer exists: the controller
// removes its finalizer once the namespace is gone.
func waitGone(ctx context.Context, c client.Client, name string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ws := &tenancyv1.Workspace{}
		err := c.Get(ctx, client.ObjectKey{Name: name}, ws)
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			last = err.Error()
		default:
			last = "still terminating"
			if cond := ws.Condition(tenancyv1.ConditionReady); cond != nil && cond.Message != "" {
				last += ": " + cond.Message
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("workspace %s is not gone after %s (%s)", name, timeout, last)
	}
	return nil
}
