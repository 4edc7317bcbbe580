package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
)

// UserListOptions are the flags of `tenancy user list`.
type UserListOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	print   *genericclioptions.PrintFlags
	now     func() time.Time

	printer printers.ResourcePrinter // nil: the table
	wide    bool
}

func newUserListCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &UserListOptions{
		streams: streams,
		print:   genericclioptions.NewPrintFlags("").WithTypeSetter(controller.Scheme()),
		now:     time.Now,
	}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List users with their groups, workspaces and latest credential",
		Example: userExamples(`  tenancy user list
  tenancy user list -o wide
  tenancy user list -o yaml`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = userKubeFlags(cmd)
	o.print.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = "output format: wide, yaml, json, name, jsonpath=…, go-template=…; a table when empty"
	return cmd
}

// Complete picks the printer from -o.
func (o *UserListOptions) Complete() error {
	switch f := *o.print.OutputFormat; f {
	case "":
		return nil
	case "wide":
		o.wide = true
		return nil
	default:
		p, err := o.print.ToPrinter()
		if err != nil {
			return fmt.Errorf("-o %q is not an output format: use wide, %s", f, strings.Join(o.print.AllowedFormats(), ", "))
		}
		o.printer = p
		return nil
	}
}

// Run lists the users.
func (o *UserListOptions) Run(ctx context.Context) error {
	a, err := userConnect(o.kube)
	if err != nil {
		return err
	}
	users := &tenancyv1.UserList{}
	if err := a.c.List(ctx, users); err != nil {
		return fmt.Errorf("list Users: %w", userAPIError(err))
	}
	sort.Slice(users.Items, func(i, j int) bool { return users.Items[i].Name < users.Items[j].Name })
	if o.printer != nil {
		for i := range users.Items {
			users.Items[i].APIVersion, users.Items[i].Kind = tenancyv1.GroupVersion.String(), "User"
		}
		return o.printer.PrintObj(users, o.streams.Out)
	}
	if len(users.Items) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "No users found")
		return nil
	}
	workspaces := &tenancyv1.WorkspaceList{}
	if err := a.c.List(ctx, workspaces); err != nil {
		return fmt.Errorf("list Workspaces: %w", err)
	}
	table := userTable(users.Items, workspaces.Items, o.now())
	return printers.NewTablePrinter(printers.PrintOptions{Wide: o.wide}).PrintObj(table, o.streams.Out)
}

// userTable is the table of users; columns of priority 1 show with -o wide.
func userTable(users []tenancyv1.User, workspaces []tenancyv1.Workspace, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string"},
		{Name: "Groups", Type: "string"},
		{Name: "Workspaces", Type: "string", Description: "workspaces the user owns"},
		{Name: "Credential", Type: "string", Description: "kind of the latest credential"},
		{Name: "Expires", Type: "string", Description: "when the latest credential expires"},
		{Name: "Disabled", Type: "boolean", Priority: 1},
		{Name: "Contributor", Type: "string", Priority: 1, Description: "workspaces shared with the user, with the role"},
		{Name: "ServiceAccount", Type: "string", Priority: 1, Description: "the ServiceAccount of token credentials"},
		{Name: "Age", Type: "string", Priority: 1},
	}}
	for i := range users {
		u := &users[i]
		var shared []string
		for j := range workspaces {
			if role, ok := userContributorRole(&workspaces[j], u.Name); ok && !userIsOwner(&workspaces[j], u.Name) {
				shared = append(shared, workspaces[j].Name+"("+string(role)+")")
			}
		}
		sort.Strings(shared)
		kind, expires := "<none>", "<none>"
		if n := len(u.Status.Credentials); n > 0 {
			c := u.Status.Credentials[n-1]
			kind = string(c.Kind)
			if left := c.ExpiresAt.Sub(now); left > 0 {
				expires = "in " + duration.HumanDuration(left)
			} else {
				expires = "expired " + duration.HumanDuration(-left) + " ago"
			}
		}
		sa := "<none>"
		if s := u.Status.ServiceAccount; s != nil {
			sa = s.Namespace + "/" + s.Name
		}
		t.Rows = append(t.Rows, metav1.TableRow{
			Cells: []any{
				u.Name, userOrNone(u.Spec.Groups), userOrNone(userOwnedWorkspaces(workspaces, u.Name)), kind, expires,
				u.Spec.Disabled, userOrNone(shared), sa, duration.HumanDuration(now.Sub(u.CreationTimestamp.Time)),
			},
			Object: runtime.RawExtension{Object: u},
		})
	}
	return t
}

func userOrNone(ss []string) string {
	if len(ss) == 0 {
		return "<none>"
	}
	return strings.Join(ss, ",")
}
