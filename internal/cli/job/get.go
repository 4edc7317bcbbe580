package job

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// GetOptions are the flags of `tenancy job get`.
type GetOptions struct {
	streams genericiooptions.IOStreams
	conn    *conn
	print   *cmdutil.PrintFlags
	now     func() time.Time

	Name string
}

func newGetCommand(f *cmdutil.Factory) *cobra.Command {
	o := &GetOptions{print: cmdutil.NewPrintFlags("", false)}
	cmd := &cobra.Command{
		Use:               "get NAME",
		Aliases:           []string{"describe", "show"},
		Short:             "Show a job: state and reason, each task, command and resources",
		Example:           `  tenancy job get job-x7k2p`,
		Args:              cmdutil.ExactName("job name", "job-x7k2p"),
		ValidArgsFunction: completeJobs(f),
		RunE:              cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	return cmd
}

// Complete takes the name, the clients and the workspace.
func (o *GetOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.now, o.Name = f.Streams, f.Now, args[0]
	var err error
	o.conn, err = connect(f, false)
	return err
}

// Validate checks -o.
func (o *GetOptions) Validate() error { return o.print.Validate() }

// Run shows the job.
func (o *GetOptions) Run(ctx context.Context) error {
	c := o.conn
	if !o.print.Human() {
		job, err := c.batchJob(ctx, c.namespace, o.Name)
		if err != nil {
			return err
		}
		return o.print.Print(o.streams.Out, job, nil)
	}
	d, err := c.jobs.Get(ctx, c.namespace, o.Name)
	if err != nil {
		return err
	}
	return describeJob(o.streams.Out, d, o.now())
}

// describeJob prints a job for a person, as kubectl describe does.
func describeJob(out io.Writer, d *jobs.Detail, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	field := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
	field("Name", d.Name)
	field("Workspace", d.Namespace)
	field("State", describeState(d.State, d.Reason))
	if d.ExitCode != nil {
		field("Exit code", fmt.Sprint(*d.ExitCode))
	}
	field("Submitted by", cmdutil.OrNone(d.SubmittedBy))
	field("Tasks", fmt.Sprintf("%d (%d succeeded, %d failed, %d running)", d.Tasks, d.SucceededTasks, d.FailedTasks, d.ActiveTasks))
	field("Command", strings.Join(d.Command, " "))
	field("Image", cmdutil.OrNone(d.Image))
	var res []string
	if q := d.Resources.CPU; q != nil {
		res = append(res, "cpu="+q.String())
	}
	if q := d.Resources.Memory; q != nil {
		res = append(res, "memory="+q.String())
	}
	if d.Resources.GPU > 0 {
		res = append(res, fmt.Sprintf("gpu=%d", d.Resources.GPU))
	}
	field("Per task", cmdutil.OrNone(strings.Join(res, ", ")))
	if d.TimeLimitSeconds > 0 {
		field("Time limit", (time.Duration(d.TimeLimitSeconds) * time.Second).String())
	}
	field("Created", duration.HumanDuration(now.Sub(d.Created))+" ago")
	if d.Started != nil {
		field("Started", duration.HumanDuration(now.Sub(*d.Started))+" ago")
	}
	if d.Finished != nil {
		field("Finished", duration.HumanDuration(now.Sub(*d.Finished))+" ago")
	}
	if d.OutputPath != "" {
		field("Output", d.OutputPath)
	}
	if len(d.TaskStatus) > 0 {
		fmt.Fprintln(w, "Tasks:")
		fmt.Fprintln(w, "  TASK\tSTATE\tEXIT\tPOD\tREASON")
		for _, t := range d.TaskStatus {
			exit := ""
			if t.ExitCode != nil {
				exit = fmt.Sprint(*t.ExitCode)
			}
			fmt.Fprintf(w, "  %d\t%s\t%s\t%s\t%s\n", t.Index, t.State, exit, cmdutil.OrNone(t.Pod), t.Reason)
		}
	}
	return w.Flush()
}
