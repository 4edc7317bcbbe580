//go:build integration

package user_test

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// TestInsecureAdminKubeconfig: an admin kubeconfig that skips verifying the
// API server's certificate is not passed on to users silently: user add and
// user kubeconfig refuse, before making anything, unless given a CA bundle
// (then the user's kubeconfig verifies) or --insecure-skip-tls-verify.
func TestInsecureAdminKubeconfig(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	kc, err := clientcmd.LoadFromFile(cluster.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kc.Clusters {
		c.CertificateAuthority, c.CertificateAuthorityData, c.InsecureSkipTLSVerify = "", nil, true
	}
	insecure := filepath.Join(dir, "insecure-admin.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, insecure); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(cluster.DataDir(), "pki", "ca.crt")
	refusal := []string{
		"error: the admin kubeconfig skips verifying the API server's certificate (insecure-skip-tls-verify), and the user's kubeconfig would too: ",
		"pass --certificate-authority FILE with the API server's CA bundle, or --insecure-skip-tls-verify to write an insecure kubeconfig anyway",
	}
	mustFail(t, tenancy(t, dir, "user", "add", "tls", "--kubeconfig", insecure), refusal...)
	nothingRefersTo(t, "tls", "tls")
	noFile(t, filepath.Join(dir, "tls.kubeconfig"))

	mustSucceed(t, tenancy(t, dir, "user", "add", "tls", "--kubeconfig", insecure, "--certificate-authority", ca), "Workspace tls is Ready\n")
	wantCA, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	checkCluster := func(name string, wantInsecure bool) {
		t.Helper()
		kc, err := clientcmd.LoadFromFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		cl := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
		if cl.InsecureSkipTLSVerify != wantInsecure || (string(cl.CertificateAuthorityData) == string(wantCA)) == wantInsecure {
			t.Errorf("%s: insecure-skip-tls-verify %v and CA %q; want insecure %v", name, cl.InsecureSkipTLSVerify, cl.CertificateAuthorityData, wantInsecure)
		}
		mustSucceed(t, kubectl(t, filepath.Join(dir, name), "", "get", "pods"))
	}
	checkCluster("tls.kubeconfig", false)

	mustFail(t, tenancy(t, dir, "user", "kubeconfig", "tls", "--kubeconfig", insecure, "--kubeconfig-out", "tls2.kubeconfig"), refusal...)
	noFile(t, filepath.Join(dir, "tls2.kubeconfig"))
	if n := len(getUser(t, "tls").Status.Credentials); n != 1 {
		t.Errorf("a refused kubeconfig issued a credential: %d recorded, want 1", n)
	}
	mustSucceed(t, tenancy(t, dir, "user", "kubeconfig", "tls", "--kubeconfig", insecure, "--insecure-skip-tls-verify", "--kubeconfig-out", "tls3.kubeconfig"))
	checkCluster("tls3.kubeconfig", true)
	mustSucceed(t, tenancy(t, dir, "user", "delete", "tls"))
}
