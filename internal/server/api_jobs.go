package server

import (
	"context"

	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// jobsClient does jobs operations as the caller in ctx: the Job, its pods
// and logs by impersonation; only the class's job defaults (image, TTL,
// the workspace volume) with the server's own identity, which users
// may not read.
func (s *server) jobsClient() *jobs.Client {
	return &jobs.Client{
		Kube: s.AsUser, Clientset: s.AsUserCS, Now: s.Now,
		Defaults: func(ctx context.Context, ns string) (jobs.Defaults, error) {
			return jobs.WorkspaceDefaults(ctx, s.Own, ns)
		},
	}
}
