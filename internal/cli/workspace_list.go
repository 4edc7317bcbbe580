package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
)

// WorkspaceListOptions are the flags of `tenancy workspace list`.
type WorkspaceListOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	print   *genericclioptions.PrintFlags
	now     func() time.Time

	Mine bool
}

func newWorkspaceListCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &WorkspaceListOptions{streams: streams, print: newGetPrintFlags(), now: time.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List workspaces: name, owner, class, readiness, GPUs, age",
		Long: `List the workspaces you may see. A Tenancy admin sees all of them; so does
anyone granted create-workspaces (RBAC cannot filter a list by owner):
--mine keeps those you own or that are shared with you.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateGetOutput(o.print); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = kubeFlags(cmd)
	addGetPrintFlags(cmd, o.print)
	cmd.Flags().BoolVar(&o.Mine, "mine", false, "only workspaces you own or that are shared with you (or your groups)")
	return cmd
}

// newGetPrintFlags are -o yaml|json|name|jsonpath=…|go-template=…; "" and
// "wide" are the tables printed here.
func newGetPrintFlags() *genericclioptions.PrintFlags {
	return genericclioptions.NewPrintFlags("").WithTypeSetter(controller.Scheme())
}

func addGetPrintFlags(cmd *cobra.Command, p *genericclioptions.PrintFlags) {
	p.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = "output format: wide, " + strings.Join(p.AllowedFormats(), ", ")
}

func tableOutput(p *genericclioptions.PrintFlags) (table, wide bool) {
	switch *p.OutputFormat {
	case "":
		return true, false
	case "wide":
		return true, true
	}
	return false, false
}

func validateGetOutput(p *genericclioptions.PrintFlags) error {
	if table, _ := tableOutput(p); table {
		return nil
	}
	_, err := p.ToPrinter()
	return err
}

// Run lists the workspaces.
func (o *WorkspaceListOptions) Run(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	list := &tenancyv1.WorkspaceList{}
	if err := c.List(ctx, list); err != nil {
		return explain(ctx, c, err)
	}
	if o.Mine {
		me, err := whoAmI(ctx, c)
		if err != nil {
			return err
		}
		list.Items = slices.DeleteFunc(list.Items, func(ws tenancyv1.Workspace) bool { return !involves(&ws, me) })
	}
	slices.SortFunc(list.Items, func(a, b tenancyv1.Workspace) int { return strings.Compare(a.Name, b.Name) })

	table, wide := tableOutput(o.print)
	if !table {
		p, err := o.print.ToPrinter()
		if err != nil {
			return err
		}
		for i := range list.Items {
			list.Items[i].ManagedFields = nil
		}
		return p.PrintObj(list, o.streams.Out)
	}
	if len(list.Items) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "No workspaces found.")
		return nil
	}
	return printWorkspaceTable(o.streams.Out, list.Items, wide, o.now())
}

// involves says whether the workspace names the user, or one of the
// user's groups, as owner or contributor.
func involves(ws *tenancyv1.Workspace, u authenticationv1.UserInfo) bool {
	is := func(s tenancyv1.Subject) bool {
		switch s.Kind {
		case tenancyv1.UserKind:
			return s.Name == u.Username
		case tenancyv1.GroupKind:
			return slices.Contains(u.Groups, s.Name)
		case tenancyv1.ServiceAccountKind:
			return u.Username == "system:serviceaccount:"+s.Namespace+":"+s.Name
		}
		return false
	}
	if ws.Spec.Owner != nil && is(*ws.Spec.Owner) {
		return true
	}
	return slices.ContainsFunc(ws.Spec.Contributors, func(c tenancyv1.Contributor) bool { return is(c.Subject) })
}

func printWorkspaceTable(out io.Writer, items []tenancyv1.Workspace, wide bool, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	header := "NAME\tOWNER\tCLASS\tREADY\tGPUS\tAGE"
	if wide {
		header += "\tCONTRIBUTORS\tREASON"
	}
	fmt.Fprintln(w, header)
	for i := range items {
		ws := &items[i]
		ready, reason := "Unknown", ""
		if c := meta.FindStatusCondition(ws.Status.Conditions, tenancyv1.ConditionReady); c != nil {
			ready, reason = string(c.Status), c.Reason
		}
		row := []string{ws.Name, shortSubject(ws.Spec.Owner), orNone(workspaceClass(ws)), ready, orNone(ws.Status.GPUs), age(ws.CreationTimestamp, now)}
		if wide {
			row = append(row, orNone(contributorList(ws.Spec.Contributors)), orNone(reason))
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return w.Flush()
}

// workspaceClass is the class that applies: as the controller reported it,
// else as named.
func workspaceClass(ws *tenancyv1.Workspace) string {
	if ws.Status.Class != "" {
		return ws.Status.Class
	}
	return ws.Spec.Class
}

func contributorList(cs []tenancyv1.Contributor) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, shortSubject(&c.Subject)+"="+string(c.Role))
	}
	return strings.Join(parts, ",")
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}
