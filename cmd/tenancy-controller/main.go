// Command tenancy-controller is `tenancy controller` alone: the workspace
// controller without the CLI, the API server and the local cluster. The
// installed controller runs it, as the smaller binary maps fewer pages
// (28 MiB against the full tenancy binary's 80 at 1,000 workspaces;
// bench/README.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tenancy-dev/tenancy/internal/cli/controllercmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := controllercmd.NewCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	cmd.Use = "tenancy-controller"
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
