package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
)

func newInstallCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install Tenancy's CustomResourceDefinitions into a cluster",
		Args:  cobra.NoArgs,
	}
	kube := kubeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := kube.ToRESTConfig()
		if err != nil {
			return fmt.Errorf("load kubeconfig: %w", err)
		}
		c, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
		if err != nil {
			return err
		}
		if err := install.CRDs(cmd.Context(), c); err != nil {
			return err
		}
		if err := install.SelfServe(cmd.Context(), c); err != nil {
			return err
		}
		fmt.Fprintln(streams.Out, "Tenancy is installed: the CRDs (workspaces, workspaceclasses, users.tenancy.dev), the ClusterRoles tenancy:admin and tenancy:workspace-creator, and the self-serve admission policy")
		return nil
	}
	return cmd
}
