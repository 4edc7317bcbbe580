package user

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// KubeconfigOptions are the flags of `tenancy user kubeconfig`.
type KubeconfigOptions struct {
	streams genericiooptions.IOStreams
	admin   *userAdmin
	print   *cmdutil.PrintFlags
	cred    userCredentialFlags
	groups  userGroupFlags

	Name      string
	Namespace string
	Wait      bool
	Timeout   time.Duration

	self string
}

func newKubeconfigCommand(f *cmdutil.Factory) *cobra.Command {
	o := &KubeconfigOptions{print: newUserPrintFlags()}
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Issue a fresh credential for an existing user and write their kubeconfig",
		Long: `Issue a new credential for User NAME (renewal, or a lost kubeconfig) and
write a kubeconfig whose context uses the workspace the user owns (or
--namespace). Earlier credentials keep working until they expire.

It waits until the new credential may use the workspace, so the kubeconfig
works when the command returns; --wait=false returns at once.`,
		Example: (`  tenancy user kubeconfig alex --ttl 24h --kubeconfig-out alex.kubeconfig
  tenancy user kubeconfig bob --credential token`),
		Args:              cmdutil.ExactName("user name", "alex"),
		ValidArgsFunction: cmdutil.CompleteUsers(f),
		RunE:              cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the kubeconfig's context; default the workspace the user owns")
	fl.BoolVar(&o.Wait, "wait", true, "wait until the new credential may use the workspace; --wait=false returns at once")
	fl.DurationVar(&o.Timeout, "timeout", time.Minute, "how long --wait waits")
	o.cred.addFlags(fl)
	o.groups.addFlags(fl)
	_ = cmd.RegisterFlagCompletionFunc("namespace", cmdutil.CompleteWorkspaces(f))
	return cmd
}

// Complete takes the name and the admin's clients.
func (o *KubeconfigOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.self, o.Name = f.Streams, f.Self, args[0]
	o.cred.complete(o.Name)
	var err error
	o.admin, err = userConnect(f)
	return err
}

// Validate checks the flags.
func (o *KubeconfigOptions) Validate() error {
	if err := validateUserName(o.Name); err != nil {
		return err
	}
	if err := cmdutil.ValidateTimeout(o.Timeout); err != nil {
		return err
	}
	if err := o.print.Validate(); err != nil {
		return err
	}
	return o.cred.validate(true)
}

// Run issues the credential and writes the kubeconfig.
func (o *KubeconfigOptions) Run(ctx context.Context) (err error) {
	a := o.admin
	u := &tenancyv1.User{}
	if err := a.c.Get(ctx, client.ObjectKey{Name: o.Name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("user %q not found: create it with '%s user add %s'", o.Name, o.self, o.Name)
		}
		return fmt.Errorf("read User %s: %w", o.Name, err)
	}
	if tenancyv1.CredentialKind(o.cred.Kind) == tenancyv1.CredentialCert {
		// The certificate carries the groups: check them as they are now.
		if err := o.groups.validate(u.Spec.Groups); err != nil {
			return err
		}
		if err := userCheckGroups(ctx, a.c, u.Spec.Groups, o.groups.AllowPrivileged); err != nil {
			return err
		}
	}
	list := &tenancyv1.WorkspaceList{}
	if err := a.c.List(ctx, list); err != nil {
		return fmt.Errorf("list Workspaces: %w", err)
	}
	ns, waitNS := o.Namespace, ""
	if ns == "" {
		if owned := userOwnedWorkspaces(list.Items, o.Name); len(owned) > 0 {
			ns = owned[0]
		}
	}
	for i := range list.Items {
		ws := &list.Items[i]
		if ws.Name == ns && ws.NamesUser(o.Name) {
			waitNS = ns
		}
	}
	if ns != "" && waitNS == "" {
		fmt.Fprintf(o.streams.ErrOut, "Warning: namespace %s is not a workspace of User %s: the kubeconfig's default namespace may be refused\n", ns, o.Name)
	}
	if u.Spec.Disabled {
		fmt.Fprintf(o.streams.ErrOut, "Warning: User %s is disabled: the credential is refused until '%s user enable %s'\n", o.Name, o.self, o.Name)
	}
	undo := &userRollback{}
	defer func() {
		if err != nil {
			err = errors.Join(err, undo.run(ctx, o.streams.ErrOut))
		}
	}()
	out := progress(o.streams, o.print)
	is, err := userIssueCredential(ctx, a, u, ns, waitNS, &o.cred, o.Wait, o.Timeout, undo, out)
	if err != nil {
		return err
	}
	userKubeconfigHint(out, o.cred.KubeconfigOut, is, ns)
	return printUser(o.streams, o.print, u)
}
