package localcluster

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// ServiceCIDR is the cluster's service IP range; the first address is the
// "kubernetes" Service.
const ServiceCIDR = "10.96.0.0/16"

// firstServiceIP is the ClusterIP of the "kubernetes" Service (first
// address of ServiceCIDR), which the serving certificate must cover.
const firstServiceIP = "10.96.0.1"

// kwokNodeAnnotation marks nodes the kwok process simulates.
const (
	kwokNodeAnnotation      = "kwok.x-k8s.io/node"
	kwokNodeAnnotationValue = "fake"
)

// layout names every file under the data directory.
type layout struct{ dir string }

func (l layout) pki(name string) string        { return filepath.Join(l.dir, "pki", name) }
func (l layout) etcdData() string              { return filepath.Join(l.dir, "etcd") }
func (l layout) logs() string                  { return filepath.Join(l.dir, "logs") }
func (l layout) log(name string) string        { return filepath.Join(l.dir, "logs", name+".log") }
func (l layout) kubeconfig(user string) string { return filepath.Join(l.dir, user+".kubeconfig") }
func (l layout) state() string                 { return filepath.Join(l.dir, "state.json") }
func (l layout) lock() string                  { return filepath.Join(l.dir, ".lock") }
func (l layout) kwokWorkDir() string           { return filepath.Join(l.dir, "kwok") }

// ports are the TCP ports on 127.0.0.1 the components listen on.
type ports struct {
	APIServer  int `json:"apiServer"`
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
}

func etcdArgs(l layout, p ports, unsafeNoFsync bool) []string {
	client := "https://127.0.0.1:" + strconv.Itoa(p.EtcdClient)
	peer := "https://127.0.0.1:" + strconv.Itoa(p.EtcdPeer)
	// Client and peer traffic are TLS with client certificates from the
	// cluster CA: nothing on this machine reads or writes etcd without one.
	args := []string{
		"--name=localcluster",
		"--data-dir=" + l.etcdData(),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=localcluster=" + peer,
		"--initial-cluster-state=new",
		"--cert-file=" + l.pki("etcd-server.crt"),
		"--key-file=" + l.pki("etcd-server.key"),
		"--client-cert-auth=true",
		"--trusted-ca-file=" + l.pki("ca.crt"),
		"--peer-cert-file=" + l.pki("etcd-server.crt"),
		"--peer-key-file=" + l.pki("etcd-server.key"),
		"--peer-client-cert-auth=true",
		"--peer-trusted-ca-file=" + l.pki("ca.crt"),
		"--log-level=warn",
	}
	if unsafeNoFsync {
		args = append(args, "--unsafe-no-fsync")
	}
	return args
}

// apiServerArgs are kube-apiserver's flags (as of v1.36); profiling serves
// its /debug/pprof.
func apiServerArgs(l layout, p ports, profiling bool) []string {
	return []string{
		"--etcd-servers=https://127.0.0.1:" + strconv.Itoa(p.EtcdClient),
		"--etcd-cafile=" + l.pki("ca.crt"),
		"--etcd-certfile=" + l.pki("apiserver-etcd-client.crt"),
		"--etcd-keyfile=" + l.pki("apiserver-etcd-client.key"),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.APIServer),
		"--tls-cert-file=" + l.pki("apiserver.crt"),
		"--tls-private-key-file=" + l.pki("apiserver.key"),
		"--client-ca-file=" + l.pki("ca.crt"),
		"--service-account-key-file=" + l.pki("sa.pub"),
		"--service-account-signing-key-file=" + l.pki("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--authorization-mode=RBAC",
		// In addition to the default plugins: node pools are expressed as
		// namespace annotations the first two enforce; the third makes pods
		// that ask for GPUs tolerate the GPU nodes' taint, as on GKE.
		"--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction,ExtendedResourceToleration",
		// logs, exec, port-forward: the API server calls the nodes' kubelet
		// API over TLS (verified against the cluster CA) as a client
		// certificate the nodes authorize.
		"--kubelet-client-certificate=" + l.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + l.pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + l.pki("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--allow-privileged=true",
		// The "kubernetes" Service would get 127.0.0.1 as its endpoint,
		// which endpoint validation rejects; nothing in-cluster needs it.
		"--endpoint-reconciler-type=none",
		"--profiling=" + strconv.FormatBool(profiling),
	}
}

// controllerManagerArgs are kube-controller-manager's flags. Its CA key
// signs CSRs (e.g. for signer kubernetes.io/kube-apiserver-client).
func controllerManagerArgs(l layout) []string {
	kc := l.kubeconfig("kube-controller-manager")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--root-ca-file=" + l.pki("ca.crt"),
		"--service-account-private-key-file=" + l.pki("sa.key"),
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + l.pki("ca.crt"),
		"--cluster-signing-key-file=" + l.pki("ca.key"),
		"--controllers=*",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0", // no health endpoint needed; nothing to collide
		// The default is under /usr/libexec, which it would create.
		"--flex-volume-plugin-dir=" + filepath.Join(l.dir, "flexvolume"),
		"--profiling=false",
	}
}

func schedulerArgs(l layout) []string {
	kc := l.kubeconfig("kube-scheduler")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--profiling=false",
	}
}

func kwokArgs(l layout) []string {
	return []string{
		"--kubeconfig=" + l.kubeconfig("kwok"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + fmt.Sprintf("%s=%s", kwokNodeAnnotation, kwokNodeAnnotationValue),
		// Node and pod lifecycles come from the Stage objects we apply.
		"--enable-crds=Stage",
		"--node-lease-duration-seconds=40",
	}
}
