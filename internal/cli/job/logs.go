package job

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// LogsOptions are the flags of `tenancy job logs`.
type LogsOptions struct {
	streams genericiooptions.IOStreams
	conn    *conn

	Name   string
	Follow bool
	Task   int
	Tail   int64
	Prefix bool

	options jobs.LogOptions
}

func newLogsCommand(f *cmdutil.Factory) *cobra.Command {
	o := &LogsOptions{}
	cmd := &cobra.Command{
		Use:   "logs NAME [-f] [--task N]",
		Short: "Print a job's output: every task in task order, or one task",
		Long: `Print the output of a job's tasks, in task order (--prefix starts each line
with its task), or of one task with --task N. -f follows the output as it
is written until the tasks end, waiting for tasks that have not started.

The output comes from the tasks' pods: it is gone once the pods are (the
job deleted, or its TTL passed), unless the workspace has a volume, where
each task's output is also written ('tenancy job get' says where).`,
		Example: `  tenancy job logs job-x7k2p -f
  tenancy job logs job-x7k2p --task 2 --tail 20`,
		Args:              cmdutil.ExactName("job name", "job-x7k2p"),
		ValidArgsFunction: completeJobs(f),
		RunE:              cmdutil.RunE(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Follow, "follow", "f", false, "follow the output until the tasks end")
	fl.IntVar(&o.Task, "task", -1, "only this task (its JOB_COMPLETION_INDEX, from 0)")
	fl.Int64Var(&o.Tail, "tail", -1, "only the last N lines of each task")
	fl.BoolVar(&o.Prefix, "prefix", false, "start each line with [task N]")
	return cmd
}

// Complete takes the name, the clients and the workspace.
func (o *LogsOptions) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.streams, o.Name = f.Streams, args[0]
	o.options = jobs.LogOptions{Follow: o.Follow, Prefix: o.Prefix}
	if cmd.Flags().Changed("task") {
		o.options.Task = &o.Task
	}
	if cmd.Flags().Changed("tail") {
		o.options.Tail = &o.Tail
	}
	var err error
	o.conn, err = connect(f, false)
	return err
}

// Validate checks --task and --tail.
func (o *LogsOptions) Validate() error {
	if o.options.Task != nil && o.Task < 0 {
		return fmt.Errorf("--task %d: tasks count from 0", o.Task)
	}
	if o.options.Tail != nil && o.Tail < 0 {
		return fmt.Errorf("--tail %d: give a number of lines, 0 or more", o.Tail)
	}
	return nil
}

// Run prints the output.
func (o *LogsOptions) Run(ctx context.Context) error {
	return o.conn.jobs.Logs(ctx, o.conn.namespace, o.Name, o.options, o.streams.Out)
}
