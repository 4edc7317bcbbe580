// Package localcluster runs a real Kubernetes control plane on this machine
// as child processes: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, plus optionally kwok simulating nodes so that pods are
// scheduled, "run" and complete. It hands out admin and per-user clients
// authenticated by client certificates from the cluster's own CA.
//
// The binaries are built once from the Go module proxy (see EnsureBinaries).
// Linux is the supported platform: there the kernel kills the children if
// the parent dies.
//
// Layout of Options.DataDir:
//
//	pki/            ca.crt ca.key (kept), sa.key sa.pub (kept), apiserver.crt/.key
//	etcd/           etcd data (kept across starts, so every object survives)
//	logs/<name>.log output of each component, appended across starts
//	*.kubeconfig    admin and per-component kubeconfigs, rewritten each start
//	state.json      ports used, preferred again on the next start
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tenancy-dev/tenancy/internal/childproc"
)

// Options configure Start.
type Options struct {
	// DataDir holds the cluster's keys, data, logs and kubeconfigs. Required.
	// Reused across starts (same CA, same etcd data) unless Reset.
	DataDir string
	// BinDir holds the binaries; "" means DefaultBinDir().
	BinDir string
	// Reset first deletes what Start keeps in DataDir (keys, etcd data,
	// logs, kubeconfigs): a new, empty cluster.
	Reset bool
	// APIServerPort is kube-apiserver's port on 127.0.0.1; 0 picks the port
	// of the previous start if free, else any free port.
	APIServerPort int
	// UnsafeNoFsync runs etcd without fsync: faster, for tests only.
	UnsafeNoFsync bool
	// APIServerProfiling serves kube-apiserver's /debug/pprof (to admin):
	// the benchmarks profile it.
	APIServerProfiling bool
	// Progress receives human-readable progress lines; nil discards them.
	Progress io.Writer
	// Nodes are simulated by kwok; with none, kwok is not started. Nodes
	// carrying the kwok annotation but not listed here are deleted.
	Nodes []Node
	// ProcessNodes really run pods: each container's command and args as
	// local processes (see package procnode), with logs, exec, cp,
	// port-forward, GPUs and volumes. With any, the storage provisioner
	// and its default StorageClass run too. Process nodes of an earlier
	// start not listed here are deleted.
	ProcessNodes []Node
	// NodeIPPrefix makes process node N's address (N from 1):
	// NodeIPPrefix+N; "" means DefaultNodeIPPrefix, "127.0.1.".
	NodeIPPrefix string
	// StopGracePeriod is how long Stop waits after SIGTERM before SIGKILL;
	// 0 means 5s.
	StopGracePeriod time.Duration
}

// Node is a simulated node. Pods bound to it are marked running at once and,
// when owned by a Job, completed.
type Node struct {
	Name   string
	CPU    string // e.g. "32"; "" means 8
	Memory string // e.g. "256Gi"; "" means 32Gi
	GPUs   int    // nvidia.com/gpu capacity
	Labels map[string]string
	Taints []corev1.Taint
}

// Cluster is a running control plane. Its methods are safe for concurrent
// use.
type Cluster struct {
	opts     Options
	layout   layout
	ca       *authority
	ports    ports
	admin    keyPair
	spawner  *childproc.Spawner
	unlock   func()
	failed   chan error
	progress io.Writer

	proc *procNodes // the process nodes and the provisioner, if any

	mu         sync.Mutex
	procs      []*process // in start order
	beforeStop []func() error

	stopOnce sync.Once
	stopping chan struct{}
}

const defaultStartTimeout = 3 * time.Minute

