package user

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/cli/grant"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// DeleteOptions are the flags of `tenancy user delete`.
type DeleteOptions struct {
	streams genericiooptions.IOStreams
	admin   *userAdmin

	Name           string
	KeepWorkspaces bool
	Wait           bool
	Timeout        time.Duration

	self string
}

func newDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	o := &DeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a user, their workspaces, credentials and every binding naming them",
		Long: `Remove User NAME: delete the workspaces they own (with --keep-workspaces
they stay, without an owner), take them off every other workspace's
contributors, revoke their self-serve grant (tenancy grant), delete their
CertificateSigningRequests and token ServiceAccount, and wait until no
binding names them any more.

Every credential is refused at once, as no binding names the user any
more. A token then stops authenticating: its ServiceAccount is gone (the API
server's token cache may still recognise it for about 10 seconds).
Kubernetes cannot revoke a client certificate: it authenticates until it
expires, but is allowed nothing.`,
		Args:              cmdutil.ExactName("user name", "alex"),
		ValidArgsFunction: cmdutil.CompleteUsers(f),
		RunE:              cmdutil.RunE(f, o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.KeepWorkspaces, "keep-workspaces", false, "keep the workspaces the user owns, with no owner (Ready=False, NoOwner), instead of deleting them")
	fl.BoolVar(&o.Wait, "wait", true, "wait until the workspaces and the bindings naming the user are gone; --wait=false returns at once")
	fl.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// Complete takes the name and the admin's clients.
func (o *DeleteOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.self, o.Name = f.Streams, f.Self, args[0]
	var err error
	o.admin, err = userConnect(f)
	return err
}

// Validate checks the flags.
func (o *DeleteOptions) Validate() error {
	if err := validateUserName(o.Name); err != nil {
		return err
	}
	if err := cmdutil.ValidateTimeout(o.Timeout); err != nil {
		return err
	}
	return nil
}

// Run removes the user and everything that refers to them.
func (o *DeleteOptions) Run(ctx context.Context) error {
	out := o.streams.Out
	a := o.admin
	user := &tenancyv1.User{}
	userErr := a.c.Get(ctx, client.ObjectKey{Name: o.Name}, user)
	if userErr != nil && !apierrors.IsNotFound(userErr) {
		return fmt.Errorf("read User %s: %w", o.Name, userErr)
	}
	list := &tenancyv1.WorkspaceList{}
	if err := a.c.List(ctx, list); err != nil {
		return fmt.Errorf("list Workspaces: %w", err)
	}
	sel := client.MatchingLabels{tenancyv1.LabelUser: o.Name}
	csrs, err := a.cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: tenancyv1.LabelUser + "=" + o.Name})
	if err != nil {
		return fmt.Errorf("list CertificateSigningRequests: %w", err)
	}
	sas := &corev1.ServiceAccountList{}
	if err := a.c.List(ctx, sas, sel); err != nil {
		return fmt.Errorf("list ServiceAccounts: %w", err)
	}
	var owned, shared []tenancyv1.Workspace
	for _, ws := range list.Items {
		if ws.IsOwnedByUser(o.Name) {
			owned = append(owned, ws)
		} else if _, ok := contributorRole(&ws, o.Name); ok {
			shared = append(shared, ws)
		}
	}
	subject := tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: o.Name}
	_, _, granted, err := grant.GrantedClasses(ctx, a.c, subject)
	if err != nil {
		return fmt.Errorf("read the grants of User %s: %w", o.Name, err)
	}
	if !granted {
		// A grant's ClusterRole may be gone while its bindings stay.
		creator, _ := grant.Names(subject)
		err := a.c.Get(ctx, client.ObjectKey{Name: creator}, &rbacv1.ClusterRoleBinding{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("read the grants of User %s: %w", o.Name, err)
		}
		granted = err == nil
	}
	if apierrors.IsNotFound(userErr) && len(owned)+len(shared)+len(csrs.Items)+len(sas.Items) == 0 && !granted {
		return fmt.Errorf("user %q not found ('%s user list' lists users)", o.Name, o.self)
	}

	var errs []error
	for _, ws := range shared {
		if err := o.removeContributor(ctx, a.c, ws.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "Workspace %s: User %s is no longer a contributor\n", ws.Name, o.Name)
	}
	var deleted []string
	for _, ws := range owned {
		if o.KeepWorkspaces {
			if err := o.disown(ctx, a.c, ws.Name); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(out, "Workspace %s kept without an owner\n", ws.Name)
			continue
		}
		if err := a.c.Delete(ctx, &ws, client.Preconditions{UID: &ws.UID}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete Workspace %s: %w", ws.Name, err))
			continue
		}
		deleted = append(deleted, ws.Name)
		fmt.Fprintf(out, "Workspace %s deleted\n", ws.Name)
	}
	for _, csr := range csrs.Items {
		err := a.cs.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete CertificateSigningRequest %s: %w", csr.Name, err))
			continue
		}
		fmt.Fprintf(out, "CertificateSigningRequest %s deleted\n", csr.Name)
	}
	for _, sa := range sas.Items {
		if err := a.c.Delete(ctx, &sa); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete ServiceAccount %s/%s: %w", sa.Namespace, sa.Name, err))
			continue
		}
		fmt.Fprintf(out, "ServiceAccount %s/%s deleted\n", sa.Namespace, sa.Name)
	}
	// Grants name the user: they go before the User (its owner references
	// would have garbage collection delete them, but not before the wait
	// below, and not for grants made before the User was).
	if granted {
		if _, err := grant.Delete(ctx, a.c, subject); err != nil {
			errs = append(errs, fmt.Errorf("delete the create-workspaces grant of User %s: %w", o.Name, err))
		} else {
			fmt.Fprintf(out, "Grant create-workspaces of User %s revoked\n", o.Name)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("user %s is only partly deleted (run the command again): %w", o.Name, errors.Join(errs...))
	}
	if userErr == nil {
		if err := a.c.Delete(ctx, user); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete User %s: %w", o.Name, err)
		}
		fmt.Fprintf(out, "User %s deleted\n", o.Name)
	}
	// The web sign-in's password hash, sessions and API tokens.
	if err := passwords.DeleteAll(ctx, a.c, o.Name); err != nil {
		return fmt.Errorf("user %s is deleted but not their web credentials (run the command again): %w", o.Name, err)
	}

	if o.Wait {
		if err := o.waitGone(ctx, a.c, deleted); err != nil {
			return err
		}
	}
	_, foreign, err := userBindingsNaming(ctx, a.c, userSubjects(o.Name))
	if err != nil {
		return err
	}
	for _, b := range foreign {
		fmt.Fprintf(o.streams.ErrOut, "Warning: %s was not made by Tenancy and still names User %s; remove it by hand\n", b, o.Name)
	}
	if len(csrs.Items) > 0 {
		fmt.Fprintf(out, "Certificates issued to %s stay valid until they expire (Kubernetes cannot revoke them) but are refused: no binding names User %s any more\n", o.Name, o.Name)
		if userErr == nil && len(user.Spec.Groups) > 0 {
			fmt.Fprintf(out, "Note: they still carry the groups %s; bindings of those groups still apply to them\n", strings.Join(user.Spec.Groups, ", "))
		}
	}
	return nil
}

