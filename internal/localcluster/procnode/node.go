// Package procnode is a Kubernetes node that runs each container's command
// and args as local processes on this machine: no container runtime, no
// images (an image is recorded in the status, never pulled). It is built on
// virtual-kubelet, which registers the node, keeps its lease, syncs pods
// and serves the kubelet API; this package is the provider behind it.
//
// Each container runs under a shim (this binary, re-executed; see shim.Env)
// in new mount, UTS and PID namespaces: its volumes at their mountPaths on
// a root of its own, the pod's name as hostname, and as PID 1 of its PID
// namespace so that its death (or the agent's: parent-death signal) ends
// every process it started. Processes never run as root. Nothing isolates
// one pod from another beyond that: the nodes are for trying and testing on
// one machine, not for tenants who distrust each other.
package procnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Labels and annotations the nodes carry.
const (
	// ManagedLabel marks nodes run by this package.
	ManagedLabel = "procnode.localcluster.dev/managed"
	// RuntimeAnnotation says how pods run, for `kubectl describe node`.
	RuntimeAnnotation = "procnode.localcluster.dev/runtime"
	runtimeNote       = "containers run as local processes (command and args); images are recorded, not pulled"
	// GPUResource is the extended resource GPU nodes advertise.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
)

// Spawner starts child processes (see childproc.Spawner): from one thread
// that lives as long as the agent, so parent-death signals fire only when
// the agent dies.
type Spawner interface {
	Start(cmd *exec.Cmd) error
}

// Config describes one node.
type Config struct {
	Name   string
	IP     net.IP // its own loopback address: InternalIP and every pod's IP
	Port   int    // kubelet API port on IP; 0 means 10250
	CPU    resource.Quantity
	Memory resource.Quantity
	Pods   int // 0 means 110
	GPUs   int // nvidia.com/gpu capacity, devices 0..GPUs-1
	Labels map[string]string
	Taints []corev1.Taint

	// Client acts for the node: it registers the node, writes pod status,
	// reads what pods need and requests service-account tokens. It also
	// asks the API server (SubjectAccessReview) whether a caller of the
	// kubelet API may do what it asks.
	Client kubernetes.Interface
	// ClientCA (PEM) verifies the client certificates of the kubelet API's
	// callers (the API server). Required: there is no anonymous access.
	ClientCA []byte
	// ServingCert is the kubelet API's TLS certificate (for IP).
	ServingCert tls.Certificate
	// Dir holds the node's pods: their volumes, logs and working dirs.
	Dir string
	// APIServerHost and APIServerPort are what pods get as
	// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
	APIServerHost string
	APIServerPort int
	Spawner       Spawner
	// Log receives the agent's log; nil discards it.
	Log io.Writer
	// KubeletVersion is reported in the node status.
	KubeletVersion string
}

// Node is a running node agent.
type Node struct {
	cfg    Config
	vk     *nodeutil.Node
	cancel context.CancelFunc
	runErr chan error

	mu       sync.Mutex
	pods     map[types.UID]*podRuntime
	byName   map[string]types.UID // namespace/name → uid
	gpuOwner map[int]types.UID
	notifyCB func(*corev1.Pod)
	ctx      context.Context
}

func (c *Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("procnode: Config.Name is required")
	case c.IP == nil:
		return fmt.Errorf("procnode %s: Config.IP is required", c.Name)
	case c.Client == nil:
		return fmt.Errorf("procnode %s: Config.Client is required", c.Name)
	case len(c.ClientCA) == 0:
		return fmt.Errorf("procnode %s: Config.ClientCA is required (the kubelet API admits no anonymous caller)", c.Name)
	case c.Dir == "":
		return fmt.Errorf("procnode %s: Config.Dir is required", c.Name)
	case c.Spawner == nil:
		return fmt.Errorf("procnode %s: Config.Spawner is required", c.Name)
	case c.GPUs < 0:
		return fmt.Errorf("procnode %s: GPUs must not be negative", c.Name)
	}
	return nil
}