// Start builds the binaries if needed (see EnsureBinaries), starts etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler (and kwok if
// o.Nodes is not empty) and returns once the cluster is ready: the API server
// answers /readyz, the "default" ServiceAccount exists (so the controllers
// run) and every node is Ready. ctx bounds the start only (3 minutes if it
// has no deadline, not counting the build); the processes run until Stop.
// On failure everything started is stopped and the error quotes the failing
// component's log.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.DataDir == "" {
		return nil, errors.New("localcluster: Options.DataDir is required")
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	o.DataDir = dir
	if o.BinDir == "" {
		o.BinDir = DefaultBinDir()
	}
	if o.BinDir, err = filepath.Abs(o.BinDir); err != nil {
		return nil, err
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.StopGracePeriod == 0 {
		o.StopGracePeriod = 5 * time.Second
	}
	if err := validateNodes(slices.Concat(o.Nodes, o.ProcessNodes)); err != nil {
		return nil, err
	}
	if err := EnsureBinaries(ctx, o.BinDir, o.Progress); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}

	l := layout{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	unlock, ok, err := tryLockFile(l.lock())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("data dir %s is in use by another running cluster; stop it or use another directory", dir)
	}
	if o.Reset {
		if err := resetDataDir(l); err != nil {
			unlock()
			return nil, err
		}
	}
	for _, d := range []string{filepath.Dir(l.pki("x")), l.logs()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			unlock()
			return nil, err
		}
	}
	fmt.Fprintf(o.Progress, "starting control plane in %s…\n", dir)

	c := &Cluster{
		opts:     o,
		layout:   l,
		spawner:  childproc.NewSpawner(),
		unlock:   unlock,
		failed:   make(chan error, 1),
		stopping: make(chan struct{}),
		progress: o.Progress,
	}
	started := time.Now()
	if err := c.start(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	fmt.Fprintf(o.Progress, "control plane ready at %s in %s (logs in %s)\n",
		c.Host(), time.Since(started).Round(100*time.Millisecond), l.logs())
	go c.watch()
	return c, nil
}

// resetDataDir removes what Start creates in the data directory (and
// nothing else, in case it was pointed at a directory with other files).
func resetDataDir(l layout) error {
	entries, err := os.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if n == "pki" || n == "etcd" || n == "logs" || n == "kwok" || n == "flexvolume" || n == "nodes" || n == "volumes" || n == "state.json" || strings.HasSuffix(n, ".kubeconfig") {
			errs = append(errs, os.RemoveAll(filepath.Join(l.dir, n)))
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) start(ctx context.Context) error {
	l, o := c.layout, c.opts
	prev := readState(l)
	if err := c.writePKI(); err != nil {
		return err
	}

	// etcd. A port picked free may be taken before etcd binds it (other
	// test binaries start clusters too): then retry with other ports.
	for attempt := 0; ; attempt++ {
		c.ports.EtcdClient, c.ports.EtcdPeer = preferPort(prev.EtcdClient, attempt), preferPort(prev.EtcdPeer, attempt)
		p, err := c.startProcess("etcd", etcdArgs(l, c.ports, o.UnsafeNoFsync), nil)
		if err != nil {
			return err
		}
		err = waitFor(ctx, p, "to be healthy", func(ctx context.Context) (bool, error) {
			return c.etcdHealthy(ctx), nil
		})
		if err == nil {
			break
		}
		if attempt < 3 && p.exited() && strings.Contains(tailFile(p.logPath, 20), "address already in use") {
			continue
		}
		return err
	}

	// kube-apiserver.
	for attempt := 0; ; attempt++ {
		c.ports.APIServer = o.APIServerPort
		if c.ports.APIServer == 0 {
			c.ports.APIServer = preferPort(prev.APIServer, attempt)
		}
		if err := c.writeKubeconfigs(); err != nil {
			return err
		}
		p, err := c.startProcess("kube-apiserver", apiServerArgs(l, c.ports, o.APIServerProfiling), nil)
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(c.Config())
		if err != nil {
			return err
		}
		err = waitFor(ctx, p, "to be ready (/readyz)", func(ctx context.Context) (bool, error) {
			_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil, nil
		})
		if err == nil {
			break
		}
		if attempt < 3 && o.APIServerPort == 0 && p.exited() && strings.Contains(tailFile(p.logPath, 20), "address already in use") {
			continue
		}
		return err
	}
	if err := writeState(l, c.ports); err != nil {
		return err
	}

	kcm, err := c.startProcess("kube-controller-manager", controllerManagerArgs(l), nil)
	if err != nil {
		return err
	}
	if _, err := c.startProcess("kube-scheduler", schedulerArgs(l), nil); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		return err
	}
	// The service-account controller creating "default" in "default" shows
	// kube-controller-manager is up and its controllers run.
	err = waitFor(ctx, kcm, `to create ServiceAccount "default"`, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return err
	}
	if err := c.checkRunning(); err != nil {
		return err
	}
	if len(o.Nodes) > 0 {
		if err := c.startNodes(ctx, cs); err != nil {
			return err
		}
	}
	if len(o.ProcessNodes) > 0 {
		return c.startProcessNodes(ctx, cs)
	}
	return nil
}

