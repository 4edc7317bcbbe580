package cli

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

// newDevCommand holds commands for Tenancy's own development.
func newDevCommand(streams genericiooptions.IOStreams) *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Commands for developing Tenancy", Hidden: true}
	var binDir string
	var extra []string
	binaries := &cobra.Command{
		Use:   "binaries",
		Short: "Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok once, into the bin directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if binDir == "" {
				binDir = localcluster.DefaultBinDir()
			}
			return localcluster.EnsureBinaries(cmd.Context(), binDir, streams.ErrOut, extra...)
		},
	}
	binaries.Flags().StringVar(&binDir, "bin-dir", "", "where the binaries go (default: the repository's bin/, or ~/.cache/tenancy/bin)")
	binaries.Flags().StringSliceVar(&extra, "also", nil, "extra binaries to build, e.g. kubectl")
	dev.AddCommand(binaries)
	return dev
}