// removeContributor takes the user off a workspace's contributors.
func (o *DeleteOptions) removeContributor(ctx context.Context, c client.Client, name string) error {
	return o.updateWorkspace(ctx, c, name, func(ws *tenancyv1.Workspace) {
		kept := ws.Spec.Contributors[:0]
		for _, ct := range ws.Spec.Contributors {
			if ct.Kind != tenancyv1.UserKind || ct.Name != o.Name {
				kept = append(kept, ct)
			}
		}
		ws.Spec.Contributors = kept
	})
}

// disown leaves a workspace with no owner.
func (o *DeleteOptions) disown(ctx context.Context, c client.Client, name string) error {
	return o.updateWorkspace(ctx, c, name, func(ws *tenancyv1.Workspace) {
		ws.Spec.Owner = nil
		delete(ws.Labels, tenancyv1.LabelUser)
	})
}

func (o *DeleteOptions) updateWorkspace(ctx context.Context, c client.Client, name string, mutate func(*tenancyv1.Workspace)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ws := &tenancyv1.Workspace{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
			return err
		}
		mutate(ws)
		return c.Update(ctx, ws, client.FieldOwner(userFieldManager))
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update Workspace %s: %w", name, err)
	}
	return nil
}

// waitGone waits until the deleted workspaces are gone and no binding made
// by Tenancy names the user or their ServiceAccount.
func (o *DeleteOptions) waitGone(ctx context.Context, c client.Client, workspaces []string) error {
	var left []string
	err := cmdutil.Until(ctx, o.Timeout, "user "+o.Name+" is deleted, but", func(ctx context.Context) (bool, string) {
		left = left[:0]
		for _, n := range workspaces {
			err := c.Get(ctx, client.ObjectKey{Name: n}, &tenancyv1.Workspace{})
			if err == nil || !apierrors.IsNotFound(err) {
				left = append(left, "Workspace "+n)
			}
		}
		managed, _, err := userBindingsNaming(ctx, c, userSubjects(o.Name))
		if err != nil {
			return false, err.Error()
		}
		left = append(left, managed...)
		return len(left) == 0, "these still exist: " + strings.Join(left, ", ")
	})
	if err != nil {
		return err
	}
	switch len(workspaces) {
	case 0:
	case 1:
		fmt.Fprintf(o.streams.Out, "Workspace %s is gone\n", workspaces[0])
	default:
		fmt.Fprintf(o.streams.Out, "Workspaces %s are gone\n", strings.Join(workspaces, ", "))
	}
	return nil
}
