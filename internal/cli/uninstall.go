package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
)

func newUninstallCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var o install.UninstallOptions
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Take Tenancy out of a cluster, saying what to do with its workspaces",
		Long: `Take out of the cluster everything 'tenancy install' put in: the controller
and the server, the admission policies, the ClusterRoles, the CRDs (and so
every User and WorkspaceClass) and the namespace tenancy-system with the
credentials in it. It waits until they are gone, then says what it left.

While workspaces exist it refuses, and changes nothing, unless told what to
do with them:
  --keep-namespaces    keep every workspace's namespace and what is in it;
                       nothing of Tenancy's touches them again
  --delete-workspaces  delete the workspaces and their namespaces first`,
		Args: cobra.NoArgs,
	}
	kube := kubeFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.KeepNamespaces, "keep-namespaces", false, "keep the workspaces' namespaces and their content (orphaned: no owner reference, no finalizer)")
	f.BoolVar(&o.DeleteWorkspaces, "delete-workspaces", false, "delete every workspace and its namespace")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for each step")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.KeepNamespaces && o.DeleteWorkspaces {
			return fmt.Errorf("--keep-namespaces and --delete-workspaces exclude each other: choose one")
		}
		cfg, err := kube.ToRESTConfig()
		if err != nil {
			return fmt.Errorf("load kubeconfig: %w", err)
		}
		c, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
		if err != nil {
			return err
		}
		o.Progress = func(format string, args ...any) { fmt.Fprintf(streams.Out, format+"\n", args...) }
		left, err := install.Uninstall(cmd.Context(), c, o)
		if err != nil {
			return err
		}
		fmt.Fprintln(streams.Out, "Tenancy is uninstalled.")
		if len(left.Namespaces) > 0 {
			fmt.Fprintf(streams.Out, "Kept the namespaces of %d workspaces: %s\n", len(left.Namespaces), strings.Join(left.Namespaces, ", "))
		}
		if len(left.Objects) > 0 {
			fmt.Fprintf(streams.Out, "Left, labelled app.kubernetes.io/managed-by=tenancy but not installed by 'tenancy install':\n  %s\n", strings.Join(left.Objects, "\n  "))
		}
		if len(left.Namespaces) == 0 && len(left.Objects) == 0 {
			fmt.Fprintln(streams.Out, "Nothing of Tenancy's is left.")
		}
		return nil
	}
	return cmd
}