// Start registers the node and serves its pods and kubelet API until Stop.
// It returns once the node is Ready.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = 10250
	}
	if cfg.Pods == 0 {
		cfg.Pods = 110
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	// What an earlier agent left: its processes died with it, and the pods
	// still bound here start afresh (as after a node reboot).
	if err := os.RemoveAll(filepath.Join(cfg.Dir, "pods")); err != nil {
		return nil, fmt.Errorf("procnode %s: clear the pods of an earlier start: %w", cfg.Name, err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "pods"), 0o700); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		pods:     map[types.UID]*podRuntime{},
		byName:   map[string]types.UID{},
		gpuOwner: map[int]types.UID{},
		runErr:   make(chan error, 1),
	}
	runCtx, cancel := context.WithCancel(context.Background())
	runCtx = vklog.WithLogger(runCtx, newLogger(cfg.Log, cfg.Name))
	n.cancel, n.ctx = cancel, runCtx

	auth, err := nodeutil.WebhookAuth(cfg.Client, cfg.Name, func(wc *nodeutil.WebhookAuthConfig) error {
		ca, err := dynamiccertificates.NewStaticCAContent("cluster-ca", cfg.ClientCA)
		if err != nil {
			return err
		}
		wc.AuthnConfig.ClientCertificateCAContentProvider = ca
		wc.AuthnConfig.Anonymous = nil // callers must present a certificate
		return nil
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("procnode %s: kubelet API authentication: %w", cfg.Name, err)
	}
	mux := newServeMux()
	vk, err := nodeutil.NewNode(cfg.Name, func(nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		return n, nil, nil
	}, func(nc *nodeutil.NodeConfig) error {
		nc.Client = cfg.Client
		nc.NodeSpec = n.nodeObject()
		nc.HTTPListenAddr = net.JoinHostPort(cfg.IP.String(), strconv.Itoa(cfg.Port))
		nc.NumWorkers = max(8, runtime.NumCPU())
		nc.SkipDownwardAPIResolution = true // resolved at each start, with the pod's IP
		nc.Handler = nodeutil.WithAuth(auth, mux)
		nc.StreamIdleTimeout = 4 * time.Hour
		nc.StreamCreationTimeout = 30 * time.Second
		return nil
	}, nodeutil.AttachProviderRoutes(mux), nodeutil.WithTLSConfig(func(tc *tls.Config) error {
		tc.Certificates = []tls.Certificate{cfg.ServingCert}
		tc.ClientAuth = tls.RequestClientCert // verified by the authenticator
		tc.CipherSuites = nil                 // Go's defaults (TLS 1.3 included)
		return nil
	}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("procnode %s: %w", cfg.Name, err)
	}
	n.vk = vk
	go func() { n.runErr <- vk.Run(runCtx) }()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := vk.WaitReady(wctx, 0); err != nil {
		n.Stop(0)
		return nil, fmt.Errorf("procnode %s did not become ready: %w", cfg.Name, err)
	}
	return n, nil
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Done is closed if the node agent ends (after Stop, or on an error).
func (n *Node) Done() <-chan struct{} { return n.vk.Done() }

// Err is why the agent ended.
func (n *Node) Err() error { return n.vk.Err() }

// Stop ends every pod (SIGTERM, SIGKILL after grace) and the agent. It
// returns once every pod process has exited.
func (n *Node) Stop(grace time.Duration) {
	n.mu.Lock()
	pods := make([]*podRuntime, 0, len(n.pods))
	for _, p := range n.pods {
		pods = append(pods, p)
	}
	n.mu.Unlock()
	for _, p := range pods {
		p.stop(grace)
	}
	for _, p := range pods {
		<-p.done
	}
	n.cancel()
	if n.vk != nil {
		<-n.vk.Done()
	}
}

// PodCount is the number of pods the node runs or keeps.
func (n *Node) PodCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pods)
}

