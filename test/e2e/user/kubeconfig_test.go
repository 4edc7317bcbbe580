//go:build integration

package user_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// TestCredentials: both kinds carry the requested lifetime, are recorded
// in the User's status without their secret, follow disable and enable,
// and an expired certificate is refused.
func TestCredentials(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	certKC, tokenKC := filepath.Join(dir, "hank.kubeconfig"), filepath.Join(dir, "hank-token.kubeconfig")
	mustSucceed(t, tenancy(t, dir, "user", "add", "hank", "--ttl", "15m"), "(15m)\n", "Kubeconfig written to hank.kubeconfig")
	cert := clientCert(t, certKC)
	if d := time.Until(cert.NotAfter); d < 13*time.Minute || d > 15*time.Minute {
		t.Errorf("certificate valid for %s more, want 15m", d.Round(time.Second))
	}
	if cert.Subject.CommonName != "hank" {
		t.Errorf("certificate subject %v", cert.Subject)
	}

	r := tenancy(t, dir, "user", "kubeconfig", "hank", "--credential", "token", "--ttl", "10m", "--kubeconfig-out", "hank-token.kubeconfig")
	mustSucceed(t, r, "Token of ServiceAccount tenancy-system/user-hank issued for User hank", "(10m)\n",
		"Kubeconfig written to hank-token.kubeconfig (context hank@localcluster, namespace hank)\n")
	t.Logf("tenancy user kubeconfig hank --credential token --ttl 10m --kubeconfig-out hank-token.kubeconfig\n%s", r.stdout)
	claims := tokenClaims(t, tokenKC)
	if life := claims.Exp - claims.Iat; life != 600 {
		t.Errorf("token lifetime %ds, want 600", life)
	}
	mustSucceed(t, kubectl(t, tokenKC, "", "auth", "whoami"), "system:serviceaccount:tenancy-system:user-hank")
	mustSucceed(t, kubectl(t, tokenKC, "", "get", "pods"))
	mustSucceed(t, kubectl(t, certKC, "", "get", "pods"))

	u := getUser(t, "hank")
	if len(u.Status.Credentials) != 2 || u.Status.ServiceAccount == nil || u.Status.ServiceAccount.Name != "user-hank" {
		t.Fatalf("User hank status %+v, want 2 credentials and ServiceAccount user-hank", u.Status)
	}
	c0, c1 := u.Status.Credentials[0], u.Status.Credentials[1]
	if c0.Kind != tenancyv1.CredentialCert || c0.ID != strings.ToUpper(cert.SerialNumber.Text(16)) || !c0.ExpiresAt.Time.Equal(cert.NotAfter) {
		t.Errorf("cert record %+v, want serial %X expiring %s", c0, cert.SerialNumber, cert.NotAfter)
	}
	if c1.Kind != tenancyv1.CredentialToken || c1.ID != "tenancy-system/user-hank" || c1.ExpiresAt.Unix() != claims.Exp {
		t.Errorf("token record %+v, want expiry %d", c1, claims.Exp)
	}
	status, _ := json.Marshal(u.Status)
	if strings.Contains(string(status), "PRIVATE KEY") || strings.Contains(string(status), rawToken(t, tokenKC)) {
		t.Errorf("the User's status holds a secret: %s", status)
	}

	t.Run("disable and enable", func(t *testing.T) {
		r := tenancy(t, dir, "user", "disable", "hank")
		mustSucceed(t, r, "User hank disabled\n", "User hank's credentials are now refused in workspace hank\n")
		for _, kc := range []string{certKC, tokenKC} {
			if r := kubectl(t, kc, "", "get", "pods"); !isForbidden(r) {
				t.Errorf("%s after disable: want Forbidden, got\n%s", filepath.Base(kc), r)
			}
		}
		mustSucceed(t, tenancy(t, dir, "user", "disable", "hank"), "User hank is already disabled\n")
		mustSucceed(t, tenancy(t, dir, "user", "enable", "hank"), "User hank enabled\n", "User hank's credentials work again in workspace hank\n")
		mustSucceed(t, kubectl(t, certKC, "", "get", "pods"))
		mustSucceed(t, kubectl(t, tokenKC, "", "get", "pods"))
	})

	t.Run("an expired certificate is refused", func(t *testing.T) {
		// Kubernetes issues nothing shorter than 10 minutes, so the expired
		// certificate is made with the cluster CA directly; the same
		// certificate, still valid, is the control.
		now := time.Now()
		valid := withCert(t, certKC, filepath.Join(dir, "valid.kubeconfig"), now.Add(-time.Hour), now.Add(time.Hour))
		expired := withCert(t, certKC, filepath.Join(dir, "expired.kubeconfig"), now.Add(-2*time.Hour), now.Add(-time.Minute))
		mustSucceed(t, kubectl(t, valid, "", "get", "pods"))
		if r := kubectl(t, expired, "", "get", "pods"); !isUnauthorized(r) {
			t.Errorf("expired certificate: want Unauthorized, got\n%s", r)
		}
	})

	t.Run("cluster URL and CA of the kubeconfig", func(t *testing.T) {
		ca := filepath.Join(cluster.DataDir(), "pki", "ca.crt")
		r := tenancy(t, dir, "user", "kubeconfig", "hank", "--cluster-url", "https://k8s.example.com:6443",
			"--certificate-authority", ca, "--kubeconfig-out", "hank-remote.kubeconfig", "--namespace", "elsewhere")
		mustSucceed(t, r, "Kubeconfig written to hank-remote.kubeconfig (context hank@localcluster, namespace elsewhere)\n")
		if r.stderr != "Warning: namespace elsewhere is not a workspace of User hank: the kubeconfig's default namespace may be refused\n" {
			t.Errorf("stderr:\n%s", r.stderr)
		}
		kc, err := clientcmd.LoadFromFile(filepath.Join(dir, "hank-remote.kubeconfig"))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(ca)
		cl := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
		if cl.Server != "https://k8s.example.com:6443" || string(cl.CertificateAuthorityData) != string(want) {
			t.Errorf("cluster %s with CA %q", cl.Server, cl.CertificateAuthorityData)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := map[string]struct {
			args []string
			want string
		}{
			"kubeconfig of nobody":   {[]string{"kubeconfig", "nobody"}, `error: user "nobody" not found: create it with 'tenancy user add nobody'`},
			"kubeconfig ttl":         {[]string{"kubeconfig", "hank", "--ttl", "9m"}, "error: --ttl 9m0s is too short"},
			"kubeconfig credential":  {[]string{"kubeconfig", "hank", "--credential", "ssh"}, `error: --credential "ssh" is not cert or token`},
			"kubeconfig output":      {[]string{"kubeconfig", "hank", "--kubeconfig-out", "/nonexistent/hank.kubeconfig"}, "error: --kubeconfig-out /nonexistent/hank.kubeconfig cannot be written"},
			"kubeconfig bad CA file": {[]string{"kubeconfig", "hank", "--certificate-authority", "hank.kubeconfig"}, "error: --certificate-authority hank.kubeconfig holds no PEM certificate"},
			"disable nobody":         {[]string{"disable", "nobody"}, `error: user "nobody" not found ('tenancy user list' lists users)`},
			"enable bad name":        {[]string{"enable", "Hank"}, `error: user name "Hank" is not valid`},
			"delete nobody":          {[]string{"delete", "nobody"}, `error: user "nobody" not found ('tenancy user list' lists users)`},
			"delete two":             {[]string{"delete", "a", "b"}, "error: 'tenancy user delete' takes exactly one user name"},
			"delete wait":            {[]string{"delete", "nobody", "--timeout", "0s"}, "error: --timeout must be positive, got 0s"},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				r := tenancy(t, dir, append([]string{"user"}, tc.args...)...)
				mustFail(t, r, tc.want)
				if r.stdout != "" {
					t.Errorf("stdout not empty:\n%s", r.stdout)
				}
			})
		}
		if got := getUser(t, "hank"); len(got.Status.Credentials) != 3 || got.Spec.Disabled {
			t.Errorf("refused commands changed User hank: %+v", got)
		}
		nothingRefersTo(t, "nobody")
	})
}

