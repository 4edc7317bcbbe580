package user

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// ListOptions are the flags of `tenancy user list`.
type ListOptions struct {
	streams genericiooptions.IOStreams
	admin   *userAdmin
	print   *cmdutil.PrintFlags
	now     func() time.Time
}

func newListCommand(f *cmdutil.Factory) *cobra.Command {
	o := &ListOptions{print: cmdutil.NewPrintFlags("", true)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List users with their groups, workspaces and latest credential",
		Example: `  tenancy user list
  tenancy user list -o wide
  tenancy user list -o yaml`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	return cmd
}

// Complete takes the admin's clients.
func (o *ListOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	o.streams, o.now = f.Streams, f.Now
	var err error
	o.admin, err = userConnect(f)
	return err
}

// Validate checks -o.
func (o *ListOptions) Validate() error { return o.print.Validate() }

// Run lists the users.
func (o *ListOptions) Run(ctx context.Context) error {
	a := o.admin
	users := &tenancyv1.UserList{}
	if err := a.c.List(ctx, users); err != nil {
		return fmt.Errorf("list Users: %w", err)
	}
	slices.SortFunc(users.Items, func(a, b tenancyv1.User) int { return strings.Compare(a.Name, b.Name) })
	if t, _ := o.print.Table(); t && len(users.Items) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "No users found")
		return nil
	}
	return o.print.Print(o.streams.Out, users, func() (*metav1.Table, error) {
		workspaces := &tenancyv1.WorkspaceList{}
		if err := a.c.List(ctx, workspaces); err != nil {
			return nil, fmt.Errorf("list Workspaces: %w", err)
		}
		return userTable(users.Items, workspaces.Items, o.now()), nil
	})
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
			if role, ok := contributorRole(&workspaces[j], u.Name); ok && !workspaces[j].IsOwnedByUser(u.Name) {
				shared = append(shared, workspaces[j].Name+"("+string(role)+")")
			}
		}
		slices.Sort(shared)
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
