package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// SubmitOptions are the flags of `tenancy job submit`.
type SubmitOptions struct {
	streams genericiooptions.IOStreams
	conn    *conn
	print   *cmdutil.PrintFlags

	Name      string
	Image     string
	Tasks     int32
	GPUs      int64
	CPU       string
	Memory    string
	TimeLimit time.Duration
	Env       []string
	Workdir   string
	DryRun    bool
	Wait      bool
	Timeout   time.Duration

	submission jobs.Submission
}

func newSubmitCommand(f *cmdutil.Factory) *cobra.Command {
	o := &SubmitOptions{print: cmdutil.NewPrintFlags("submitted", false)}
	cmd := &cobra.Command{
		Use:   "submit [-n WORKSPACE] [--tasks N] [--gpus N] [--cpu Q] [--memory Q] [--time-limit D] [--env K=V] [--wait] -- COMMAND [ARG...]",
		Short: "Run a command as a job in a workspace",
		Long: `Run COMMAND (everything after --) as a job in the workspace, created with
your identity. --tasks N runs N tasks (an Indexed Job); each sees its index
in JOB_COMPLETION_INDEX and has its own output. --cpu, --memory and --gpus
are per task; a job that can never fit the workspace's quota is refused at
once, naming the resource. --time-limit ends the job after that long.

With --wait the command returns when the job has ended, and fails unless it
Succeeded.`,
		Example: `  # One task, in the workspace of your kubeconfig
  tenancy job submit -- python train.py --epochs 3

  # Four tasks of one GPU each in workplace3, at most an hour, and wait for the end
  tenancy job submit -n workplace3 --tasks 4 --gpus 1 --time-limit 1h --wait -- sh -c 'echo task $JOB_COMPLETION_INDEX'

  # Just the name, for scripts
  name=$(tenancy job submit -o name -- sleep 60)`,
		Args: cobra.ArbitraryArgs,
		RunE: cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.Name, "name", "", "name of the job (default: generated, job-…)")
	fl.StringVar(&o.Image, "image", "", "container image (default: the workspace class's; process nodes run the command as it is)")
	fl.Int32Var(&o.Tasks, "tasks", 1, "number of tasks; more than 1 makes an Indexed Job")
	fl.Int64Var(&o.GPUs, "gpus", 0, "GPUs per task (nvidia.com/gpu)")
	fl.StringVar(&o.CPU, "cpu", "", "CPU per task, e.g. 500m or 2")
	fl.StringVar(&o.Memory, "memory", "", "memory per task, e.g. 512Mi or 4Gi")
	fl.DurationVar(&o.TimeLimit, "time-limit", 0, "end the job after this long, e.g. 30m (default: no limit)")
	fl.StringArrayVar(&o.Env, "env", nil, "environment variable K=V of every task (repeatable)")
	fl.StringVar(&o.Workdir, "workdir", "", "working directory of every task")
	fl.BoolVar(&o.DryRun, "dry-run", false, "have the API server check the job (admission, quota) without creating it")
	fl.BoolVar(&o.Wait, "wait", false, "wait until the job has ended; fail unless it Succeeded")
	fl.DurationVar(&o.Timeout, "timeout", time.Hour, "how long --wait waits")
	return cmd
}

// Complete takes the command (after --), the clients and the workspace.
func (o *SubmitOptions) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.streams = f.Streams
	if at := cmd.ArgsLenAtDash(); at > 0 {
		return fmt.Errorf("%q comes before --: the command to run goes after --, e.g. tenancy job submit -- %s", args[0], strings.Join(args, " "))
	}
	o.submission = jobs.Submission{
		Name: o.Name, Command: args, Image: o.Image, Tasks: o.Tasks, TimeLimit: o.TimeLimit, Workdir: o.Workdir,
		Resources: jobs.Resources{GPU: o.GPUs},
	}
	var err error
	o.conn, err = connect(f, false)
	return err
}