// TestList shows users in a table, wide, as YAML and JSON, and through
// kubectl as a plugin.
func TestList(t *testing.T) {
	needCluster(t)
	t.Parallel()
	dir := t.TempDir()
	mustSucceed(t, tenancy(t, dir, "user", "add", "ivy", "--group", "ml", "--group", "ops"), "Workspace ivy is Ready\n")

	r := tenancy(t, dir, "user", "list")
	mustSucceed(t, r, "NAME", "GROUPS", "WORKSPACES", "CREDENTIAL", "EXPIRES")
	if !regexp.MustCompile(`(?m)^ivy\s+ml,ops\s+ivy\s+cert\s+in (29|30)d$`).MatchString(r.stdout) || strings.Contains(r.stdout, "DISABLED") {
		t.Errorf("no row for ivy:\n%s", r)
	}
	t.Logf("tenancy user list\n%s", r.stdout)

	r = tenancy(t, dir, "user", "list", "-o", "wide")
	mustSucceed(t, r, "DISABLED", "CONTRIBUTOR", "SERVICEACCOUNT", "AGE")
	if !regexp.MustCompile(`(?m)^ivy\s+ml,ops\s+ivy\s+cert\s+in (29|30)d\s+false\s+<none>\s+<none>\s+\S+$`).MatchString(r.stdout) {
		t.Errorf("no wide row for ivy:\n%s", r)
	}

	for _, format := range []string{"yaml", "json"} {
		r := tenancy(t, dir, "user", "list", "-o", format)
		want := map[string]string{"yaml": "kind: UserList\n", "json": `"kind": "UserList"`}[format]
		mustSucceed(t, r, want)
		list := &tenancyv1.UserList{}
		if err := yaml.Unmarshal([]byte(r.stdout), list); err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, r.stdout)
		}
		found := false
		for _, u := range list.Items {
			if u.Name == "ivy" {
				found = u.Kind == "User" && len(u.Status.Credentials) == 1 && len(u.Spec.Groups) == 2
			}
		}
		if !found {
			t.Errorf("-o %s: no User ivy with one credential and two groups:\n%s", format, r.stdout)
		}
	}
	mustFail(t, tenancy(t, dir, "user", "list", "-o", "xml"), `error: -o "xml" is not an output format: use wide, `)

	t.Run("as a kubectl plugin", func(t *testing.T) {
		env := []string{"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"), "KUBECONFIG=" + cluster.AdminKubeconfig()}
		r := run(t, dir, env, "", "kubectl", "tenancy", "user", "list")
		mustSucceed(t, r, "NAME", "\nivy ")
		r = run(t, dir, env, "", "kubectl", "tenancy", "user", "add", "--help")
		mustSucceed(t, r, "Onboard a user in one command", "  kubectl tenancy user add alex --namespace workplace1\n")
		r = run(t, dir, env, "", "kubectl", "tenancy", "user", "kubeconfig", "nobody")
		mustFail(t, r, `user "nobody" not found: create it with 'kubectl tenancy user add nobody'`)
	})
}