// preferPort returns prev if it is set, free and this is the first attempt;
// else a free port.
func preferPort(prev, attempt int) int {
	if prev != 0 && attempt == 0 && portFree(prev) {
		return prev
	}
	return childproc.FreePort()
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// etcdHealthy asks etcd's /health over TLS with a client certificate (etcd
// accepts no other client).
func (c *Cluster) etcdHealthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	hc, err := c.etcdHTTPClient()
	if err != nil {
		return false
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.EtcdURL()+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	var h struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
}

// EtcdURL is etcd's client URL (TLS; it requires a client certificate of
// the cluster CA).
func (c *Cluster) EtcdURL() string { return "https://127.0.0.1:" + strconv.Itoa(c.ports.EtcdClient) }

// etcdHTTPClient is an HTTP client trusting the cluster CA and presenting
// the health-check client certificate.
func (c *Cluster) etcdHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.layout.pki("etcd-healthcheck-client.crt"), c.layout.pki("etcd-healthcheck-client.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ca.certPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
	}}}, nil
}

// waitFor polls cond until it is true, p exits, or ctx is done. Errors name
// p and quote the end of its log.
func waitFor(ctx context.Context, p *process, what string, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		if p.exited() {
			return p.failure("")
		}
		// A request to a port someone else holds can hang in the TLS
		// handshake: bound each attempt.
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := cond(attemptCtx)
		cancel()
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		if p.exited() {
			return p.failure("")
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("did not become ready: waiting %s: %v", what, ctx.Err())
			if lastErr != nil {
				msg += fmt.Sprintf(" (last error: %v)", lastErr)
			}
			return p.failure(msg)
		case <-p.done:
		case <-tick.C:
		}
	}
}

func (c *Cluster) startProcess(name string, args, env []string) (*process, error) {
	p, err := startProcess(c.spawner, name, filepath.Join(c.opts.BinDir, name), args, env, c.layout.log(name))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// checkRunning returns an error for the first component that has exited.
func (c *Cluster) checkRunning() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.exited() && !c.isStopping() {
			return p.failure("")
		}
	}
	return nil
}

func (c *Cluster) isStopping() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// watch reports the first component to exit before Stop on Failed.
func (c *Cluster) watch() {
	c.mu.Lock()
	procs := c.procs
	c.mu.Unlock()
	exited := make(chan *process, len(procs))
	nodeFailed := make(chan error, 1)
	if c.proc != nil {
		for _, n := range c.proc.nodes {
			go func() {
				select {
				case <-n.Done():
					select {
					case nodeFailed <- fmt.Errorf("process node %s stopped: %v; its log: %s", n.Name(), n.Err(), c.layout.log("node-"+n.Name())):
					default:
					}
				case <-c.stopping:
				}
			}()
		}
	}
	for _, p := range procs {
		go func() {
			select {
			case <-p.done:
				exited <- p
			case <-c.stopping:
			}
		}()
	}
	select {
	case p := <-exited:
		if !c.isStopping() {
			c.failed <- p.failure("exited unexpectedly")
		}
	case err := <-nodeFailed:
		if !c.isStopping() {
			c.failed <- err
		}
	case <-c.stopping:
	}
}

// Failed delivers an error (quoting the component's log) if a component
// exits while the cluster runs. Nothing is sent after Stop.
func (c *Cluster) Failed() <-chan error { return c.failed }

// BeforeStop registers f to run when Stop is called, before any component
// stops: the place to stop clients of the cluster (a controller, say) while
// the API server still answers. Functions run last registered first; their
// errors are returned by Stop.
func (c *Cluster) BeforeStop(f func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.beforeStop = append(c.beforeStop, f)
}

