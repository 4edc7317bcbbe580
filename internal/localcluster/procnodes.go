package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/tenancy-dev/tenancy/internal/localcluster/procnode"
	"github.com/tenancy-dev/tenancy/internal/localcluster/provisioner"
)

// Node pool labels, as on a GPU cluster (GKE-like).
const (
	PoolLabel       = "tenancy.dev/pool"
	GPUPresentLabel = "nvidia.com/gpu.present"
	ZoneLabel       = "topology.kubernetes.io/zone"
	RegionLabel     = "topology.kubernetes.io/region"
	// GPUResource is the GPUs' extended resource.
	GPUResource = "nvidia.com/gpu"
)

// Zones are the two zones local nodes are spread over.
var Zones = []string{"local-a", "local-b"}

// DefaultNodeIPPrefix makes process node N (from 1) 127.0.1.N.
const DefaultNodeIPPrefix = "127.0.1."

// DefaultNodes are a CPU pool of cpu nodes and a GPU pool of gpu nodes
// (8 GPUs each, tainted nvidia.com/gpu=present:NoSchedule), spread over
// two zones: cpu-node-1…, gpu-node-1….
func DefaultNodes(cpu, gpu int) []Node {
	var nodes []Node
	for i := range cpu {
		nodes = append(nodes, Node{
			Name: "cpu-node-" + strconv.Itoa(i+1), CPU: "32", Memory: "128Gi",
			Labels: map[string]string{PoolLabel: "cpu", ZoneLabel: Zones[i%2], RegionLabel: "local"},
		})
	}
	for i := range gpu {
		nodes = append(nodes, Node{
			Name: "gpu-node-" + strconv.Itoa(i+1), CPU: "64", Memory: "512Gi", GPUs: 8,
			Labels: map[string]string{PoolLabel: "gpu", GPUPresentLabel: "true", ZoneLabel: Zones[(cpu+i)%2], RegionLabel: "local"},
			Taints: []corev1.Taint{{Key: GPUResource, Value: "present", Effect: corev1.TaintEffectNoSchedule}},
		})
	}
	return nodes
}

// SimulatedNodes are n kwok nodes (sim-node-1…) of the CPU pool, for scale.
func SimulatedNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{
			Name: "sim-node-" + strconv.Itoa(i+1), CPU: "32", Memory: "128Gi",
			Labels: map[string]string{PoolLabel: "cpu", ZoneLabel: Zones[i%2], RegionLabel: "local"},
		}
	}
	return nodes
}

// procNodes are the running process nodes and the provisioner.
type procNodes struct {
	nodes    []*procnode.Node
	stopProv context.CancelFunc
	provDone <-chan struct{}
}

func (l layout) nodeDir(name string) string { return filepath.Join(l.dir, "nodes", name) }
func (l layout) volumes() string            { return filepath.Join(l.dir, "volumes") }

