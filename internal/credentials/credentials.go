// Package credentials issues the credentials of a user's kubeconfig: an
// X.509 client certificate through the CertificateSigningRequest API (signer
// kubernetes.io/kube-apiserver-client), or a ServiceAccount token from the
// TokenRequest API, each with an expiry; and writes the kubeconfig. It
// never stores a secret in the cluster: the private key is made here and
// only the kubeconfig file holds it.
package credentials

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// MinTTL is the shortest credential Kubernetes issues: both a CSR's and a
// TokenRequest's expirationSeconds must be at least 600.
const MinTTL = 10 * time.Minute

// Credential is one issued credential and its secret material.
type Credential struct {
	Kind tenancyv1.CredentialKind
	// ID is the certificate's serial number (hex), or the token's
	// ServiceAccount namespace/name.
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time

	// CertPEM and KeyPEM are the client certificate and its private key.
	CertPEM, KeyPEM []byte
	// Token is the bearer token.
	Token string

	// CSRName is the CertificateSigningRequest a certificate came from.
	CSRName string
}

// Record is what User.status keeps of the credential: never the secret.
func (c *Credential) Record() tenancyv1.IssuedCredential {
	return tenancyv1.IssuedCredential{
		Kind:      c.Kind,
		ID:        c.ID,
		IssuedAt:  metav1.NewTime(c.IssuedAt.UTC().Truncate(time.Second)),
		ExpiresAt: metav1.NewTime(c.ExpiresAt.UTC().Truncate(time.Second)),
	}
}

// ValidateTTL checks a requested lifetime.
func ValidateTTL(ttl time.Duration) error {
	if ttl < MinTTL {
		return fmt.Errorf("--ttl %s is too short: Kubernetes issues certificates and tokens for at least %s (expirationSeconds >= 600)", ttl, MinTTL)
	}
	if ttl%time.Second != 0 {
		return fmt.Errorf("--ttl %s must be a whole number of seconds", ttl)
	}
	if ttl > 1<<32*time.Second {
		return fmt.Errorf("--ttl %s is too long", ttl)
	}
	return nil
}