// clientCert is the client certificate of a kubeconfig.
func clientCert(t *testing.T, kubeconfig string) *x509.Certificate {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo].ClientCertificateData)
	if block == nil {
		t.Fatalf("%s has no client certificate", kubeconfig)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func rawToken(t *testing.T, kubeconfig string) string {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	tok := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo].Token
	if tok == "" {
		t.Fatalf("%s has no token", kubeconfig)
	}
	return tok
}

type jwtClaims struct {
	Exp int64 `json:"exp"`
	Iat int64 `json:"iat"`
}

// tokenClaims decodes (without verifying: the API server does that) the
// claims of the kubeconfig's token.
func tokenClaims(t *testing.T, kubeconfig string) jwtClaims {
	t.Helper()
	parts := strings.Split(rawToken(t, kubeconfig), ".")
	if len(parts) != 3 {
		t.Fatalf("the token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// withCert writes to path a copy of kubeconfig whose client certificate
// for the same user is signed by the cluster CA with the given validity.
// It reads the CA from the control plane's data directory (pki/ca.crt,
// pki/ca.key), as localcluster offers no way to sign a given validity.
func withCert(t *testing.T, kubeconfig, path string, notBefore, notAfter time.Time) string {
	t.Helper()
	caCertPEM, err := os.ReadFile(filepath.Join(cluster.DataDir(), "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caKeyPEM, err := os.ReadFile(filepath.Join(cluster.DataDir(), "pki", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(caCertPEM)
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = pem.Decode(caKeyPEM)
	caKey, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("the CA key is not an EC key: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: clientCert(t, kubeconfig).Subject.CommonName},
		NotBefore:    notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	auth := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo]
	auth.ClientCertificateData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	auth.ClientKeyData = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
