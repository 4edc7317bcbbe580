package cli

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/cli/user"
)

// waitReady waits until the named workspaces are Ready (cmdutil.ForReady).
func waitReady(ctx context.Context, c client.Client, timeout time.Duration, names ...string) error {
	return cmdutil.ForReady(ctx, c, timeout, names...)
}

// userSetPassword stores pw as u's password (user.SetPassword).
var userSetPassword = user.SetPassword
