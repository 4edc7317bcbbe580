package workspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// GetOptions are the flags of `tenancy workspace get`.
type GetOptions struct {
	streams genericiooptions.IOStreams
	client  client.Client
	print   *cmdutil.PrintFlags
	now     func() time.Time

	Name string
}

func newGetCommand(f *cmdutil.Factory) *cobra.Command {
	o := &GetOptions{print: cmdutil.NewPrintFlags("", true)}
	cmd := &cobra.Command{
		Use:     "get NAME",
		Aliases: []string{"describe", "show"},
		Short:   "Show a workspace: owner, class, contributors, quota used and hard, conditions",
		Long: `Show a workspace for a person, as kubectl describe does; -o wide prints its
row of 'tenancy workspace list -o wide', -o yaml|json|name|jsonpath=… the object.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: cmdutil.CompleteWorkspaces(f),
		RunE:              cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	return cmd
}

// Complete takes the name and the client.
func (o *GetOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.now = f.Streams, f.Now
	if len(args) > 0 {
		o.Name = args[0]
	}
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks the name and the output format.
func (o *GetOptions) Validate() error {
	if o.Name == "" {
		return errors.New("a workspace name is required: tenancy workspace get NAME (tenancy workspace list shows them)")
	}
	return o.print.Validate()
}

// Run shows the workspace.
func (o *GetOptions) Run(ctx context.Context) error {
	ws := &tenancyv1.Workspace{}
	if err := o.client.Get(ctx, client.ObjectKey{Name: o.Name}, ws); err != nil {
		return err
	}
	if o.print.Human() {
		return describeWorkspace(o.streams.Out, ws, o.now())
	}
	return o.print.Print(o.streams.Out, ws, func() (*metav1.Table, error) {
		return workspaceTable(ctx, &tenancyv1.WorkspaceList{Items: []tenancyv1.Workspace{*ws}})
	})
}

// describeWorkspace prints a workspace for a person, as kubectl describe.
func describeWorkspace(out io.Writer, ws *tenancyv1.Workspace, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	field := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
	field("Name", ws.Name)
	owner := "<none>"
	if ws.Spec.Owner != nil {
		owner = cmdutil.DescribeSubject(*ws.Spec.Owner)
	}
	field("Owner", owner)
	class := cmdutil.OrNone(workspaceClass(ws))
	if ws.Spec.Class == "" && ws.Status.Class != "" {
		class += " (the default class)"
	}
	field("Class", class)
	field("Namespace", cmdutil.OrNone(ws.Status.Namespace))
	if ws.Status.OwnerRole != "" {
		field("Owner role", ws.Status.OwnerRole)
	}
	pool := "<any node>"
	if len(ws.Status.NodeSelector) > 0 {
		pairs := make([]string, 0, len(ws.Status.NodeSelector))
		for k, v := range ws.Status.NodeSelector {
			pairs = append(pairs, k+"="+v)
		}
		slices.Sort(pairs)
		pool = strings.Join(pairs, ",")
	}
	field("Node pool", pool)
	ready := "Unknown"
	if c := meta.FindStatusCondition(ws.Status.Conditions, tenancyv1.ConditionReady); c != nil {
		ready = string(c.Status) + " (" + c.Reason + ")"
		if c.Status != "True" && c.Message != "" {
			ready += ": " + c.Message
		}
	}
	field("Ready", ready)
	if ws.DeletionTimestamp != nil {
		field("Deleting", "since "+cmdutil.Age(*ws.DeletionTimestamp, now)+" ago")
	}
	field("Age", cmdutil.Age(ws.CreationTimestamp, now))
	if len(ws.Spec.Contributors) == 0 {
		field("Contributors", "<none>")
	} else {
		fmt.Fprintln(w, "Contributors:")
		for _, c := range ws.Spec.Contributors {
			fmt.Fprintf(w, "  %s\t%s\n", cmdutil.DescribeSubject(c.Subject), c.Role)
		}
	}
	if q := ws.Status.Quota; q != nil && len(q.Hard) > 0 {
		fmt.Fprintln(w, "Quota:")
		fmt.Fprintln(w, "  RESOURCE\tUSED\tHARD")
		names := make([]string, 0, len(q.Hard))
		for n := range q.Hard {
			names = append(names, string(n))
		}
		slices.Sort(names)
		for _, n := range names {
			used := "0"
			if u, ok := q.Used[corev1.ResourceName(n)]; ok {
				used = u.String()
			}
			hard := q.Hard[corev1.ResourceName(n)]
			fmt.Fprintf(w, "  %s\t%s\t%s\n", n, used, hard.String())
		}
	} else {
		field("Quota", "<none>")
	}
	if len(ws.Status.Conditions) > 0 {
		fmt.Fprintln(w, "Conditions:")
		fmt.Fprintln(w, "  TYPE\tSTATUS\tREASON\tMESSAGE")
		for _, c := range ws.Status.Conditions {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, strings.ReplaceAll(c.Message, "\n", " "))
		}
	}
	return w.Flush()
}
