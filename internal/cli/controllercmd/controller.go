// Package controllercmd is `tenancy controller`, the workspace controller's
// command. It depends on nothing else of the CLI, so the controller-only
// binary (cmd/tenancy-controller) carries no more than the controller: its
// connection flags are client-go's own (clientcmd), the ones kubectl's are
// made of, without cli-runtime's ConfigFlags, which bring its resource
// builder and kustomize into the binary (two fifths of its size).
package controllercmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tenancy-dev/tenancy/internal/controller"
)

// Options are the flags of `tenancy controller`.
type Options struct {
	kubeconfig string
	overrides  clientcmd.ConfigOverrides
	streams    genericiooptions.IOStreams
	ctrl       controller.Options
	devLogs    bool
}

// NewCommand returns the controller command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{streams: streams}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the workspace controller against a cluster",
		Long: `Run the workspace controller: it turns Workspaces into namespaces with
RBAC, quota, limit range, network policy and storage, and keeps them so.
Install the CRDs first with 'tenancy install'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags binds the options to the command's flags.
func (o *Options) addFlags(f *pflag.FlagSet) {
	// kubectl's connection flags (--kubeconfig, --context, --server, …),
	// local to the command: they shadow the root's in `tenancy`.
	f.StringVar(&o.kubeconfig, clientcmd.RecommendedConfigPathFlag, "", "path to the kubeconfig file (unset: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account)")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	names.ClusterOverrideFlags.APIServer.ShortName = "s" // as kubectl's
	// The controller watches every namespace, and the API server has no
	// basic authentication since Kubernetes 1.19.
	names.ContextOverrideFlags.Namespace.LongName = ""
	names.AuthOverrideFlags.Username.LongName, names.AuthOverrideFlags.Password.LongName = "", ""
	clientcmd.BindOverrideFlags(&o.overrides, f, names)
	f.IntVar(&o.ctrl.Concurrency, "concurrency", 8, "workspaces reconciled at once")
	f.StringVar(&o.ctrl.MetricsAddr, "metrics-bind-address", "127.0.0.1:8080", "address of the Prometheus metrics endpoint (loopback by default: it is not authenticated); 0 turns it off")
	f.BoolVar(&o.ctrl.Profiling, "profiling", false, "serve Go's pprof profiles at /debug/pprof/ on the metrics address")
	f.StringVar(&o.ctrl.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 turns them off")
	f.BoolVar(&o.ctrl.LeaderElection, "leader-elect", false, "elect a leader, so several replicas can run and one works")
	f.StringVar(&o.ctrl.LeaderNamespace, "leader-election-namespace", "kube-system", "namespace of the leader election lease (the shipped RBAC grants Lease rights in kube-system only)")
	f.DurationVar(&o.ctrl.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a leader's lease lasts: a follower takes over at most this long after the leader dies")
	f.DurationVar(&o.ctrl.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader keeps trying to renew its lease before it stops working")
	f.DurationVar(&o.ctrl.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "how often leader election is tried and the lease renewed")
	f.StringVar(&o.ctrl.IstioUserHeader, "istio-userid-header", "kubeflow-userid", "request header that carries the user's name, for Istio AuthorizationPolicies")
	f.StringArrayVar(&o.ctrl.IstioGatewayPrincipals, "istio-gateway-principal", nil, "mesh identity allowed to set the user header, e.g. cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account (repeatable; that one when unset)")
	f.BoolVar(&o.devLogs, "dev-logs", false, "human-readable logs instead of JSON")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.ctrl.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1, got %d", o.ctrl.Concurrency)
	}
	l := o.ctrl
	switch {
	case l.RetryPeriod <= 0:
		return fmt.Errorf("--leader-elect-retry-period must be positive, got %s", l.RetryPeriod)
	case l.RenewDeadline <= l.RetryPeriod:
		return fmt.Errorf("--leader-elect-renew-deadline (%s) must be longer than --leader-elect-retry-period (%s)", l.RenewDeadline, l.RetryPeriod)
	case l.LeaseDuration <= l.RenewDeadline:
		return fmt.Errorf("--leader-elect-lease-duration (%s) must be longer than --leader-elect-renew-deadline (%s)", l.LeaseDuration, l.RenewDeadline)
	}
	return nil
}

// Run runs the controller until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	ctrl.SetLogger(zap.New(zap.WriteTo(o.streams.ErrOut), zap.UseDevMode(o.devLogs)))
	cfg, err := o.restConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	mgr, err := controller.NewManager(cfg, o.ctrl)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// restConfig is the connection the flags name, loaded as kubectl loads
// it: the kubeconfig files, the flags over them, and in a pod with neither
// the in-cluster config.
func (o *Options) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &o.overrides).ClientConfig()
}
