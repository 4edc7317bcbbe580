package job

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// ListOptions are the flags of `tenancy job list`.
type ListOptions struct {
	streams genericiooptions.IOStreams
	conn    *conn
	print   *cmdutil.PrintFlags
	now     func() time.Time

	AllNamespaces bool
	State         string
	Mine          bool
}

func newListCommand(f *cmdutil.Factory) *cobra.Command {
	o := &ListOptions{print: cmdutil.NewPrintFlags("", true)}
	cmd := &cobra.Command{
		Use:     "list [-n WORKSPACE | -A]",
		Aliases: []string{"ls"},
		Short:   "List the jobs of a workspace: state, tasks, who submitted them",
		Long: `List the jobs of a workspace, newest first, with their state. -A lists
them in every workspace you may read jobs in (RBAC decides: someone who may
list jobs in every namespace sees them all). -o yaml|json|name prints the
Jobs (batch/v1) themselves.`,
		Example: `  tenancy job list
  tenancy job list -n workplace3 --state Running -o wide
  tenancy job list -A --mine`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "list the jobs of every workspace you may read")
	fl.StringVar(&o.State, "state", "", "only jobs in this state: Queued, Running, Succeeded, Failed or Cancelled")
	fl.BoolVar(&o.Mine, "mine", false, "only the jobs you submitted")
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(states, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

var states = []string{string(jobs.Queued), string(jobs.Running), string(jobs.Succeeded), string(jobs.Failed), string(jobs.Cancelled)}

// Complete takes the clients and the workspace.
func (o *ListOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	o.streams, o.now = f.Streams, f.Now
	var err error
	o.conn, err = connect(f, o.AllNamespaces)
	return err
}

// Validate checks --state and -o.
func (o *ListOptions) Validate() error {
	if o.State != "" {
		found := false
		for _, s := range states {
			if strings.EqualFold(s, o.State) {
				o.State, found = s, true
			}
		}
		if !found {
			return fmt.Errorf("--state %q is not one of %s", o.State, strings.Join(states, ", "))
		}
	}
	return o.print.Validate()
}

// Run lists the jobs.
func (o *ListOptions) Run(ctx context.Context) error {
	c := o.conn
	filter := jobs.Filter{State: jobs.State(o.State)}
	if o.Mine {
		me, err := cmdutil.WhoAmI(ctx, c.kube)
		if err != nil {
			return err
		}
		filter.SubmittedBy = jobs.SubmitterOf(me.Username)
	}
	list, err := c.jobs.List(ctx, c.namespace, filter)
	if err != nil {
		return err
	}
	if t, _ := o.print.Table(); t {
		if len(list) == 0 {
			where := "in workspace " + c.namespace
			if o.AllNamespaces {
				where = "in any workspace you may read"
			}
			fmt.Fprintf(o.streams.ErrOut, "No jobs found %s.\n", where)
			return nil
		}
		return o.print.Print(o.streams.Out, nil, func() (*metav1.Table, error) {
			return jobTable(list, o.AllNamespaces, o.now()), nil
		})
	}
	out := &batchv1.JobList{}
	for _, s := range list {
		job, err := c.batchJob(ctx, s.Namespace, s.Name)
		if err != nil {
			continue // deleted meanwhile
		}
		out.Items = append(out.Items, *job)
	}
	return o.print.Print(o.streams.Out, out, nil)
}

// jobTable is the table of jobs; -A adds the workspace, -o wide the rest.
func jobTable(list []jobs.Summary, allNamespaces bool, now time.Time) *metav1.Table {
	cols := []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name"},
		{Name: "State", Type: "string", Description: "Queued, Running, Succeeded, Failed or Cancelled"},
		{Name: "Tasks", Type: "string", Description: "tasks succeeded/all"},
		{Name: "Submitted-By", Type: "string"},
		{Name: "Age", Type: "string"},
		{Name: "Reason", Type: "string", Priority: 1, Description: "why it is Queued, Failed or Cancelled"},
		{Name: "Exit", Type: "string", Priority: 1, Description: "the exit code of a failed task"},
		{Name: "Command", Type: "string", Priority: 1},
	}
	if allNamespaces {
		cols = append([]metav1.TableColumnDefinition{{Name: "Workspace", Type: "string"}}, cols...)
	}
	t := &metav1.Table{ColumnDefinitions: cols}
	for _, s := range list {
		exit := ""
		if s.ExitCode != nil {
			exit = fmt.Sprint(*s.ExitCode)
		}
		cells := []any{s.Name, string(s.State), fmt.Sprintf("%d/%d", s.SucceededTasks, s.Tasks), s.SubmittedBy,
			duration.HumanDuration(now.Sub(s.Created)), s.Reason, exit, strings.Join(s.Command, " ")}
		if allNamespaces {
			cells = append([]any{s.Namespace}, cells...)
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace}}}})
	}
	return t
}
