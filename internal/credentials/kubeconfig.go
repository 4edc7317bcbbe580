package credentials

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster is where a kubeconfig points.
type Cluster struct {
	// Name of the cluster entry, e.g. the admin kubeconfig's.
	Name   string
	Server string
	// CAData is the PEM CA bundle that signs the API server's certificate.
	CAData                []byte
	TLSServerName         string
	InsecureSkipTLSVerify bool
}

// ClusterOf is the cluster an admin's client configuration talks to,
// named name, with the CA bundle inlined.
func ClusterOf(name string, cfg *rest.Config) (Cluster, error) {
	out := Cluster{
		Name:                  name,
		Server:                cfg.Host,
		CAData:                cfg.CAData,
		TLSServerName:         cfg.ServerName,
		InsecureSkipTLSVerify: cfg.Insecure,
	}
	if len(out.CAData) == 0 && cfg.CAFile != "" {
		data, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return Cluster{}, fmt.Errorf("read the cluster CA of the admin kubeconfig: %w", err)
		}
		out.CAData = data
	}
	return out, nil
}

// ContextName is the kubeconfig context of user on cluster.
func ContextName(user, cluster string) string { return user + "@" + cluster }

// Kubeconfig is a one-context kubeconfig for user on cl, in namespace,
// authenticating with cred.
func Kubeconfig(cl Cluster, user, namespace string, cred *Credential) *clientcmdapi.Config {
	cluster := clientcmdapi.NewCluster()
	cluster.Server = cl.Server
	cluster.CertificateAuthorityData = cl.CAData
	cluster.TLSServerName = cl.TLSServerName
	cluster.InsecureSkipTLSVerify = cl.InsecureSkipTLSVerify && len(cl.CAData) == 0

	auth := clientcmdapi.NewAuthInfo()
	auth.ClientCertificateData = cred.CertPEM
	auth.ClientKeyData = cred.KeyPEM
	auth.Token = cred.Token

	name := ContextName(user, cl.Name)
	ctx := clientcmdapi.NewContext()
	ctx.Cluster = cl.Name
	ctx.AuthInfo = user
	ctx.Namespace = namespace

	kc := clientcmdapi.NewConfig()
	kc.Clusters[cl.Name] = cluster
	kc.AuthInfos[user] = auth
	kc.Contexts[name] = ctx
	kc.CurrentContext = name
	return kc
}

// WriteFile writes kc to path with mode 0600, atomically: a reader sees
// the old file or the new one, never half of one.
func WriteFile(path string, kc *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // nothing left after the rename
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// CheckWritable says early whether WriteFile can write to path, so a
// caller can refuse before it changes anything in the cluster.
func CheckWritable(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("%s cannot be written: %w", path, err)
	}
	_ = tmp.Close()
	return os.Remove(tmp.Name())
}
