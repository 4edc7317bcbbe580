package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// signer acts as kube-controller-manager in a fake clientset: once a CSR is
// approved, the next read returns it signed (or denied).
type signer struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	deny   bool
	never  bool
	serial int64
}

func newSigner(t *testing.T) *signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour * 24 * 365),
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &signer{ca: ca, caKey: key, serial: 0xBEEF}
}

func (s *signer) clientset(t *testing.T) *fake.Clientset {
	cs := fake.NewClientset()
	n := 0
	cs.PrependReactor("create", "certificatesigningrequests", func(a k8stesting.Action) (bool, runtime.Object, error) {
		csr := a.(k8stesting.CreateAction).GetObject().(*certificatesv1.CertificateSigningRequest)
		if csr.Name == "" {
			n++
			csr.Name = csr.GenerateName + strings.Repeat("x", n)
		}
		return false, nil, nil // let the tracker store it
	})
	cs.PrependReactor("get", "certificatesigningrequests", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := cs.Tracker().Get(a.GetResource(), "", a.(k8stesting.GetAction).GetName())
		if err != nil {
			return true, nil, err
		}
		csr := obj.(*certificatesv1.CertificateSigningRequest).DeepCopy()
		approved := false
		for _, c := range csr.Status.Conditions {
			approved = approved || c.Type == certificatesv1.CertificateApproved
		}
		switch {
		case !approved || s.never:
		case s.deny:
			csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "PolicyDenied", Message: "no"})
		default:
			csr.Status.Certificate = s.sign(t, csr)
		}
		return true, csr, nil
	})
	return cs
}

func (s *signer) sign(t *testing.T, csr *certificatesv1.CertificateSigningRequest) []byte {
	block, _ := pem.Decode(csr.Spec.Request)
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(s.serial), Subject: req.Subject, NotBefore: now,
		NotAfter: now.Add(time.Duration(*csr.Spec.ExpirationSeconds) * time.Second), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, req.PublicKey, s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestIssueCert(t *testing.T) {
	for _, alg := range []KeyAlgorithm{ECDSA, RSA} {
		t.Run(string(alg), func(t *testing.T) {
			s := newSigner(t)
			cs := s.clientset(t)
			ctx := context.Background()
			cred, err := IssueCert(ctx, cs, CertRequest{User: "alex", Groups: []string{"ml"}, TTL: time.Hour, KeyAlgorithm: alg, PollInterval: time.Millisecond})
			if err != nil {
				t.Fatalf("IssueCert: %v", err)
			}
			if cred.Kind != tenancyv1.CredentialCert || cred.ID != "BEEF" {
				t.Errorf("credential kind %q id %q, want cert BEEF", cred.Kind, cred.ID)
			}
			if d := time.Until(cred.ExpiresAt); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expires in %s, want 1h", d)
			}
			cert, err := parseCert(cred.CertPEM)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != "alex" || !cmp.Equal(cert.Subject.Organization, []string{"ml"}) {
				t.Errorf("subject %v, want CN=alex O=ml", cert.Subject)
			}
			block, _ := pem.Decode(cred.KeyPEM)
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatalf("key: %v", err)
			}
			switch k := key.(type) {
			case *ecdsa.PrivateKey:
				if alg != ECDSA || !k.PublicKey.Equal(cert.PublicKey) {
					t.Errorf("ECDSA key does not match the %s certificate", alg)
				}
			case *rsa.PrivateKey:
				if alg != RSA || !k.PublicKey.Equal(cert.PublicKey) {
					t.Errorf("RSA key does not match the %s certificate", alg)
				}
			}
			list, _ := cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
			if len(list.Items) != 1 {
				t.Fatalf("%d CSRs, want 1", len(list.Items))
			}
			csr := list.Items[0]
			if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName || *csr.Spec.ExpirationSeconds != 3600 ||
				!cmp.Equal(csr.Spec.Usages, []certificatesv1.KeyUsage{"digital signature", "client auth"}) {
				t.Errorf("CSR spec %+v", csr.Spec)
			}
			if csr.Labels[tenancyv1.LabelUser] != "alex" || csr.Labels[tenancyv1.LabelManagedBy] != "tenancy" {
				t.Errorf("CSR labels %v", csr.Labels)
			}
			if c := csr.Status.Conditions; len(c) != 1 || c[0].Type != certificatesv1.CertificateApproved || c[0].Reason != ApprovalReason {
				t.Errorf("CSR conditions %+v, want Approved %s", c, ApprovalReason)
			}
		})
	}
}

