package workspace

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// ListOptions are the flags of `tenancy workspace list`.
type ListOptions struct {
	streams genericiooptions.IOStreams
	client  client.Client
	print   *cmdutil.PrintFlags

	Mine bool
}

func newListCommand(f *cmdutil.Factory) *cobra.Command {
	o := &ListOptions{print: cmdutil.NewPrintFlags("", true)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List workspaces: the columns of 'kubectl get workspaces'",
		Long: `List the workspaces you may see, with the columns 'kubectl get workspaces'
prints (the CRD's printer columns); -o wide adds the class, the reason of
Ready and the contributors.

A Tenancy admin sees all of them; so does anyone granted create-workspaces
(RBAC cannot filter a list by owner): --mine keeps those you own or that
are shared with you.`,
		Example: `  tenancy workspace list
  tenancy workspace list --mine -o wide
  tenancy workspace list -o jsonpath='{.items[*].metadata.name}'`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	cmd.Flags().BoolVar(&o.Mine, "mine", false, "only workspaces you own or that are shared with you (or your groups)")
	return cmd
}

// Complete takes the client.
func (o *ListOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	o.streams = f.Streams
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks -o.
func (o *ListOptions) Validate() error { return o.print.Validate() }

// Run lists the workspaces.
func (o *ListOptions) Run(ctx context.Context) error {
	list := &tenancyv1.WorkspaceList{}
	if err := o.client.List(ctx, list); err != nil {
		return err
	}
	if o.Mine {
		me, err := cmdutil.WhoAmI(ctx, o.client)
		if err != nil {
			return err
		}
		list.Items = slices.DeleteFunc(list.Items, func(ws tenancyv1.Workspace) bool { return !ws.Involves(me.Username, me.Groups) })
	}
	slices.SortFunc(list.Items, func(a, b tenancyv1.Workspace) int { return strings.Compare(a.Name, b.Name) })
	if t, _ := o.print.Table(); t && len(list.Items) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "No workspaces found.")
		return nil
	}
	return o.print.Print(o.streams.Out, list, func() (*metav1.Table, error) { return workspaceTable(ctx, list) })
}

// workspaceTable has the CRD's printer columns (those of `kubectl get
// workspaces`) and, for -o wide, the contributors.
func workspaceTable(ctx context.Context, list *tenancyv1.WorkspaceList) (*metav1.Table, error) {
	t, err := cmdutil.CRDTable(ctx, "workspaces", list)
	if err != nil {
		return nil, err
	}
	cells := make([]any, 0, len(list.Items))
	for _, ws := range list.Items {
		cells = append(cells, contributorList(ws.Spec.Contributors))
	}
	cmdutil.AddColumn(t, metav1.TableColumnDefinition{Name: "Contributors", Type: "string", Priority: 1,
		Description: "who the workspace is shared with, and their roles"}, cells)
	return t, nil
}

func contributorList(cs []tenancyv1.Contributor) any {
	if len(cs) == 0 {
		return nil
	}
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, cmdutil.ShortSubject(&c.Subject)+"="+string(c.Role))
	}
	return strings.Join(parts, ",")
}
