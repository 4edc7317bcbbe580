package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// UserKubeconfigOptions are the flags of `tenancy user kubeconfig`.
type UserKubeconfigOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	cred    userCredentialFlags
	groups  userGroupFlags

	Name      string
	Namespace string
	Wait      time.Duration

	root string
}

func newUserKubeconfigCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &UserKubeconfigOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Issue a fresh credential for an existing user and write their kubeconfig",
		Long: `Issue a new credential for User NAME (renewal, or a lost kubeconfig) and
write a kubeconfig whose context uses the workspace the user owns (or
--namespace). Earlier credentials keep working until they expire.`,
		Example: userExamples(`  tenancy user kubeconfig alex --ttl 24h --output alex.kubeconfig
  tenancy user kubeconfig bob --credential token`),
		Args: userNameArg("kubeconfig"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.root = args[0], userRootName(cmd)
			o.cred.complete(o.Name)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = userKubeFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the kubeconfig's context; default the workspace the user owns")
	f.DurationVar(&o.Wait, "wait", time.Minute, "how long to wait until the new credential may use the workspace")
	o.cred.addFlags(f)
	o.groups.addFlags(f)
	return cmd
}

// Validate checks the flags.
func (o *UserKubeconfigOptions) Validate() error {
	if err := validateUserName(o.Name); err != nil {
		return err
	}
	if o.Wait <= 0 {
		return fmt.Errorf("--wait must be positive, got %s", o.Wait)
	}
	return o.cred.validate(true)
}

// Run issues the credential and writes the kubeconfig.
func (o *UserKubeconfigOptions) Run(ctx context.Context) (err error) {
	a, err := userConnect(o.kube)
	if err != nil {
		return err
	}
	u := &tenancyv1.User{}
	if err := a.c.Get(ctx, client.ObjectKey{Name: o.Name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("user %q not found: create it with '%s user add %s'", o.Name, o.root, o.Name)
		}
		return fmt.Errorf("read User %s: %w", o.Name, userAPIError(err))
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
		if _, contributes := userContributorRole(ws, o.Name); ws.Name == ns && (userIsOwner(ws, o.Name) || contributes) {
			waitNS = ns
		}
	}
	if ns != "" && waitNS == "" {
		fmt.Fprintf(o.streams.ErrOut, "Warning: namespace %s is not a workspace of User %s: the kubeconfig's default namespace may be refused\n", ns, o.Name)
	}
	if u.Spec.Disabled {
		fmt.Fprintf(o.streams.ErrOut, "Warning: User %s is disabled: the credential is refused until '%s user enable %s'\n", o.Name, o.root, o.Name)
	}
	undo := &userRollback{}
	defer func() {
		if err != nil {
			err = errors.Join(err, undo.run(ctx, o.streams.ErrOut))
		}
	}()
	is, err := userIssueCredential(ctx, a, u, ns, waitNS, &o.cred, o.Wait, undo, o.streams.Out)
	if err != nil {
		return err
	}
	userKubeconfigHint(o.streams.Out, o.cred.Output, is, ns)
	return nil
}
