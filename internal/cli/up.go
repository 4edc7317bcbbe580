package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"github.com/tenancy-dev/tenancy/internal/localcluster/procnode/shim"
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
	// InCluster runs the controller and the server as Deployments on the
	// local process nodes, from the manifests of `tenancy install`.
	InCluster    bool
	NodeIPPrefix string

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
KUBECONFIG to use with kubectl.

With --in-cluster the controller and the server do not run inside 'tenancy
up': it installs them as 'tenancy install' does — the same manifests, with
their ServiceAccounts, RBAC, leader election and probes — onto the local
process nodes, whose pods run this tenancy binary in place of the image.`,
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
	f.BoolVar(&o.InCluster, "in-cluster", false, "run the controller and the server as Deployments on the local nodes, from the manifests of 'tenancy install'")
	f.StringVar(&o.NodeIPPrefix, "node-ip-prefix", "", "address prefix of the local process nodes (node N gets PREFIX+N; default 127.0.1.)")
	_ = f.MarkHidden("node-ip-prefix")
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
	if o.InCluster && o.External {
		return errors.New("--in-cluster deploys onto the local control plane's nodes; to run Tenancy in your cluster use 'tenancy install'")
	}
	if o.InCluster && o.CPUNodes < 1 {
		return errors.New("--in-cluster needs at least one CPU node (--cpu-nodes) to run the controller and the server on")
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
			NodeIPPrefix:  o.NodeIPPrefix,
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
	var mgrDone <-chan error
	if o.InCluster {
		if err := o.deployInCluster(ctx, c, cfg); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out, "Installing the CRDs")
		if _, err := installComponents(ctx, c, cfg, install.Options{Components: []string{install.ComponentCRDs}}, o.streams.ErrOut); err != nil {
			return err
		}
		if !o.External {
			if err := removeInCluster(ctx, c, out); err != nil {
				return err
			}
		} else if err := c.Get(ctx, client.ObjectKey{Namespace: install.SystemNamespace, Name: install.ControllerName}, &appsv1.Deployment{}); err == nil {
			fmt.Fprintf(o.streams.ErrOut, "warning: this cluster runs the controller already (Deployment %s/%s, from 'tenancy install'); the one 'tenancy up' starts works beside it\n",
				install.SystemNamespace, install.ControllerName)
		}
		done, stop, err := o.startController(ctx, cfg, logDir)
		if err != nil {
			return err
		}
		defer stop()
		mgrDone = done
	}

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
	var srvDone <-chan error
	var url string
	if o.InCluster {
		if url, err = inClusterURL(ctx, c); err != nil {
			return err
		}
	} else if srvDone, url, err = o.startServer(ctx, c, cfg, serverCfg, logDir); err != nil {
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
	if o.InCluster {
		fmt.Fprintf(out, "  (or: kubectl -n %s port-forward svc/%s 8090:80, then http://127.0.0.1:8090)\n", install.SystemNamespace, install.ServerName)
	}
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

// startController runs the controller inside `tenancy up`, logging to
// logDir. done receives its error if it stops by itself; stop stops it.
func (o *UpOptions) startController(ctx context.Context, cfg *rest.Config, logDir string) (done <-chan error, stop func(), err error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(logDir, "controller.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
	mgr, err := controller.NewManager(cfg, controller.Options{Concurrency: 8, MetricsAddr: "0", ProbeAddr: "0", IstioUserHeader: "kubeflow-userid"})
	if err != nil {
		_ = logFile.Close()
		return nil, nil, err
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	finished := make(chan struct{})
	var runErr error
	go func() {
		runErr = mgr.Start(mgrCtx)
		close(finished)
	}()
	stopped := make(chan error, 1)
	go func() {
		<-finished
		stopped <- runErr
	}()
	fmt.Fprintf(o.streams.Out, "Controller running (logs: %s)\n", logFile.Name())
	return stopped, func() {
		stopMgr()
		<-finished
		if runErr != nil {
			fmt.Fprintln(o.streams.ErrOut, "controller:", runErr)
		}
		_ = logFile.Close()
	}, nil
}

// deployInCluster installs the controller and the server with the
// manifests of `tenancy install` onto the local process nodes, one
// replica per CPU node up to two, and waits until they run. The nodes run
// each container's command on this machine: PATH leads them to this very
// binary, which stands in for the image.
func (o *UpOptions) deployInCluster(ctx context.Context, c client.Client, cfg *rest.Config) error {
	dir, err := podVisibleDir()
	if err != nil {
		return err
	}
	replicas := int32(min(o.CPUNodes, 2))
	fmt.Fprintln(o.streams.Out, "Installing Tenancy as 'tenancy install' does")
	objs, err := installComponents(ctx, c, cfg, install.Options{
		Replicas: replicas,
		Path:     dir + ":" + shim.DefaultPath,
	}, o.streams.ErrOut)
	if err != nil {
		return err
	}
	deps := install.Deployments(objs)
	fmt.Fprintf(o.streams.Out, "Deploying %s onto the local nodes (%d replicas each, running %s)\n", strings.Join(deps, " and "), replicas, filepath.Join(dir, "tenancy"))
	if err := install.WaitAvailable(ctx, c, 3*time.Minute, deps...); err != nil {
		return fmt.Errorf("%w (their logs: kubectl -n %s logs deploy/%s)", err, install.SystemNamespace, install.ControllerName)
	}
	fmt.Fprintf(o.streams.Out, "Controller and server running in the cluster (kubectl -n %s get pods)\n", install.SystemNamespace)
	return nil
}

// podVisibleDir is the directory of this binary, which the pods' user
// (uid 65532) must be able to run: every directory above it searchable,
// the binary executable by others.
func podVisibleDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", err
	}
	if filepath.Base(exe) != "tenancy" {
		return "", fmt.Errorf("--in-cluster runs this binary in the pods as 'tenancy', but it is named %s: build it as tenancy (make build)", filepath.Base(exe))
	}
	for _, own := range []string{"/tmp", "/run", "/proc"} {
		if exe == own || strings.HasPrefix(exe, own+"/") {
			return "", fmt.Errorf("--in-cluster runs this binary in the pods, which have a %s of their own and cannot see %s: put tenancy elsewhere, e.g. /usr/local/bin or /var/tmp", own, exe)
		}
	}
	if os.Geteuid() == 0 {
		// The nodes run pods as their runAsUser, not as root.
		for p := exe; p != "/"; p = filepath.Dir(p) {
			fi, err := os.Stat(p)
			if err != nil {
				return "", err
			}
			if need := os.FileMode(0o001); fi.Mode().Perm()&need == 0 {
				return "", fmt.Errorf("--in-cluster: the pods run as uid %d and cannot reach %s (%s is mode %s): put tenancy where others may run it, e.g. /usr/local/bin",
					install.NonRootUID, exe, p, fi.Mode().Perm())
			}
		}
	}
	return filepath.Dir(exe), nil
}

// removeInCluster deletes the controller and server Deployments an
// earlier `tenancy up --in-cluster` left in the local control plane, so
// that they do not run beside the ones `tenancy up` runs itself. (Never on
// a cluster named with --kubeconfig: those are somebody's installation.)
func removeInCluster(ctx context.Context, c client.Client, out io.Writer) error {
	for _, name := range []string{install.ControllerName, install.ServerName} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: install.SystemNamespace, Name: name}}
		err := c.Delete(ctx, d)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete the in-cluster Deployment %s: %w", name, err)
		}
		fmt.Fprintf(out, "Deleted Deployment %s/%s of an earlier 'up --in-cluster': the controller runs here now\n", install.SystemNamespace, name)
	}
	return nil
}

// inClusterURL is the address of a ready server pod: the local nodes share
// this machine's network, so it is reachable as it is.
func inClusterURL(ctx context.Context, c client.Client) (string, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(install.SystemNamespace), client.MatchingLabels{install.LabelName: install.ServerName}); err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
				return "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(install.ServerPort)), nil
			}
		}
	}
	return "", errors.New("no tenancy-server pod is ready")
}