// Validate checks the flags; internal/jobs checks the submission.
func (o *SubmitOptions) Validate() error {
	s := &o.submission
	if len(s.Command) == 0 {
		return errors.New("what should the job run? give the command after --, e.g. tenancy job submit -- echo hello")
	}
	if o.Tasks < 1 {
		return fmt.Errorf("--tasks %d: a job has at least 1 task", o.Tasks)
	}
	if o.GPUs < 0 {
		return fmt.Errorf("--gpus %d: give 0 or more GPUs per task", o.GPUs)
	}
	for flag, v := range map[string]struct {
		in  string
		out **resource.Quantity
	}{"--cpu": {o.CPU, &s.Resources.CPU}, "--memory": {o.Memory, &s.Resources.Memory}} {
		if v.in == "" {
			continue
		}
		q, err := resource.ParseQuantity(v.in)
		if err != nil {
			return fmt.Errorf("%s %q is not a quantity (e.g. 500m, 2, 512Mi, 4Gi)", flag, v.in)
		}
		*v.out = &q
	}
	for _, kv := range o.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--env %q: want NAME=VALUE, e.g. --env EPOCHS=3", kv)
		}
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[k] = v
	}
	if err := cmdutil.ValidateTimeout(o.Timeout); err != nil {
		return err
	}
	if o.Wait && o.DryRun {
		return errors.New("--wait and --dry-run: a dry run creates no job to wait for")
	}
	if err := o.print.Validate(); err != nil {
		return err
	}
	return s.Validate()
}

// Run submits the job, as the caller.
func (o *SubmitOptions) Run(ctx context.Context) error {
	c := o.conn
	me, err := cmdutil.WhoAmI(ctx, c.kube)
	if err != nil {
		return err
	}
	sum, err := c.jobs.Submit(ctx, c.namespace, jobs.SubmitterOf(me.Username), o.submission, o.DryRun)
	if err != nil {
		return err
	}
	if o.print.Human() {
		what := "submitted"
		if o.DryRun {
			what = "checked (dry run: nothing was created)"
		}
		fmt.Fprintf(o.streams.Out, "job %s %s in workspace %s (%d task%s)\n", sum.Name, what, sum.Namespace, sum.Tasks, plural(sum.Tasks))
	}
	if o.Wait {
		if sum, err = waitEnded(ctx, c, sum.Namespace, sum.Name, o.Timeout); err != nil {
			return err
		}
	}
	if !o.print.Human() && !o.DryRun {
		job, err := c.batchJob(ctx, sum.Namespace, sum.Name)
		if err != nil {
			return err
		}
		if err := o.print.Print(o.streams.Out, job, nil); err != nil {
			return err
		}
	}
	if o.Wait {
		return ended(o.streams, o.print.Human(), sum)
	}
	return nil
}

func plural(n int32) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// waitEnded waits until the job has ended (Succeeded, Failed, Cancelled).
func waitEnded(ctx context.Context, c *conn, ns, name string, timeout time.Duration) (*jobs.Summary, error) {
	var last *jobs.Summary
	err := cmdutil.Until(ctx, timeout, "job "+name+" has not ended", func(ctx context.Context) (bool, string) {
		d, err := c.jobs.Get(ctx, ns, name)
		if err != nil {
			return false, err.Error()
		}
		last = &d.Summary
		switch d.State {
		case jobs.Succeeded, jobs.Failed, jobs.Cancelled:
			return true, ""
		}
		return false, describeState(d.State, d.Reason)
	})
	return last, err
}

// ended says how the job ended, and fails unless it Succeeded.
func ended(streams genericiooptions.IOStreams, human bool, s *jobs.Summary) error {
	if s.State == jobs.Succeeded {
		if human {
			fmt.Fprintf(streams.Out, "job %s Succeeded\n", s.Name)
		}
		return nil
	}
	msg := fmt.Sprintf("job %s %s", s.Name, describeState(s.State, s.Reason))
	if s.ExitCode != nil {
		msg += fmt.Sprintf(" (exit code %d)", *s.ExitCode)
	}
	return fmt.Errorf("%s: 'tenancy job logs %s' shows its output", msg, s.Name)
}

func describeState(s jobs.State, reason string) string {
	if reason == "" {
		return string(s)
	}
	return string(s) + ": " + reason
}
