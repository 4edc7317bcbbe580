// Package cli holds the tenancy command line: the root command, the
// commands that run Tenancy (up, controller, serve, install, dev) and, in
// a package per noun (workspace, user, grant, job), the commands that use
// it. Every command has Options{Complete, Validate, Run} and takes its
// clients from one cmdutil.Factory.
package cli

import (
	"context"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/cli/controllercmd"
	"github.com/tenancy-dev/tenancy/internal/cli/grant"
	"github.com/tenancy-dev/tenancy/internal/cli/job"
	"github.com/tenancy-dev/tenancy/internal/cli/user"
	"github.com/tenancy-dev/tenancy/internal/cli/workspace"
)

// Run runs the tenancy command line with args (without the program name).
// Every error goes through the one translator (cmdutil.Translate).
func Run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) error {
	streams := genericiooptions.IOStreams{In: in, Out: out, ErrOut: errOut}
	f := NewFactory(streams)
	cmd := NewRootCommandWith(f)
	cmd.SetArgs(args)
	return cmdutil.Translate(cmd.ExecuteContext(ctx), f.Self)
}

// NewFactory is the factory of the command line: kubectl's connection
// flags, and messages that name the command as a person calls it.
func NewFactory(streams genericiooptions.IOStreams) *cmdutil.Factory {
	return cmdutil.NewFactory(streams, genericclioptions.NewConfigFlags(true), displayName())
}

// displayName is "kubectl tenancy" for the kubectl plugin, else "tenancy".
func displayName() string {
	if strings.HasPrefix(filepath.Base(osArg0()), "kubectl-") {
		return "kubectl tenancy"
	}
	return "tenancy"
}

// NewRootCommand returns the `tenancy` command and its subcommands.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return NewRootCommandWith(NewFactory(streams))
}

// NewRootCommandWith is NewRootCommand with the factory f (tests give one
// with fake clients).
func NewRootCommandWith(f *cmdutil.Factory) *cobra.Command {
	streams := f.Streams
	root := &cobra.Command{
		Use:           "tenancy",
		Short:         "Turn one Kubernetes cluster into a shared machine for many users",
		Long:          "Tenancy gives each user or team an isolated workspace (a namespace with quota, RBAC and credentials) on one Kubernetes cluster.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	// One set of connection flags for every command, as in kubectl. A
	// command that gives --user, --namespace or --certificate-authority
	// another meaning (`workspace share --user`, `user add --namespace`)
	// defines it locally, which shadows the connection flag there.
	f.Flags.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newUpCommand(streams),
		controllercmd.NewCommand(streams),
		newServeCommand(streams),
		newInstallCommand(streams),
		newUninstallCommand(streams),
		user.NewCommand(f),
		workspace.NewCommand(f),
		grant.NewCommand(f),
		job.NewCommand(f),
		newDevCommand(streams),
		newCompletionCommand(streams),
	)
	// Installed as a kubectl plugin: usage lines and examples read
	// "kubectl tenancy …".
	cmdutil.UseDisplayName(root, f.Self)
	return root
}

// kubeFlags are kubectl's connection flags (--kubeconfig, --context, …),
// for the commands that run Tenancy; they shadow the root's.
func kubeFlags(cmd *cobra.Command) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	f.AddFlags(cmd.Flags())
	return f
}