func TestIssueCertRefused(t *testing.T) {
	tests := map[string]struct {
		deny, never bool
		want        string
	}{
		"denied":     {deny: true, want: "was Denied: PolicyDenied no"},
		"not signed": {never: true, want: "did not sign CertificateSigningRequest tenancy-alex-x within 50ms: it may have no signer for kubernetes.io/kube-apiserver-client; use --credential token instead"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newSigner(t)
			s.deny, s.never = tc.deny, tc.never
			cs := s.clientset(t)
			_, err := IssueCert(context.Background(), cs, CertRequest{User: "alex", TTL: time.Hour, SignTimeout: 50 * time.Millisecond, PollInterval: time.Millisecond})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			var ns *NotSignedError
			if errors.As(err, &ns) != tc.never {
				t.Errorf("errors.As NotSignedError = %v, want %v", !tc.never, tc.never)
			}
			list, _ := cs.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
			if len(list.Items) != 0 {
				t.Errorf("%d CSRs left, want the refused one deleted", len(list.Items))
			}
		})
	}
}

func TestServiceAccountAndToken(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	exp := time.Now().Add(20 * time.Minute).Truncate(time.Second)
	var asked int64
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		asked = *tr.Spec.ExpirationSeconds
		tr.Status = authenticationv1.TokenRequestStatus{Token: "t0ken", ExpirationTimestamp: metav1.NewTime(exp)}
		return true, tr, nil
	})

	sa, created, err := EnsureServiceAccount(ctx, cs, "tom")
	if err != nil || !created {
		t.Fatalf("EnsureServiceAccount = %v, %v; want created", created, err)
	}
	if want := (tenancyv1.ServiceAccountRef{Namespace: "tenancy-system", Name: "user-tom"}); sa != want {
		t.Errorf("sa %v, want %v", sa, want)
	}
	if _, created, err := EnsureServiceAccount(ctx, cs, "tom"); err != nil || created {
		t.Errorf("second EnsureServiceAccount = %v, %v; want it kept", created, err)
	}
	got, err := cs.CoreV1().ServiceAccounts("tenancy-system").Get(ctx, "user-tom", metav1.GetOptions{})
	if err != nil || got.Labels[tenancyv1.LabelUser] != "tom" || *got.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %+v, %v", got, err)
	}

	cred, err := IssueToken(ctx, cs, sa, 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1200 || cred.Token != "t0ken" || cred.ID != "tenancy-system/user-tom" || !cred.ExpiresAt.Equal(exp) {
		t.Errorf("asked %ds, got %+v", asked, cred)
	}
	if r := cred.Record(); r.Kind != tenancyv1.CredentialToken || r.ID != cred.ID {
		t.Errorf("Record() = %+v", r)
	}

	// Somebody else's ServiceAccount of that name is not taken over.
	_, err = cs.CoreV1().ServiceAccounts("tenancy-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "user-eve", Namespace: "tenancy-system"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, _, err := EnsureServiceAccount(ctx, cs, "eve"); err == nil || !strings.Contains(err.Error(), "is not User eve's token ServiceAccount") {
		t.Errorf("EnsureServiceAccount over a foreign one: %v", err)
	}
}

func TestValidateTTL(t *testing.T) {
	tests := map[time.Duration]string{
		720 * time.Hour:            "",
		10 * time.Minute:           "",
		9 * time.Minute:            "--ttl 9m0s is too short: Kubernetes issues certificates and tokens for at least 10m0s (expirationSeconds >= 600)",
		-time.Hour:                 "too short",
		10*time.Minute + 1:         "whole number of seconds",
		200 * 365 * 24 * time.Hour: "too long",
	}
	for ttl, want := range tests {
		err := ValidateTTL(ttl)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ValidateTTL(%s) = %v, want %q", ttl, err, want)
		}
	}
}

func TestKubeconfig(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, []byte("CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := ClusterOf("prod", &rest.Config{Host: "https://k8s.example:6443", TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Cluster{Name: "prod", Server: "https://k8s.example:6443", CAData: []byte("CA")}); !cmp.Equal(cl, want) {
		t.Errorf("ClusterOf = %+v, want %+v", cl, want)
	}
	if _, err := ClusterOf("prod", &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: caFile + ".missing"}}); err == nil {
		t.Error("ClusterOf with a missing CA file succeeded")
	}

	path := filepath.Join(dir, "alex.kubeconfig")
	if err := CheckWritable(path); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, Kubeconfig(cl, "alex", "workplace1", &Credential{Token: "t"})); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode %v, %v; want 0600", fi.Mode(), err)
	}
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	if kc.CurrentContext != "alex@prod" || ctx.Namespace != "workplace1" || ctx.AuthInfo != "alex" ||
		kc.AuthInfos["alex"].Token != "t" || string(kc.Clusters["prod"].CertificateAuthorityData) != "CA" {
		t.Errorf("kubeconfig %+v", kc)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files left in %s: %v", dir, entries)
	}
	if err := CheckWritable(filepath.Join(dir, "missing", "x")); err == nil {
		t.Error("CheckWritable in a missing directory succeeded")
	}
}