// nodeObject is the Node as registered.
func (n *Node) nodeObject() corev1.Node {
	cfg := n.cfg
	labels := map[string]string{
		"kubernetes.io/hostname": cfg.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     runtime.GOARCH,
		"type":                   "process",
		ManagedLabel:             "true",
	}
	maps.Copy(labels, cfg.Labels)
	res := corev1.ResourceList{
		corev1.ResourceCPU:              cfg.CPU,
		corev1.ResourceMemory:           cfg.Memory,
		corev1.ResourcePods:             *resource.NewQuantity(int64(cfg.Pods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	if cfg.GPUs > 0 {
		res[GPUResource] = *resource.NewQuantity(int64(cfg.GPUs), resource.DecimalSI)
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	version := cfg.KubeletVersion
	if version == "" {
		version = "v0.0.0-procnode"
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        cfg.Name,
			Labels:      labels,
			Annotations: map[string]string{RuntimeAnnotation: runtimeNote},
		},
		Spec: corev1.NodeSpec{Taints: cfg.Taints},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res,
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "process node is ready"),
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
				cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", "loopback"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: cfg.IP.String()},
				{Type: corev1.NodeHostName, Address: cfg.Name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(cfg.Port)}},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem:         "linux",
				Architecture:            runtime.GOARCH,
				KubeletVersion:          version,
				ContainerRuntimeVersion: "process://local (images not pulled)",
				KernelVersion:           kernelVersion(),
				OSImage:                 "this machine",
			},
		},
	}
}

func kernelVersion() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// sysProcAttr is how the shim of a container starts: its own process
// group, killed if the agent's spawning thread dies, in new mount, UTS and
// PID namespaces — and a user namespace mapping the agent's user when the
// agent is not root.
func (n *Node) sysProcAttr(uid, gid int) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID,
	}
	if os.Geteuid() != 0 {
		// The agent's user is root inside (as in a rootless container):
		// only the uid that created the namespace can be mapped, and only
		// root inside keeps the capabilities the shim needs for its mounts
		// across exec. Outside, it is the agent's unprivileged user.
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
		a.GidMappingsEnableSetgroups = false
	}
	return a
}

func podKey(ns, name string) string { return ns + "/" + name }

// --- node.PodLifecycleHandler and node.PodNotifier

// CreatePod starts running pod.
func (n *Node) CreatePod(_ context.Context, pod *corev1.Pod) error {
	n.mu.Lock()
	if _, ok := n.pods[pod.UID]; ok {
		n.mu.Unlock()
		return nil
	}
	gpus, err := n.allocateGPUsLocked(pod)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	p, err := newPodRuntime(n, pod.DeepCopy(), gpus)
	if err != nil {
		n.releaseGPUsLocked(pod.UID)
		n.mu.Unlock()
		return err
	}
	n.pods[pod.UID] = p
	n.byName[podKey(pod.Namespace, pod.Name)] = pod.UID
	ctx := n.ctx
	n.mu.Unlock()
	go p.run(ctx)
	return nil
}

// UpdatePod takes new metadata (labels, annotations); a running pod's spec
// does not change.
func (n *Node) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	p := n.lookup(pod.Namespace, pod.Name)
	if p == nil {
		return errdefs.NotFoundf("pod %s/%s is not on node %s", pod.Namespace, pod.Name, n.cfg.Name)
	}
	p.mu.Lock()
	p.pod.Labels, p.pod.Annotations = pod.Labels, pod.Annotations
	p.mu.Unlock()
	return nil
}

// DeletePod stops pod: SIGTERM to each container's process group, SIGKILL
// after the pod's grace period. It returns at once; the status reports the
// exits, and virtual-kubelet then removes the pod from the API server.
func (n *Node) DeletePod(_ context.Context, pod *corev1.Pod) error {
	p := n.lookup(pod.Namespace, pod.Name)
	if p == nil || p.pod.UID != pod.UID {
		return errdefs.NotFoundf("pod %s/%s is not on node %s", pod.Namespace, pod.Name, n.cfg.Name)
	}
	grace := p.grace
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	p.stop(grace)
	go func() {
		<-p.done
		n.forget(p)
		// As a kubelet does once the containers are gone: remove the pod
		// now (virtual-kubelet would wait out the grace period).
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		defer cancel()
		err := n.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64(0)),
			Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			vklog.G(n.ctx).WithError(err).Warnf("delete pod %s/%s after its processes ended", pod.Namespace, pod.Name)
		}
	}()
	return nil
}

// forget drops a stopped pod and its files.
func (n *Node) forget(p *podRuntime) {
	n.mu.Lock()
	if n.pods[p.pod.UID] == p {
		delete(n.pods, p.pod.UID)
		if n.byName[podKey(p.pod.Namespace, p.pod.Name)] == p.pod.UID {
			delete(n.byName, podKey(p.pod.Namespace, p.pod.Name))
		}
	}
	n.mu.Unlock()
	n.removePodDir(p.dir)
}

