package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func newCompletionCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script, with the names of workspaces, users and classes",
		Long: `Print the completion script of a shell. Besides commands and flags it
completes the names of workspaces, users and WorkspaceClasses, asking the
cluster of the current kubeconfig (or of --kubeconfig/--context) as you type.`,
		Example: `  # bash, for this shell
  source <(tenancy completion bash)

  # zsh, for every new shell
  tenancy completion zsh > "${fpath[1]}/_tenancy"

  # fish
  tenancy completion fish > ~/.config/fish/completions/tenancy.fish`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(streams.Out, true)
			case "zsh":
				return root.GenZshCompletion(streams.Out)
			case "fish":
				return root.GenFishCompletion(streams.Out, true)
			}
			return fmt.Errorf("completion %q: the shells are bash, zsh and fish", args[0])
		},
	}
}
