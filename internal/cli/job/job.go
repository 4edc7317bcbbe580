// Package job holds `tenancy job …`: submit, list, get, read the output of,
// cancel and delete jobs in a workspace. Every command acts as the caller,
// with the caller's kubeconfig, through the operations of internal/jobs,
// so RBAC, quota and the submitter policy decide, as for every door.
package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/jobs"
)

// NewCommand is `tenancy job`.
func NewCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "job",
		Aliases: []string{"jobs"},
		Short:   "Submit, list, follow, cancel and delete jobs in a workspace",
		Long: `Run batch jobs in a workspace: each is a Kubernetes Job (batch/v1) in the
workspace's namespace, created with your own identity, so your workspace's
RBAC and quota decide, and 'kubectl get jobs' sees the same jobs.

The workspace is -n WORKSPACE, else the namespace of your kubeconfig's
context (the one 'tenancy user add' writes names your workspace).

A job is Queued (not scheduled yet, or waiting for quota), Running,
Succeeded, Failed (with the exit code) or Cancelled.`,
	}
	cmd.AddCommand(
		newSubmitCommand(f),
		newListCommand(f),
		newGetCommand(f),
		newLogsCommand(f),
		newCancelCommand(f),
		newDeleteCommand(f),
	)
	return cmd
}

// conn is what every job command takes from the factory: the operations
// acting as the caller, and the workspace.
type conn struct {
	jobs      *jobs.Client
	kube      client.Client
	namespace string
}

// connect takes the caller's clients and the workspace (-n, else the
// kubeconfig context's namespace); allNamespaces needs none.
func connect(f *cmdutil.Factory, allNamespaces bool) (*conn, error) {
	kube, err := f.Client()
	if err != nil {
		return nil, err
	}
	cs, err := f.Clientset()
	if err != nil {
		return nil, err
	}
	c := &conn{jobs: &jobs.Client{Kube: kube, Clientset: cs, Now: f.Now}, kube: kube}
	if allNamespaces {
		return c, nil
	}
	ns, explicit, err := f.Namespace()
	if err != nil {
		return nil, err
	}
	if !explicit || ns == "" {
		return nil, errors.New("which workspace? name it with -n WORKSPACE (your kubeconfig's context names no namespace)")
	}
	c.namespace = ns
	return c, nil
}

// batchJob reads the Job of a Tenancy job, for -o yaml|json|name.
func (c *conn) batchJob(ctx context.Context, ns, name string) (*batchv1.Job, error) {
	job := &batchv1.Job{}
	if err := c.kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job); err != nil {
		return nil, err
	}
	if job.Labels[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue {
		return nil, &jobs.NotFoundError{Namespace: ns, Name: name, Why: "it is not a Tenancy job"}
	}
	return job, nil
}

// completeJobs completes the names of the jobs in the workspace.
func completeJobs(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		c, err := connect(f, false)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		list, err := c.jobs.List(ctx, c.namespace, jobs.Filter{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// names checks the job names of cancel and delete.
func names(verb string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("name the jobs to %s: tenancy job %s NAME [NAME…] ('tenancy job list' lists them)", verb, verb)
	}
	return nil
}
