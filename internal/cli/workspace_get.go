package cli

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
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// WorkspaceGetOptions are the flags of `tenancy workspace get`.
type WorkspaceGetOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	print   *genericclioptions.PrintFlags
	now     func() time.Time

	Name string
}

func newWorkspaceGetCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &WorkspaceGetOptions{streams: streams, print: newGetPrintFlags(), now: time.Now}
	cmd := &cobra.Command{
		Use:     "get NAME",
		Aliases: []string{"describe", "show"},
		Short:   "Show a workspace: owner, class, contributors, quota used and hard, conditions",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.Name = args[0]
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = kubeFlags(cmd)
	addGetPrintFlags(cmd, o.print)
	return cmd
}

// Validate checks the name and the output format.
func (o *WorkspaceGetOptions) Validate() error {
	if o.Name == "" {
		return errors.New("a workspace name is required: tenancy workspace get NAME (tenancy workspace list shows them)")
	}
	return validateGetOutput(o.print)
}

// Run shows the workspace.
func (o *WorkspaceGetOptions) Run(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	ws := &tenancyv1.Workspace{}
	if err := c.Get(ctx, client.ObjectKey{Name: o.Name}, ws); err != nil {
		return explain(ctx, c, err)
	}
	table, wide := tableOutput(o.print)
	if !table {
		p, err := o.print.ToPrinter()
		if err != nil {
			return err
		}
		ws.ManagedFields = nil
		return p.PrintObj(ws, o.streams.Out)
	}
	if wide {
		return printWorkspaceTable(o.streams.Out, []tenancyv1.Workspace{*ws}, true, o.now())
	}
	return describeWorkspace(o.streams.Out, ws, o.now())
}

// describeWorkspace prints a workspace for a person, as kubectl describe.
func describeWorkspace(out io.Writer, ws *tenancyv1.Workspace, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	field := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
	field("Name", ws.Name)
	owner := "<none>"
	if ws.Spec.Owner != nil {
		owner = describeSubject(*ws.Spec.Owner)
	}
	field("Owner", owner)
	class := orNone(workspaceClass(ws))
	if ws.Spec.Class == "" && ws.Status.Class != "" {
		class += " (the default class)"
	}
	field("Class", class)
	field("Namespace", orNone(ws.Status.Namespace))
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
		field("Deleting", "since "+age(*ws.DeletionTimestamp, now)+" ago")
	}
	field("Age", age(ws.CreationTimestamp, now))
	if len(ws.Spec.Contributors) == 0 {
		field("Contributors", "<none>")
	} else {
		fmt.Fprintln(w, "Contributors:")
		for _, c := range ws.Spec.Contributors {
			fmt.Fprintf(w, "  %s\t%s\n", describeSubject(c.Subject), c.Role)
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
