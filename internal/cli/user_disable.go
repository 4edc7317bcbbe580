package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// UserDisableOptions are the flags of `tenancy user disable` and `enable`.
type UserDisableOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags

	Name    string
	Disable bool
	Wait    time.Duration

	root string
}

func newUserDisableCommand(streams genericiooptions.IOStreams, disable bool) *cobra.Command {
	o := &UserDisableOptions{streams: streams, Disable: disable}
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
		Args: userNameArg(verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.root = args[0], userRootName(cmd)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = userKubeFlags(cmd)
	cmd.Flags().DurationVar(&o.Wait, "wait", time.Minute, "how long to wait until the user's access has changed")
	return cmd
}

// Validate checks the flags.
func (o *UserDisableOptions) Validate() error {
	if err := validateUserName(o.Name); err != nil {
		return err
	}
	if o.Wait <= 0 {
		return fmt.Errorf("--wait must be positive, got %s", o.Wait)
	}
	return nil
}

// Run sets spec.disabled and waits until the user's access follows.
func (o *UserDisableOptions) Run(ctx context.Context) error {
	out := o.streams.Out
	a, err := userConnect(o.kube)
	if err != nil {
		return err
	}
	verb := "enabled"
	if o.Disable {
		verb = "disabled"
	}
	u := &tenancyv1.User{}
	changed := false
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
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
		return fmt.Errorf("user %q not found ('%s user list' lists users)", o.Name, o.root)
	case err != nil:
		return fmt.Errorf("update User %s: %w", o.Name, userAPIError(err))
	case !changed:
		fmt.Fprintf(out, "User %s is already %s\n", o.Name, verb)
		return nil
	}
	fmt.Fprintf(out, "User %s %s\n", o.Name, verb)

	// Groups are left out of the checks: bindings of the user's groups are
	// not Tenancy's to withdraw.
	_, _, granted, err := grantedClasses(ctx, a.c, tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: o.Name})
	if err != nil {
		return fmt.Errorf("read the grants of User %s: %w", o.Name, err)
	}
	if granted {
		for _, id := range userIdentities(u) {
			id.groups = nil
			if err := userWaitCreateWorkspaces(ctx, a.cs, id, !o.Disable, o.Wait); err != nil {
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
		if err := userWaitAccess(ctx, a.cs, id, owned[0], !o.Disable, o.Wait); err != nil {
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
