package workspace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// ShareOptions are the flags of `tenancy workspace share` and `unshare`.
type ShareOptions struct {
	streams genericiooptions.IOStreams
	client  client.Client
	unshare bool

	Name           string
	User           string
	Group          string
	ServiceAccount string
	Role           string

	subject tenancyv1.Subject
	role    tenancyv1.ContributorRole
}

func newShareCommand(f *cmdutil.Factory, unshare bool) *cobra.Command {
	o := &ShareOptions{unshare: unshare}
	cmd := &cobra.Command{
		Use:   "share NAME (--user USER | --group GROUP | --serviceaccount NAMESPACE/NAME) --role admin|edit|view",
		Short: "Share a workspace with a user, group or ServiceAccount",
		Long: `Share a workspace: the subject becomes a contributor with the role admin,
edit or view in the workspace's namespace. Sharing again with another role
changes the role. The owner, or a Tenancy admin, may share.`,
		Example: `  tenancy workspace share jane-ml --user bob --role view
  tenancy workspace share jane-ml --group ml-team --role edit`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: cmdutil.CompleteWorkspaces(f),
		RunE:              cmdutil.RunE(f, o),
	}
	if unshare {
		cmd.Use = "unshare NAME (--user USER | --group GROUP | --serviceaccount NAMESPACE/NAME)"
		cmd.Short = "Stop sharing a workspace with a user, group or ServiceAccount"
		cmd.Long = ""
		cmd.Example = `  tenancy workspace unshare jane-ml --user bob`
	}
	// --user, --group and --serviceaccount name the subject, as in `kubectl
	// create rolebinding`: they shadow the connection flag --user.
	fl := cmd.Flags()
	fl.StringVar(&o.User, "user", "", "a user name")
	fl.StringVar(&o.Group, "group", "", "a group name")
	fl.StringVar(&o.ServiceAccount, "serviceaccount", "", "a ServiceAccount as NAMESPACE/NAME")
	_ = cmd.RegisterFlagCompletionFunc("user", cmdutil.CompleteUsers(f))
	if !unshare {
		fl.StringVar(&o.Role, "role", "", "admin, edit or view (required)")
		_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"admin", "edit", "view"}, cobra.ShellCompDirectiveNoFileComp))
	}
	return cmd
}

// Complete takes the name and the client.
func (o *ShareOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams = f.Streams
	if len(args) > 0 {
		o.Name = args[0]
	}
	var err error
	o.client, err = f.Client()
	return err
}

func (o *ShareOptions) verb() string {
	if o.unshare {
		return "unshare"
	}
	return "share"
}

// Validate checks and parses the flags.
func (o *ShareOptions) Validate() error {
	if o.Name == "" {
		return fmt.Errorf("a workspace name is required: tenancy workspace %s NAME", o.verb())
	}
	s, err := cmdutil.SubjectFromFlags(o.User, o.Group, o.ServiceAccount)
	if err != nil {
		return err
	}
	o.subject = s
	if !o.unshare {
		if o.role, err = cmdutil.ParseRole("--role:", o.Role); err != nil {
			return err
		}
	}
	return nil
}

// Run changes the contributors, retrying on conflicts. It patches only
// spec.contributors, so fields an admin set stay exactly as they are.
func (o *ShareOptions) Run(ctx context.Context) error {
	c := o.client
	var result string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ws := &tenancyv1.Workspace{}
		if err := c.Get(ctx, client.ObjectKey{Name: o.Name}, ws); err != nil {
			return err
		}
		before := ws.DeepCopy()
		var changed bool
		var err error
		if o.unshare {
			changed, result, err = o.remove(ws)
		} else {
			changed, result, err = o.add(ws)
		}
		if err != nil || !changed {
			return err
		}
		return c.Patch(ctx, ws, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.streams.Out, result)
	return nil
}

// add makes the subject a contributor with the role.
func (o *ShareOptions) add(ws *tenancyv1.Workspace) (changed bool, result string, err error) {
	who := cmdutil.DescribeSubject(o.subject)
	if ws.Spec.Owner != nil && ws.Spec.Owner.Is(o.subject) {
		return false, "", fmt.Errorf("%s owns workspace %s; an owner cannot also be a contributor", who, ws.Name)
	}
	for i, c := range ws.Spec.Contributors {
		if !c.Is(o.subject) {
			continue
		}
		if c.Role == o.role {
			return false, fmt.Sprintf("workspace %s is already shared with %s (%s)", ws.Name, who, c.Role), nil
		}
		ws.Spec.Contributors[i].Role = o.role
		return true, fmt.Sprintf("workspace %s is shared with %s (%s, was %s)", ws.Name, who, o.role, c.Role), nil
	}
	ws.Spec.Contributors = append(ws.Spec.Contributors, tenancyv1.Contributor{Subject: o.subject, Role: o.role})
	return true, fmt.Sprintf("workspace %s is shared with %s (%s)", ws.Name, who, o.role), nil
}

// remove takes the subject out of the contributors.
func (o *ShareOptions) remove(ws *tenancyv1.Workspace) (changed bool, result string, err error) {
	who := cmdutil.DescribeSubject(o.subject)
	i := slices.IndexFunc(ws.Spec.Contributors, func(c tenancyv1.Contributor) bool { return c.Is(o.subject) })
	if i < 0 {
		if ws.Spec.Owner != nil && ws.Spec.Owner.Is(o.subject) {
			return false, "", fmt.Errorf("%s owns workspace %s; only an admin can change the owner", who, ws.Name)
		}
		return false, "", errors.New(notSharedMessage(ws, who))
	}
	ws.Spec.Contributors = slices.Delete(ws.Spec.Contributors, i, i+1)
	return true, fmt.Sprintf("workspace %s is no longer shared with %s", ws.Name, who), nil
}

func notSharedMessage(ws *tenancyv1.Workspace, who string) string {
	if len(ws.Spec.Contributors) == 0 {
		return fmt.Sprintf("workspace %s is not shared with %s: it is shared with nobody", ws.Name, who)
	}
	others := make([]string, 0, len(ws.Spec.Contributors))
	for _, c := range ws.Spec.Contributors {
		others = append(others, cmdutil.DescribeSubject(c.Subject)+" ("+string(c.Role)+")")
	}
	return fmt.Sprintf("workspace %s is not shared with %s; it is shared with %s", ws.Name, who, strings.Join(others, ", "))
}
