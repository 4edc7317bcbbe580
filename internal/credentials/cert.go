package credentials

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// ApprovalReason is the reason of the Approved condition Tenancy sets on
// the CSRs it makes.
const ApprovalReason = "TenancyUserAdd"

// KeyAlgorithm of the private key made for a certificate.
type KeyAlgorithm string

// Key algorithms.
const (
	ECDSA KeyAlgorithm = "ecdsa" // P-256
	RSA   KeyAlgorithm = "rsa"   // 3072 bits
)

// CertRequest asks for a client certificate.
type CertRequest struct {
	User   string
	Groups []string
	TTL    time.Duration
	// KeyAlgorithm is ECDSA when empty.
	KeyAlgorithm KeyAlgorithm
	// SignTimeout is how long to wait for the signer; 30s when zero.
	SignTimeout time.Duration
	// PollInterval is how often the CSR is read; 250ms when zero.
	PollInterval time.Duration
}

// NotSignedError is a CSR the cluster did not sign in time: its
// kube-controller-manager may not run the kubernetes.io/kube-apiserver-client
// signer (managed clusters often do not).
type NotSignedError struct {
	Name    string
	Timeout time.Duration
}

func (e *NotSignedError) Error() string {
	return fmt.Sprintf("the cluster did not sign CertificateSigningRequest %s within %s: it may have no signer for %s; use --credential token instead",
		e.Name, e.Timeout, certificatesv1.KubeAPIServerClientSignerName)
}

// IssueCert makes a private key, asks the cluster to sign a certificate
// for User r.User in r.Groups (CN and O) valid for r.TTL, approves the
// request and waits for the certificate. A CSR that is denied, fails or is
// not signed in time is deleted again. The CSR is labelled with the user
// so `tenancy user delete` finds it.
func IssueCert(ctx context.Context, cs kubernetes.Interface, r CertRequest) (*Credential, error) {
	if r.SignTimeout == 0 {
		r.SignTimeout = 30 * time.Second
	}
	if r.PollInterval == 0 {
		r.PollInterval = 250 * time.Millisecond
	}
	key, keyPEM, err := newKey(r.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: r.User, Organization: r.Groups},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	csrs := cs.CertificatesV1().CertificateSigningRequests()
	// The signer has SignTimeout from the request on.
	deadline := time.Now().Add(r.SignTimeout)
	csr, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "tenancy-" + r.User + "-",
			Labels: map[string]string{
				tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue,
				tenancyv1.LabelUser:      r.User,
			},
		},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        certificatesv1.KubeAPIServerClientSignerName,
			ExpirationSeconds: ptr.To(int32(r.TTL / time.Second)),
			Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create CertificateSigningRequest: %w", err)
	}
	cred, err := approveAndWait(ctx, cs, csr, r, deadline)
	if err != nil {
		// Leave no half credential behind; the error says what happened.
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := csrs.Delete(delCtx, csr.Name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
			err = errors.Join(err, fmt.Errorf("delete CertificateSigningRequest %s: %w", csr.Name, derr))
		}
		return nil, err
	}
	cred.KeyPEM = keyPEM
	return cred, nil
}

// approveAndWait approves csr and waits until deadline (SignTimeout from
// the request) for its certificate.
func approveAndWait(ctx context.Context, cs kubernetes.Interface, csr *certificatesv1.CertificateSigningRequest, r CertRequest, deadline time.Time) (*Credential, error) {
	csrs := cs.CertificatesV1().CertificateSigningRequests()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:           certificatesv1.CertificateApproved,
		Status:         corev1.ConditionTrue,
		Reason:         ApprovalReason,
		Message:        "Approved by tenancy for User " + r.User,
		LastUpdateTime: metav1.Now(),
	})
	if _, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("approve CertificateSigningRequest %s: %w", csr.Name, err)
	}
	var signed []byte
	var refused error
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return nil, &NotSignedError{Name: csr.Name, Timeout: r.SignTimeout}
	}
	err := wait.PollUntilContextTimeout(ctx, r.PollInterval, remaining, true, func(ctx context.Context) (bool, error) {
		got, err := csrs.Get(ctx, csr.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // transient: keep polling until the timeout
		}
		for _, c := range got.Status.Conditions {
			if (c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed) && c.Status == corev1.ConditionTrue {
				refused = fmt.Errorf("CertificateSigningRequest %s was %s: %s %s", csr.Name, c.Type, c.Reason, c.Message)
				return true, nil
			}
		}
		if len(got.Status.Certificate) > 0 {
			signed = got.Status.Certificate
			return true, nil
		}
		return false, nil
	})
	switch {
	case refused != nil:
		return nil, refused
	case err != nil && ctx.Err() == nil:
		return nil, &NotSignedError{Name: csr.Name, Timeout: r.SignTimeout}
	case err != nil:
		return nil, err
	}
	cert, err := parseCert(signed)
	if err != nil {
		return nil, fmt.Errorf("CertificateSigningRequest %s: %w", csr.Name, err)
	}
	return &Credential{
		Kind:      tenancyv1.CredentialCert,
		ID:        fmt.Sprintf("%X", cert.SerialNumber),
		IssuedAt:  time.Now(),
		ExpiresAt: cert.NotAfter,
		CertPEM:   signed,
		CSRName:   csr.Name,
	}, nil
}

// parseCert returns the first certificate of a PEM bundle.
func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("the issued certificate is not PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}

func newKey(alg KeyAlgorithm) (crypto.Signer, []byte, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case ECDSA, "":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, nil, fmt.Errorf("unknown key algorithm %q (ecdsa or rsa)", alg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
