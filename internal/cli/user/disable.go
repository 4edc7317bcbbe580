package user

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/cli/grant"
)

// DisableOptions are the flags of `tenancy user disable` and `enable`.
type DisableOptions struct {
	streams genericiooptions.IOStreams
	admin   *userAdmin

	Name    string
	Disable bool
	Wait    bool
	Timeout time.Duration

	self string
}

func newDisableCommand(f *cmdutil.Factory, disable bool) *cobra.Command {
	o := &DisableOptions{Disable: disable}
	verb, short := "enable", "Give a disabled user their access back"
	if disable {
		verb, short = "disable", "Withdraw all of a user's access at once, keeping their workspaces and declarations"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Long: short + `.

A disabled user keeps their User, workspaces and credentials, but the
controller removes every binding naming them — their workspaces' and their
self-serve grant's — so each of their credentials is refused (403) until
they are enabled again.`,
		Args:              cmdutil.ExactName("user name", "alex"),
		ValidArgsFunction: cmdutil.CompleteUsers(f),
		RunE:              cmdutil.RunE(f, o),
	}
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "wait until the user's access has changed; --wait=false returns at once")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", time.Minute, "how long --wait waits")
	return cmd
}

// Complete takes the name and the admin's clients.
func (o *DisableOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.self, o.Name = f.Streams, f.Self, args[0]
	var err error
	o.admin, err = userConnect(f)
	return err
}

// Validate checks the flags.
func (o *DisableOptions) Validate() error {
	if err := validateUserName(o.Name); err != nil {
		return err
	}
	if err := cmdutil.ValidateTimeout(o.Timeout); err != nil {
		return err
	}
	return nil
}

// Run sets spec.disabled and waits until the user's access follows.
func (o *DisableOptions) Run(ctx context.Context) error {
	out := o.streams.Out
	a := o.admin
	verb := "enabled"
	if o.Disable {
		verb = "disabled"
	}
	u := &tenancyv1.User{}
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := a.c.Get(ctx, client.ObjectKey{Name: o.Name}, u); err != nil {
			return err
		}
		if u.Spec.Disabled == o.Disable {
			return nil
		}
		u.Spec.Disabled = o.Disable
		changed = true
		return a.c.Update(ctx, u, client.FieldOwner(userFieldManager))
	})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("user %q not found ('%s user list' lists users)", o.Name, o.self)
	case err != nil:
		return fmt.Errorf("update User %s: %w", o.Name, err)
	case !changed:
		fmt.Fprintf(out, "User %s is already %s\n", o.Name, verb)
		return nil
	}
	fmt.Fprintf(out, "User %s %s\n", o.Name, verb)
	if !o.Wait {
		return nil
	}

	// Groups are left out of the checks: bindings of the user's groups are
	// not Tenancy's to withdraw.
	_, _, granted, err := grant.GrantedClasses(ctx, a.c, tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: o.Name})
	if err != nil {
		return fmt.Errorf("read the grants of User %s: %w", o.Name, err)
	}
	if granted {
		for _, id := range userIdentities(u) {
			id.groups = nil
			if err := userWaitCreateWorkspaces(ctx, a.cs, id, !o.Disable, o.Timeout); err != nil {
				return err
			}
		}
		if o.Disable {
			fmt.Fprintf(out, "User %s's grant to create workspaces is suspended\n", o.Name)
		} else {
			fmt.Fprintf(out, "User %s may create workspaces again\n", o.Name)
		}
	}
	list := &tenancyv1.WorkspaceList{}
	if err := a.c.List(ctx, list); err != nil {
		return fmt.Errorf("list Workspaces: %w", err)
	}
	owned := userOwnedWorkspaces(list.Items, o.Name)
	if len(owned) == 0 {
		return nil
	}
	for _, id := range userIdentities(u) {
		// Groups are left out: bindings of the user's groups are not Tenancy's to withdraw.
		id.groups = nil
		if err := userWaitAccess(ctx, a.cs, id, owned[0], !o.Disable, o.Timeout); err != nil {
			return err
		}
	}
	if o.Disable {
		fmt.Fprintf(out, "User %s's credentials are now refused in workspace %s\n", o.Name, owned[0])
	} else {
		fmt.Fprintf(out, "User %s's credentials work again in workspace %s\n", o.Name, owned[0])
	}
	return nil
}
