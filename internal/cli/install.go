package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
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
		if err := installAdmission(cmd.Context(), c, cfg, streams.ErrOut); err != nil {
			return err
		}
		if err := install.SelfServe(cmd.Context(), c); err != nil {
			return err
		}
		fmt.Fprintln(streams.Out, "Tenancy is installed: the CRDs (workspaces, workspaceclasses, users.tenancy.dev), the ClusterRoles tenancy:admin and tenancy:workspace-creator, and the admission policies")
		return nil
	}
	return cmd
}

// installAdmission installs the admission policies, warning on w when the
// cluster has no MutatingAdmissionPolicy (Kubernetes before 1.36).
func installAdmission(ctx context.Context, c client.Client, cfg *rest.Config, w io.Writer) error {
	mutating, err := install.Admission(ctx, c, cfg)
	if err != nil {
		return err
	}
	if !mutating {
		fmt.Fprintln(w, "warning: this cluster serves no MutatingAdmissionPolicy (Kubernetes 1.36 on): the controller adds the workspace finalizer after creation, "+
			"self-serve workspaces must name their class, and the creator of a workspace is not recorded (see README, Known limits)")
	}
	return nil
}