// startProcessNodes starts the storage provisioner and every process
// node, in this process, and waits until the nodes are Ready.
func (c *Cluster) startProcessNodes(ctx context.Context, cs kubernetes.Interface) error {
	o := c.opts
	prefix := o.NodeIPPrefix
	if prefix == "" {
		prefix = DefaultNodeIPPrefix
	}
	provCS, err := c.identityClient("localcluster-provisioner", "system:masters")
	if err != nil {
		return err
	}
	provLog, err := openLog(c.layout.log("provisioner"))
	if err != nil {
		return err
	}
	provCtx, stopProv := context.WithCancel(klog.NewContext(context.Background(),
		logr.FromSlogHandler(slog.NewTextHandler(provLog, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	provDone, err := provisioner.Start(provCtx, provCS, c.layout.volumes())
	if err != nil {
		stopProv()
		_ = provLog.Close()
		return fmt.Errorf("storage provisioner (log: %s): %w", provLog.Name(), err)
	}
	go func() {
		<-provDone
		_ = provLog.Close()
	}()
	c.proc = &procNodes{stopProv: stopProv, provDone: provDone}
	if err := deleteStaleNodes(ctx, cs, o.Nodes, o.ProcessNodes); err != nil {
		return err
	}
	type result struct {
		i    int
		node *procnode.Node
		err  error
	}
	results := make(chan result, len(o.ProcessNodes))
	var wg sync.WaitGroup
	for i, n := range o.ProcessNodes {
		wg.Go(func() {
			node, err := c.startProcessNode(ctx, n, net.ParseIP(prefix+strconv.Itoa(i+1)))
			results <- result{i, node, err}
		})
	}
	wg.Wait()
	close(results)
	nodes := make([]*procnode.Node, len(o.ProcessNodes))
	var errs []error
	for r := range results {
		nodes[r.i] = r.node
		errs = append(errs, r.err)
	}
	for _, n := range nodes {
		if n != nil {
			c.proc.nodes = append(c.proc.nodes, n)
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) startProcessNode(ctx context.Context, n Node, ip net.IP) (*procnode.Node, error) {
	if ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("node %s: Options.NodeIPPrefix %q does not make an IPv4 address", n.Name, c.opts.NodeIPPrefix)
	}
	cs, err := c.identityClient("system:node:"+n.Name, "system:nodes", "system:masters")
	if err != nil {
		return nil, err
	}
	serving, err := c.ca.issue(certSpec{CommonName: "system:node:" + n.Name, DNSNames: []string{n.Name}, IPs: []net.IP{ip}, Server: true}, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		return nil, err
	}
	port, err := freePortOn(ip)
	if err != nil {
		return nil, fmt.Errorf("node %s: no free port on %s (is the loopback address usable?): %w", n.Name, ip, err)
	}
	cpu, mem := n.CPU, n.Memory
	if cpu == "" {
		cpu = "8"
	}
	if mem == "" {
		mem = "32Gi"
	}
	logFile, err := openLog(c.layout.log("node-" + n.Name))
	if err != nil {
		return nil, err
	}
	node, err := procnode.Start(ctx, procnode.Config{
		Name:           n.Name,
		IP:             ip,
		Port:           port,
		CPU:            resource.MustParse(cpu),
		Memory:         resource.MustParse(mem),
		GPUs:           n.GPUs,
		Labels:         n.Labels,
		Taints:         n.Taints,
		Client:         cs,
		ClientCA:       c.CAData(),
		ServingCert:    cert,
		Dir:            c.layout.nodeDir(n.Name),
		APIServerHost:  "127.0.0.1",
		APIServerPort:  c.ports.APIServer,
		Spawner:        c.spawner,
		Log:            logFile,
		KubeletVersion: kubernetesVersion(),
	})
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	go func() {
		<-node.Done()
		_ = logFile.Close()
	}()
	return node, nil
}

// identityClient is a client authenticated as user in groups by a
// certificate of the cluster CA.
func (c *Cluster) identityClient(user string, groups ...string) (kubernetes.Interface, error) {
	kp, err := c.ca.issue(certSpec{CommonName: user, Organization: groups}, time.Now())
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(c.certConfig(kp))
}

// deleteStaleNodes deletes nodes of an earlier start that are no longer
// listed: process nodes not in procNodes, and kwok nodes not in kwokNodes
// (a kwok node may have the name a process node now has; its pods are
// then rescheduled or garbage collected, as for any node that goes away).
func deleteStaleNodes(ctx context.Context, cs kubernetes.Interface, kwokNodes, procNodes []Node) error {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	listed := func(nodes []Node, name string) bool {
		return slices.ContainsFunc(nodes, func(n Node) bool { return n.Name == name })
	}
	for _, node := range list.Items {
		isKwok := node.Annotations[kwokNodeAnnotation] == kwokNodeAnnotationValue
		isProc := node.Labels[procnode.ManagedLabel] == "true"
		switch {
		case isKwok && !listed(kwokNodes, node.Name):
		case isProc && !listed(procNodes, node.Name):
		default:
			continue
		}
		if err := cs.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete node %s: %w", node.Name, err)
		}
	}
	return nil
}

// freePortOn returns a TCP port free on ip now.
func freePortOn(ip net.IP) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stopProcessNodes ends every pod (SIGTERM, SIGKILL after grace), then the
// node agents and the provisioner.
func (c *Cluster) stopProcessNodes(grace time.Duration) {
	if c.proc == nil {
		return
	}
	var wg sync.WaitGroup
	for _, n := range c.proc.nodes {
		wg.Go(func() { n.Stop(grace) })
	}
	wg.Wait()
	c.proc.stopProv()
	<-c.proc.provDone
}

// ProcessNodePods is the number of pods the process nodes run or keep.
func (c *Cluster) ProcessNodePods() int {
	if c.proc == nil {
		return 0
	}
	total := 0
	for _, n := range c.proc.nodes {
		total += n.PodCount()
	}
	return total
}

// openLog opens a component's log for appending.
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// kubernetesVersion is the Kubernetes release the control plane is built
// from, which the nodes report as their kubelet version.
func kubernetesVersion() string {
	data, err := toolMods.ReadFile("toolmods/kubernetes/go.mod.txt")
	if err != nil {
		return ""
	}
	return moduleVersion(data, "k8s.io/kubernetes")
}
