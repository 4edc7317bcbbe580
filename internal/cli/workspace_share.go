package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// WorkspaceShareOptions are the flags of `tenancy workspace share` and
// `unshare`.
type WorkspaceShareOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	unshare bool

	Name           string
	User           string
	Group          string
	ServiceAccount string
	Role           string

	subject tenancyv1.Subject
	role    tenancyv1.ContributorRole
}

func newWorkspaceShareCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &WorkspaceShareOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "share NAME (--user USER | --group GROUP | --serviceaccount NAMESPACE/NAME) --role admin|edit|view",
		Short: "Share a workspace with a user, group or ServiceAccount",
		Long: `Share a workspace: the subject becomes a contributor with the role admin,
edit or view in the workspace's namespace. Sharing again with another role
changes the role. The owner, or a Tenancy admin, may share.`,
		Example: `  tenancy workspace share jane-ml --user bob --role view
  tenancy workspace share jane-ml --group ml-team --role edit`,
		Args: cobra.MaximumNArgs(1),
		RunE: o.runE,
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Role, "role", "", "admin, edit or view (required)")
	return cmd
}

func newWorkspaceUnshareCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &WorkspaceShareOptions{streams: streams, unshare: true}
	cmd := &cobra.Command{
		Use:     "unshare NAME (--user USER | --group GROUP | --serviceaccount NAMESPACE/NAME)",
		Short:   "Stop sharing a workspace with a user, group or ServiceAccount",
		Example: `  tenancy workspace unshare jane-ml --user bob`,
		Args:    cobra.MaximumNArgs(1),
		RunE:    o.runE,
	}
	o.addFlags(cmd)
	return cmd
}

func (o *WorkspaceShareOptions) addFlags(cmd *cobra.Command) {
	o.kube = kubeFlagsNoUser(cmd)
	f := cmd.Flags()
	f.StringVar(&o.User, "user", "", "a user name")
	f.StringVar(&o.Group, "group", "", "a group name")
	f.StringVar(&o.ServiceAccount, "serviceaccount", "", "a ServiceAccount as NAMESPACE/NAME")
}

func (o *WorkspaceShareOptions) runE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		o.Name = args[0]
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(cmd.Context())
}

func (o *WorkspaceShareOptions) verb() string {
	if o.unshare {
		return "unshare"
	}
	return "share"
}

// Validate checks and parses the flags.
func (o *WorkspaceShareOptions) Validate() error {
	if o.Name == "" {
		return fmt.Errorf("a workspace name is required: tenancy workspace %s NAME", o.verb())
	}
	s, err := subjectFromFlags(o.User, o.Group, o.ServiceAccount)
	if err != nil {
		return err
	}
	o.subject = s
	if !o.unshare {
		if o.role, err = parseRole("--role:", o.Role); err != nil {
			return err
		}
	}
	return nil
}

// Run changes the contributors, retrying on conflicts. It patches only
// spec.contributors, so fields an admin set stay exactly as they are.
func (o *WorkspaceShareOptions) Run(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	var result string
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
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
		return explain(ctx, c, err)
	}
	fmt.Fprintln(o.streams.Out, result)
	return nil
}

// add makes the subject a contributor with the role.
func (o *WorkspaceShareOptions) add(ws *tenancyv1.Workspace) (changed bool, result string, err error) {
	who := describeSubject(o.subject)
	if ws.Spec.Owner != nil && sameSubject(*ws.Spec.Owner, o.subject) {
		return false, "", fmt.Errorf("%s owns workspace %s; an owner cannot also be a contributor", who, ws.Name)
	}
	for i, c := range ws.Spec.Contributors {
		if !sameSubject(c.Subject, o.subject) {
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
func (o *WorkspaceShareOptions) remove(ws *tenancyv1.Workspace) (changed bool, result string, err error) {
	who := describeSubject(o.subject)
	i := slices.IndexFunc(ws.Spec.Contributors, func(c tenancyv1.Contributor) bool { return sameSubject(c.Subject, o.subject) })
	if i < 0 {
		if ws.Spec.Owner != nil && sameSubject(*ws.Spec.Owner, o.subject) {
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
		others = append(others, describeSubject(c.Subject)+" ("+string(c.Role)+")")
	}
	return fmt.Sprintf("workspace %s is not shared with %s; it is shared with %s", ws.Name, who, strings.Join(others, ", "))
}
