package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/server"
)

// UpOptions are the flags of `tenancy up`.
type UpOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	getenv  func(string) string

	DataDir  string
	BinDir   string
	Reset    bool
	Port     int
	NoDemo   bool
	External bool // set by Complete: a cluster was named

	CPUNodes       int
	GPUNodes       int
	SimulatedNodes int

	serve        serveFlags // the web UI and REST API
	addressGiven bool       // --address was set: a busy port is an error
}

func newUpCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &UpOptions{streams: streams, getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run Tenancy: a local control plane (or your cluster), the controller and demo workspaces",
		Long: `Run Tenancy until Ctrl-C.

With no cluster named, it builds (the first time, ~15-25 minutes) and starts a
real local Kubernetes control plane — etcd, kube-apiserver,
kube-controller-manager, kube-scheduler — whose state lives in --data-dir, so
stopping and starting again keeps every workspace. Its nodes run pods as local
processes: each container's command and args run on this machine (images are
recorded, not pulled), with real logs, exit codes, exec, cp, port-forward,
GPU device indices and ReadWriteMany volumes. They isolate nothing between
tenants: they are for trying Tenancy on one machine. --simulated-nodes adds
kwok nodes that only pretend to run pods, for scale. With --kubeconfig (or
KUBECONFIG) it uses that cluster.

It installs the CRDs, runs the workspace controller, creates the default
WorkspaceClass and the workspaces of the Arena multi-user guide (workplace1
for alex, workplace2 for bob, workplace3 for tom), and prints the
KUBECONFIG to use with kubectl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Complete(cmd)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = kubeFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "", "where the local control plane keeps its state (default ~/.tenancy)")
	f.StringVar(&o.BinDir, "bin-dir", "", "where the Kubernetes binaries are built and kept (default: the repository's bin/, or ~/.cache/tenancy/bin)")
	f.BoolVar(&o.Reset, "reset", false, "start the local control plane empty, deleting its earlier state")
	f.IntVar(&o.Port, "port", 6443, "kube-apiserver port of the local control plane; 0 picks a free one")
	f.BoolVar(&o.NoDemo, "no-demo", false, "do not create the default class and demo workspaces")
	f.IntVar(&o.CPUNodes, "cpu-nodes", 2, "process nodes in the CPU pool (tenancy.dev/pool=cpu)")
	f.IntVar(&o.GPUNodes, "gpu-nodes", 1, "process nodes in the GPU pool, 8 nvidia.com/gpu each (tenancy.dev/pool=gpu)")
	f.IntVar(&o.SimulatedNodes, "simulated-nodes", 0, "kwok nodes that only simulate pods (they run nothing), for scale")
	o.serve.addFlags(f)
	return cmd
}

// Complete fills in defaults and finds out whether a cluster was named.
func (o *UpOptions) Complete(cmd *cobra.Command) {
	if o.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		o.DataDir = filepath.Join(home, ".tenancy")
	}
	if o.BinDir == "" {
		o.BinDir = localcluster.DefaultBinDir()
	}
	o.addressGiven = cmd.Flags().Changed("address")
	named := cmd.Flags().Changed("kubeconfig") || cmd.Flags().Changed("context") || cmd.Flags().Changed("server")
	if env := o.getenv("KUBECONFIG"); env != "" && !o.isOwnKubeconfig(env) {
		named = true
	}
	o.External = named
}

// isOwnKubeconfig: a KUBECONFIG left exported from an earlier `tenancy up`
// means the local control plane, not a cluster to use.
func (o *UpOptions) isOwnKubeconfig(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(dir, abs)
	return err == nil && rel != ".." && !filepath.IsAbs(rel) && (len(rel) < 3 || rel[:3] != "../")
}

// Validate checks the flags.
func (o *UpOptions) Validate() error {
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("--port must be between 0 and 65535, got %d", o.Port)
	}
	if _, err := o.serve.options(); err != nil {
		return err
	}
	if o.External && o.Reset {
		return errors.New("--reset applies to the local control plane only; it cannot be used with --kubeconfig, --context or KUBECONFIG")
	}
	for flag, n := range map[string]int{"--cpu-nodes": o.CPUNodes, "--gpu-nodes": o.GPUNodes, "--simulated-nodes": o.SimulatedNodes} {
		if n < 0 || n > 200 {
			return fmt.Errorf("%s must be between 0 and 200, got %d", flag, n)
		}
	}
	return nil
}

// Run brings Tenancy up and keeps it up until ctx ends.
func (o *UpOptions) Run(ctx context.Context) (retErr error) {
	out := o.streams.Out
	var cfg *rest.Config
	var serverCfg func() (*rest.Config, error) // the server's own identity; the kubeconfig's when nil
	kubeconfigPath := ""
	logDir := filepath.Join(o.DataDir, "logs")
	if o.External {
		c, err := o.kube.ToRESTConfig()
		if err != nil {
			return fmt.Errorf("load kubeconfig: %w", err)
		}
		cfg = c
		fmt.Fprintf(out, "Using the cluster at %s\n", cfg.Host)
	} else {
		fmt.Fprintf(out, "Starting a local control plane in %s\n", o.DataDir)
		cl, err := localcluster.Start(ctx, localcluster.Options{
			DataDir:       o.DataDir,
			BinDir:        o.BinDir,
			Reset:         o.Reset,
			APIServerPort: o.Port,
			Progress:      out,
			ProcessNodes:  localcluster.DefaultNodes(o.CPUNodes, o.GPUNodes),
			Nodes:         localcluster.SimulatedNodes(o.SimulatedNodes),
		})
		if err != nil {
			return err
		}
		defer func() {
			fmt.Fprintln(out, "Stopping the local control plane")
			if err := cl.Stop(); err != nil {
				fmt.Fprintln(o.streams.ErrOut, "error stopping the control plane:", err)
			}
		}()
		cfg = cl.Config()
		serverCfg = func() (*rest.Config, error) { return cl.UserConfig(server.RoleName) }
		kubeconfigPath = cl.AdminKubeconfig()
		logDir = cl.LogDir()
		// A component that dies (etcd, kube-apiserver, …) ends `tenancy up`
		// with an error naming it and its log, instead of a silent hang.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		defer func() {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
				retErr = fmt.Errorf("the local control plane failed: %w", cause)
			}
		}()
		go func() {
			select {
			case err := <-cl.Failed():
				cancel(err)
			case <-ctx.Done():
			}
		}()
	}

	c, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "Installing the CRDs")
	if err := install.CRDs(ctx, c); err != nil {
		return err
	}
	if err := installAdmission(ctx, c, cfg, o.streams.ErrOut); err != nil {
		return err
	}
	if err := install.SelfServe(ctx, c); err != nil {
		return err
	}

	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(logDir, "controller.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
	mgr, err := controller.NewManager(cfg, controller.Options{Concurrency: 8, MetricsAddr: "0", ProbeAddr: "0", IstioUserHeader: "kubeflow-userid"})
	if err != nil {
		return err
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	defer func() {
		stopMgr()
		if err := <-mgrDone; err != nil {
			fmt.Fprintln(o.streams.ErrOut, "controller:", err)
		}
	}()
	fmt.Fprintf(out, "Controller running (logs: %s)\n", logFile.Name())

	if !o.NoDemo {
		objs := []client.Object{install.DefaultClass()}
		for _, u := range install.DemoUsers() {
			objs = append(objs, u)
		}
		for _, ws := range install.DemoWorkspaces() {
			objs = append(objs, ws)
		}
		if err := install.CreateIfMissing(ctx, c, objs...); err != nil {
			return err
		}
		if err := waitReady(ctx, c, 2*time.Minute, "workplace1", "workplace2", "workplace3"); err != nil {
			return err
		}
		fmt.Fprintln(out, "Workspaces workplace1 (alex), workplace2 (bob) and workplace3 (tom) are Ready")
	}
	srvDone, url, err := o.startServer(ctx, c, cfg, serverCfg, logDir)
	if err != nil {
		return err
	}
	var demoPasswords []string
	if !o.NoDemo {
		if demoPasswords, err = demoUserPasswords(ctx, c); err != nil {
			return err
		}
	}

	fmt.Fprintln(out)
	fmt.Fprintln(out, "Tenancy is up. To use the cluster with kubectl:")
	if kubeconfigPath != "" {
		fmt.Fprintf(out, "export KUBECONFIG=%s\n", kubeconfigPath)
	}
	self := invocation()
	hint := func(cmd, comment string) { fmt.Fprintf(out, "  %-*s # %s\n", len(self)+26, cmd, comment) }
	fmt.Fprintln(out, "  kubectl get workspaces")
	if !o.NoDemo {
		hint(self+" user kubeconfig alex", "alex's own kubeconfig: he may use workplace1 only")
	}
	fmt.Fprintln(out, "  kubectl get nodes")
	fmt.Fprintln(out, "  kubectl get resourcequota,rolebindings -n workplace3")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Web UI and REST API: %s\n", url)
	if !o.NoDemo {
		if len(demoPasswords) > 0 {
			fmt.Fprintln(out, "Sign in as a demo user (passwords shown this once):")
			for _, l := range demoPasswords {
				fmt.Fprintln(out, "  "+l)
			}
		} else {
			fmt.Fprintln(out, "Sign in as alex, bob or tom with the passwords shown when they were made.")
		}
		hint(self+" user passwd alex", "a new password for alex")
	}
	fmt.Fprintf(out, "Press Ctrl-C to stop. State is kept; '%s up --reset' starts empty.\n", self)

	select {
	case <-ctx.Done():
		return nil // a failure's cause replaces this (see above)
	case err := <-mgrDone:
		return fmt.Errorf("the controller stopped: %w", err)
	case err := <-srvDone:
		return fmt.Errorf("the web server stopped: %w", err)
	}
}

// startServer runs `tenancy serve` beside the controller, as its own
// identity (bound to config/rbac/server_role.yaml) where it can make one.
func (o *UpOptions) startServer(ctx context.Context, c client.Client, cfg *rest.Config, serverCfg func() (*rest.Config, error), logDir string) (<-chan error, string, error) {
	if serverCfg != nil {
		if err := server.Grant(ctx, c, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: server.RoleName}); err != nil {
			return nil, "", err
		}
		sc, err := serverCfg()
		if err != nil {
			return nil, "", err
		}
		cfg = sc
	}
	if !o.addressGiven {
		// The default port is taken (another 'tenancy up', say): any free
		// one on the same host will do.
		if ln, err := net.Listen("tcp", o.serve.Address); err != nil {
			host, _, _ := net.SplitHostPort(o.serve.Address)
			fmt.Fprintf(o.streams.Out, "%s is in use; the web UI takes a free port instead (--address chooses)\n", o.serve.Address)
			o.serve.Address = net.JoinHostPort(host, "0")
		} else {
			_ = ln.Close()
		}
	}
	logFile, err := os.OpenFile(filepath.Join(logDir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, "", err
	}
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		defer func() { _ = logFile.Close() }()
		done <- runServer(ctx, cfg, &o.serve, zap.New(zap.WriteTo(logFile)), o.streams.ErrOut, func(url string) { urlc <- url })
	}()
	select {
	case url := <-urlc:
		return done, url, nil
	case err := <-done:
		return nil, "", fmt.Errorf("start the web server: %w", err)
	}
}

// demoUserPasswords gives each demo user without a password a generated
// one, and returns "name: password" lines to show once.
func demoUserPasswords(ctx context.Context, c client.Client) ([]string, error) {
	var out []string
	for _, d := range install.DemoUsers() {
		u := &tenancyv1.User{}
		if err := c.Get(ctx, client.ObjectKey{Name: d.Name}, u); err != nil {
			return nil, fmt.Errorf("read User %s: %w", d.Name, err)
		}
		if u.Spec.PasswordSecret != "" {
			continue
		}
		pw := passwords.Generate()
		if err := userSetPassword(ctx, c, u, pw); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%-5s %s", u.Name, pw))
	}
	return out, nil
}
