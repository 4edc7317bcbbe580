// Package cli holds the tenancy commands: one cobra command per verb, each
// with Options{Complete, Validate, Run}.
package cli

import (
	"context"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Run runs the tenancy command line with args (without the program name).
func Run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) error {
	cmd := NewRootCommand(genericiooptions.IOStreams{In: in, Out: out, ErrOut: errOut})
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// NewRootCommand returns the `tenancy` command and its subcommands.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:           "tenancy",
		Short:         "Turn one Kubernetes cluster into a shared machine for many users",
		Long:          "Tenancy gives each user or team an isolated workspace (a namespace with quota, RBAC and credentials) on one Kubernetes cluster.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if strings.HasPrefix(filepath.Base(osArg0()), "kubectl-") {
		// Installed as a kubectl plugin: usage lines read "kubectl tenancy …".
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl tenancy"}
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(
		newUpCommand(streams),
		newControllerCommand(streams),
		newServeCommand(streams),
		newInstallCommand(streams),
		newUninstallCommand(streams),
		newUserCommand(streams),
		newWorkspaceCommand(streams),
		newGrantCommand(streams),
		newDevCommand(streams),
	)
	return root
}

// kubeFlags are kubectl's connection flags (--kubeconfig, --context, …).
func kubeFlags(cmd *cobra.Command) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	f.AddFlags(cmd.Flags())
	return f
}
