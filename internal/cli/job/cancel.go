package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// CancelOptions are the flags of `tenancy job cancel` and `delete`.
type CancelOptions struct {
	streams genericiooptions.IOStreams
	conn    *conn
	delete  bool

	Names []string
}

func newCancelCommand(f *cmdutil.Factory) *cobra.Command {
	o := &CancelOptions{}
	return &cobra.Command{
		Use:   "cancel NAME...",
		Short: "Stop jobs: their pods end, and they stay listed as Cancelled",
		Long: `Cancel jobs: their pods are stopped and each stays listed as Cancelled
until it is deleted or its class's TTL passes. A job that has already
ended cannot be cancelled; delete it instead.`,
		Example:           `  tenancy job cancel job-x7k2p`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeJobs(f),
		RunE:              cmdutil.RunE(f, o),
	}
}

func newDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	o := &CancelOptions{delete: true}
	return &cobra.Command{
		Use:               "delete NAME...",
		Short:             "Delete jobs, with their pods and output (unless it was written to the workspace volume)",
		Example:           `  tenancy job delete job-x7k2p job-q9w3e`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeJobs(f),
		RunE:              cmdutil.RunE(f, o),
	}
}

func (o *CancelOptions) verb() string {
	if o.delete {
		return "delete"
	}
	return "cancel"
}

// Complete takes the names, the clients and the workspace.
func (o *CancelOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.Names = f.Streams, args
	if err := names(o.verb(), args); err != nil {
		return err
	}
	var err error
	o.conn, err = connect(f, false)
	return err
}

// Validate has nothing left to check.
func (o *CancelOptions) Validate() error { return nil }

// Run cancels or deletes each job, going on past failures.
func (o *CancelOptions) Run(ctx context.Context) error {
	c := o.conn
	var errs []error
	var me string
	if !o.delete {
		u, err := cmdutil.WhoAmI(ctx, c.kube)
		if err != nil {
			return err
		}
		me = jobs.SubmitterOf(u.Username)
	}
	for _, name := range o.Names {
		if o.delete {
			if err := c.jobs.Delete(ctx, c.namespace, name); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(o.streams.Out, "job %s deleted\n", name)
			continue
		}
		if _, err := c.jobs.Cancel(ctx, c.namespace, name, me); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.streams.Out, "job %s cancelled\n", name)
	}
	return errors.Join(errs...)
}