// removePodDir removes a pod's directory. Mounts are in the containers'
// own namespaces, gone with them, so this never reaches a volume's source.
func (n *Node) removePodDir(dir string) {
	_ = os.RemoveAll(dir)
}

func (n *Node) lookup(ns, name string) *podRuntime {
	n.mu.Lock()
	defer n.mu.Unlock()
	uid, ok := n.byName[podKey(ns, name)]
	if !ok {
		return nil
	}
	return n.pods[uid]
}

// GetPod returns the pod with its current status.
func (n *Node) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	p := n.lookup(ns, name)
	if p == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on node %s", ns, name, n.cfg.Name)
	}
	return p.snapshot(), nil
}

// GetPodStatus returns the pod's current status.
func (n *Node) GetPodStatus(ctx context.Context, ns, name string) (*corev1.PodStatus, error) {
	pod, err := n.GetPod(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns every pod the node runs.
func (n *Node) GetPods(context.Context) ([]*corev1.Pod, error) {
	n.mu.Lock()
	pods := make([]*podRuntime, 0, len(n.pods))
	for _, p := range n.pods {
		pods = append(pods, p)
	}
	n.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.snapshot())
	}
	return out, nil
}

// NotifyPods registers the callback through which status changes reach
// virtual-kubelet.
func (n *Node) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	n.mu.Lock()
	n.notifyCB = cb
	n.mu.Unlock()
}

func (n *Node) notify(pod *corev1.Pod) {
	n.mu.Lock()
	cb := n.notifyCB
	n.mu.Unlock()
	if cb != nil {
		cb(pod)
	}
}

// --- GPUs

func gpuCount(r corev1.ResourceRequirements) int {
	if q, ok := r.Limits[GPUResource]; ok {
		return int(q.Value())
	}
	if q, ok := r.Requests[GPUResource]; ok {
		return int(q.Value())
	}
	return 0
}

// podGPUs is what a pod holds: the larger of its biggest init container
// and the sum of its containers, as the scheduler counts.
func podGPUs(pod *corev1.Pod) int {
	sum, maxInit := 0, 0
	for _, c := range pod.Spec.Containers {
		sum += gpuCount(c.Resources)
	}
	for _, c := range pod.Spec.InitContainers {
		maxInit = max(maxInit, gpuCount(c.Resources))
	}
	return max(sum, maxInit)
}

// allocateGPUsLocked gives the pod free device indices; no index is ever
// held by two pods.
func (n *Node) allocateGPUsLocked(pod *corev1.Pod) ([]int, error) {
	want := podGPUs(pod)
	if want == 0 {
		return nil, nil
	}
	var got []int
	for i := 0; i < n.cfg.GPUs && len(got) < want; i++ {
		if _, used := n.gpuOwner[i]; !used {
			got = append(got, i)
		}
	}
	if len(got) < want {
		return nil, fmt.Errorf("pod %s/%s asks for %d %s, node %s has %d free", pod.Namespace, pod.Name, want, GPUResource, n.cfg.Name, len(got))
	}
	for _, i := range got {
		n.gpuOwner[i] = pod.UID
	}
	slices.Sort(got)
	return got, nil
}

func (n *Node) releaseGPUs(uid types.UID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.releaseGPUsLocked(uid)
}

func (n *Node) releaseGPUsLocked(uid types.UID) {
	for i, owner := range n.gpuOwner {
		if owner == uid {
			delete(n.gpuOwner, i)
		}
	}
}

// --- the rest of nodeutil.Provider

// GetStatsSummary reports the node and its pods without usage figures:
// process nodes measure none.
func (n *Node) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	s := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: n.cfg.Name, StartTime: metav1.Now()}}
	pods, _ := n.GetPods(context.Background())
	for _, p := range pods {
		s.Pods = append(s.Pods, statsv1alpha1.PodStats{PodRef: statsv1alpha1.PodReference{Name: p.Name, Namespace: p.Namespace, UID: string(p.UID)}})
	}
	return s, nil
}

// GetMetricsResource reports no metrics.
func (n *Node) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}

// AttachToContainer is not supported: a container's output goes to its
// log (kubectl logs -f shows it live).
func (n *Node) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errdefs.InvalidInput("attach is not supported on process nodes; use kubectl logs -f or kubectl exec")
}
