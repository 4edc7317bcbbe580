package localcluster

import (
	"errors"
	"fmt"
	"net"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// componentIdentities are the client certificates the components use, by
// kubeconfig name. The built-in RBAC policy grants the system: users what
// they need; kwok plays every kubelet and gets system:masters.
var componentIdentities = map[string]certSpec{
	"admin":                   {CommonName: "localcluster-admin", Organization: []string{"system:masters"}},
	"kube-controller-manager": {CommonName: "system:kube-controller-manager"},
	"kube-scheduler":          {CommonName: "system:kube-scheduler"},
	"kwok":                    {CommonName: "kwok", Organization: []string{"system:masters"}},
}

// apiServerCertSpec is the serving certificate: valid for the loopback
// address and for the in-cluster names of the "kubernetes" Service.
func apiServerCertSpec() certSpec {
	return certSpec{
		CommonName: "kube-apiserver",
		DNSNames: []string{
			"localhost",
			"kubernetes",
			"kubernetes.default",
			"kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		IPs:    []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(firstServiceIP)},
		Server: true,
	}
}

// writePKI loads or creates the CA and service-account key (kept across
// starts) and issues fresh serving and client certificates.
func (c *Cluster) writePKI() error {
	now := time.Now()
	l := c.layout
	ca, err := loadOrCreateAuthority(l.pki(""), now)
	if err != nil {
		return err
	}
	c.ca = ca
	saKey, _, err := loadOrCreateKey(l.pki("sa.key"))
	if err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}
	saPub, err := encodePublicKey(saKey)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.pki("sa.pub"), saPub, 0o644); err != nil {
		return err
	}
	serving, err := ca.issue(apiServerCertSpec(), now)
	if err != nil {
		return fmt.Errorf("issue serving certificate: %w", err)
	}
	if err := writeFileAtomic(l.pki("apiserver.crt"), serving.CertPEM, 0o644); err != nil {
		return err
	}
	if err := writeFileAtomic(l.pki("apiserver.key"), serving.KeyPEM, 0o600); err != nil {
		return err
	}
	// etcd serves (and talks to its peer) with one certificate and accepts
	// only clients with a certificate of the CA; the API server is one.
	for name, spec := range map[string]certSpec{
		"etcd-server":           {CommonName: "etcd", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Both: true},
		"apiserver-etcd-client": {CommonName: "kube-apiserver-etcd-client"},
		// The API server's identity towards the nodes' kubelet API; the
		// nodes ask the API server (SubjectAccessReview) whether it may.
		"apiserver-kubelet-client": {CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		"etcd-healthcheck-client":  {CommonName: "etcd-healthcheck-client"},
	} {
		kp, err := ca.issue(spec, now)
		if err != nil {
			return fmt.Errorf("issue %s certificate: %w", name, err)
		}
		if err := writeFileAtomic(l.pki(name+".crt"), kp.CertPEM, 0o644); err != nil {
			return err
		}
		if err := writeFileAtomic(l.pki(name+".key"), kp.KeyPEM, 0o600); err != nil {
			return err
		}
	}
	c.admin, err = ca.issue(componentIdentities["admin"], now)
	return err
}

// writeKubeconfigs writes the admin and component kubeconfigs for the
// current API server port.
func (c *Cluster) writeKubeconfigs() error {
	for name, spec := range componentIdentities {
		kp := c.admin
		if name != "admin" {
			var err error
			if kp, err = c.ca.issue(spec, time.Now()); err != nil {
				return err
			}
		}
		if err := c.WriteKubeconfig(c.layout.kubeconfig(name), c.certConfig(kp), ""); err != nil {
			return err
		}
	}
	return nil
}

// WriteKubeconfig writes a kubeconfig file (mode 0600) for cfg, with
// namespace as the context's default namespace if not empty. Credentials
// are embedded: client certificate, bearer token or basic auth, and any
// impersonation. A cfg without Host or CA uses the cluster's.
func (c *Cluster) WriteKubeconfig(path string, cfg *rest.Config, namespace string) error {
	kc, err := kubeconfigFor(cfg, c.Host(), c.CAData(), namespace)
	if err != nil {
		return err
	}
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// kubeconfigFor builds a one-context kubeconfig from a client configuration.
func kubeconfigFor(cfg *rest.Config, host string, caData []byte, namespace string) (*clientcmdapi.Config, error) {
	if cfg == nil {
		return nil, errors.New("WriteKubeconfig: nil config")
	}
	cluster := clientcmdapi.NewCluster()
	cluster.Server = host
	if cfg.Host != "" {
		cluster.Server = cfg.Host
	}
	switch {
	case len(cfg.CAData) > 0:
		cluster.CertificateAuthorityData = cfg.CAData
	case cfg.CAFile != "":
		cluster.CertificateAuthority = cfg.CAFile
	default:
		cluster.CertificateAuthorityData = caData
	}
	cluster.TLSServerName = cfg.ServerName

	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = cfg.CertData
	user.ClientKeyData = cfg.KeyData
	user.ClientCertificate = cfg.CertFile
	user.ClientKey = cfg.KeyFile
	user.Token = cfg.BearerToken
	user.TokenFile = cfg.BearerTokenFile
	user.Username = cfg.Username
	user.Password = cfg.Password
	user.Impersonate = cfg.Impersonate.UserName
	user.ImpersonateUID = cfg.Impersonate.UID
	user.ImpersonateGroups = cfg.Impersonate.Groups
	user.ImpersonateUserExtra = cfg.Impersonate.Extra
	if cfg.ExecProvider != nil || cfg.AuthProvider != nil {
		return nil, errors.New("WriteKubeconfig: exec and auth-provider credentials are not supported")
	}

	ctx := clientcmdapi.NewContext()
	ctx.Cluster = "localcluster"
	ctx.AuthInfo = "user"
	ctx.Namespace = namespace

	kc := clientcmdapi.NewConfig()
	kc.Clusters["localcluster"] = cluster
	kc.AuthInfos["user"] = user
	kc.Contexts["localcluster"] = ctx
	kc.CurrentContext = "localcluster"
	return kc, nil
}