// Stop runs the BeforeStop functions, then stops the components —
// scheduler, controller manager and kwok first, then the API server, then
// etcd — each with SIGTERM and, after the grace period, SIGKILL to its
// process group. It returns once every process has exited. Safe to call
// more than once.
func (c *Cluster) Stop() error {
	var hookErrs []error
	c.stopOnce.Do(func() {
		c.mu.Lock()
		hooks := c.beforeStop
		c.mu.Unlock()
		for _, hook := range slices.Backward(hooks) {
			if err := hook(); err != nil {
				hookErrs = append(hookErrs, err)
			}
		}
		close(c.stopping)
		// Pods first, while the API server still takes their status.
		c.stopProcessNodes(c.opts.StopGracePeriod)
		c.mu.Lock()
		procs := c.procs
		c.mu.Unlock()
		byName := map[string]*process{}
		for _, p := range procs {
			byName[p.name] = p // the last attempt of a retried start wins
		}
		var killed []string
		stopAll := func(names ...string) {
			var wg sync.WaitGroup
			for _, n := range names {
				if p := byName[n]; p != nil {
					wg.Go(func() { p.stop(c.opts.StopGracePeriod) })
				}
			}
			wg.Wait()
		}
		stopAll("kube-scheduler", "kube-controller-manager", "kwok")
		stopAll("kube-apiserver")
		stopAll("etcd")
		for _, p := range procs {
			p.stop(c.opts.StopGracePeriod) // earlier attempts, normally exited
			if p.killed.Load() {
				killed = append(killed, p.name)
			}
		}
		c.spawner.Close()
		if c.unlock != nil {
			c.unlock()
		}
		if len(killed) > 0 {
			fmt.Fprintf(c.progress, "killed %s after %s\n", strings.Join(killed, ", "), c.opts.StopGracePeriod)
		}
	})
	return errors.Join(hookErrs...)
}

// Host is the API server URL, https://127.0.0.1:<port>.
func (c *Cluster) Host() string {
	return "https://127.0.0.1:" + strconv.Itoa(c.ports.APIServer)
}

// CAData is the PEM-encoded cluster CA certificate.
func (c *Cluster) CAData() []byte { return append([]byte(nil), c.ca.certPEM...) }

// DataDir is the absolute path of the cluster's data directory.
func (c *Cluster) DataDir() string { return c.layout.dir }

// LogDir is the directory holding each component's log.
func (c *Cluster) LogDir() string { return c.layout.logs() }

// Config returns a new admin client configuration (a client certificate in
// group system:masters).
func (c *Cluster) Config() *rest.Config {
	return c.certConfig(c.admin)
}

// AdminKubeconfig is the path of the admin kubeconfig in the data directory.
func (c *Cluster) AdminKubeconfig() string { return c.layout.kubeconfig("admin") }

// UserConfig returns a client configuration authenticating as user in
// groups (plus system:authenticated), by a client certificate signed by the
// cluster CA. It has no permissions until RBAC grants some.
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	if user == "" {
		return nil, errors.New("UserConfig: user name is empty")
	}
	kp, err := c.ca.issue(certSpec{CommonName: user, Organization: groups}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("issue client certificate for %q: %w", user, err)
	}
	return c.certConfig(kp), nil
}

func (c *Cluster) certConfig(kp keyPair) *rest.Config {
	return &rest.Config{
		Host: c.Host(),
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.CAData(),
			CertData: append([]byte(nil), kp.CertPEM...),
			KeyData:  append([]byte(nil), kp.KeyPEM...),
		},
		// A local API server: the client-side default of 5 QPS only slows
		// tests down.
		QPS:   100,
		Burst: 200,
	}
}

// state is what is remembered between starts.
type state struct {
	Ports ports `json:"ports"`
}

func readState(l layout) ports {
	var s state
	if data, err := os.ReadFile(l.state()); err == nil {
		_ = json.Unmarshal(data, &s) // a bad file only loses port preferences
	}
	return s.Ports
}

func writeState(l layout, p ports) error {
	data, err := json.MarshalIndent(state{Ports: p}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(l.state(), data, 0o600)
}
