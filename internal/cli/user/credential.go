package user

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/credentials"
)

// kubeconfigOutFlag names the file the user's kubeconfig is written to;
// -o/--output is the print format, as in every command.
const kubeconfigOutFlag = "kubeconfig-out"

// userCredentialFlags are the flags of the commands that write a kubeconfig.
type userCredentialFlags struct {
	Kind          string
	TTL           time.Duration
	KubeconfigOut string
	ClusterURL    string
	CAFile        string
	KeyAlgorithm  string
	SignTimeout   time.Duration

	caData []byte // read by validate
}

func (f *userCredentialFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Kind, "credential", string(tenancyv1.CredentialCert),
		"kind of credential: cert (a client certificate signed through the CertificateSigningRequest API) or token (a ServiceAccount token, for clusters that cannot sign client certificates)")
	fs.DurationVar(&f.TTL, "ttl", 720*time.Hour, "how long the credential is valid; at least 10m, the shortest Kubernetes issues")
	fs.StringVar(&f.KubeconfigOut, kubeconfigOutFlag, "", "file to write the user's kubeconfig to (mode 0600); default ./NAME.kubeconfig")
	fs.StringVar(&f.ClusterURL, "cluster-url", "", "API server URL written into the kubeconfig; default the admin kubeconfig's")
	fs.StringVar(&f.CAFile, "certificate-authority", "", "file with the CA bundle of the API server, written into the kubeconfig; default the admin kubeconfig's")
	fs.StringVar(&f.KeyAlgorithm, "key-algorithm", string(credentials.ECDSA), "private key of a cert credential: ecdsa (P-256) or rsa (3072 bits)")
	fs.DurationVar(&f.SignTimeout, "sign-timeout", 30*time.Second, "how long to wait for the cluster to sign a certificate")
}

// complete fills the default output file of user name.
func (f *userCredentialFlags) complete(name string) {
	if f.KubeconfigOut == "" {
		f.KubeconfigOut = name + ".kubeconfig"
	}
}

// validate checks the flags without touching the cluster.
func (f *userCredentialFlags) validate(checkOutput bool) error {
	switch tenancyv1.CredentialKind(f.Kind) {
	case tenancyv1.CredentialCert, tenancyv1.CredentialToken:
	default:
		return fmt.Errorf("--credential %q is not cert or token", f.Kind)
	}
	if err := credentials.ValidateTTL(f.TTL); err != nil {
		return err
	}
	switch credentials.KeyAlgorithm(f.KeyAlgorithm) {
	case credentials.ECDSA, credentials.RSA:
	default:
		return fmt.Errorf("--key-algorithm %q is not ecdsa or rsa", f.KeyAlgorithm)
	}
	if f.SignTimeout <= 0 {
		return fmt.Errorf("--sign-timeout must be positive, got %s", f.SignTimeout)
	}
	if f.ClusterURL != "" {
		u, err := url.Parse(f.ClusterURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("--cluster-url %q is not an https:// URL, e.g. https://192.168.1.42:6443", f.ClusterURL)
		}
	}
	if f.CAFile != "" {
		data, err := os.ReadFile(f.CAFile)
		if err != nil {
			return fmt.Errorf("--certificate-authority: %w", err)
		}
		if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(data) {
			return fmt.Errorf("--certificate-authority %s holds no PEM certificate", f.CAFile)
		}
		f.caData = data
	}
	if checkOutput {
		if err := credentials.CheckWritable(f.KubeconfigOut); err != nil {
			return fmt.Errorf("--%s %w", kubeconfigOutFlag, err)
		}
	}
	return nil
}

// cluster is where the user's kubeconfig points: the admin kubeconfig's
// cluster, with --cluster-url and --certificate-authority over it.
func (f *userCredentialFlags) cluster(a *userAdmin) (credentials.Cluster, error) {
	cl, err := a.cluster()
	if err != nil {
		return cl, err
	}
	if f.ClusterURL != "" {
		cl.Server = f.ClusterURL
	}
	if f.caData != nil {
		cl.CAData = f.caData
		cl.InsecureSkipTLSVerify = false
	}
	if cl.Server == "" {
		return cl, errors.New("the admin kubeconfig names no API server URL: pass --cluster-url")
	}
	if cl.InsecureSkipTLSVerify && len(cl.CAData) == 0 && !a.insecureAsked {
		// A kubeconfig that skips verification hands the user's credential
		// to whoever answers at the server's address: never by default.
		return cl, errors.New("the admin kubeconfig skips verifying the API server's certificate (insecure-skip-tls-verify), and the user's kubeconfig would too: " +
			"pass --certificate-authority FILE with the API server's CA bundle, or --insecure-skip-tls-verify to write an insecure kubeconfig anyway")
	}
	if len(cl.CAData) == 0 && !cl.InsecureSkipTLSVerify {
		return cl, errors.New("the admin kubeconfig has no CA bundle for the API server: pass --certificate-authority")
	}
	return cl, nil
}

// userIssued is a credential and where it went.
type userIssued struct {
	cred    *credentials.Credential
	cluster credentials.Cluster
	context string
}

// userIssueCredential issues a credential of f.Kind for u, records it in
// u's status and writes the kubeconfig with namespace as its default.
// Steps to undo on a later failure are added to undo. Unless u is disabled
// it first waits until the credential's identity may use waitNS (when not
// empty), so the kubeconfig works the moment it is written.
func userIssueCredential(ctx context.Context, a *userAdmin, u *tenancyv1.User, namespace, waitNS string, f *userCredentialFlags, wait bool, timeout time.Duration, undo *userRollback, out io.Writer) (*userIssued, error) {
	cl, err := f.cluster(a)
	if err != nil {
		return nil, err
	}
	var cred *credentials.Credential
	var id userIdentity
	switch tenancyv1.CredentialKind(f.Kind) {
	case tenancyv1.CredentialToken:
		sa, created, err := credentials.EnsureServiceAccount(ctx, a.cs, u.Name)
		if err != nil {
			return nil, err
		}
		if created {
			undo.add(fmt.Sprintf("deleted ServiceAccount %s/%s", sa.Namespace, sa.Name), func(ctx context.Context) error {
				err := a.cs.CoreV1().ServiceAccounts(sa.Namespace).Delete(ctx, sa.Name, metav1.DeleteOptions{})
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			})
		}
		if u.Status.ServiceAccount == nil || *u.Status.ServiceAccount != sa {
			prev := u.Status.ServiceAccount
			if err := updateUserStatus(ctx, a.c, u, func(st *tenancyv1.UserStatus) { st.ServiceAccount = &sa }); err != nil {
				return nil, err
			}
			undo.add("reset the ServiceAccount in the status of User "+u.Name, func(ctx context.Context) error {
				err := updateUserStatus(ctx, a.c, u, func(st *tenancyv1.UserStatus) { st.ServiceAccount = prev })
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			})
		}
		if cred, err = credentials.IssueToken(ctx, a.cs, sa, f.TTL); err != nil {
			return nil, err
		}
		id = userIdentities(u)[1]
	default:
		cred, err = credentials.IssueCert(ctx, a.cs, credentials.CertRequest{
			User: u.Name, Groups: u.Spec.Groups, TTL: f.TTL,
			KeyAlgorithm: credentials.KeyAlgorithm(f.KeyAlgorithm), SignTimeout: f.SignTimeout,
		})
		if err != nil {
			return nil, err
		}
		csr := cred.CSRName
		undo.add("deleted CertificateSigningRequest "+csr, func(ctx context.Context) error {
			err := a.cs.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr, metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		})
		id = userIdentities(u)[0]
	}

	if wait && waitNS != "" && !u.Spec.Disabled {
		if err := userWaitAccess(ctx, a.cs, id, waitNS, true, timeout); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	if err := updateUserStatus(ctx, a.c, u, func(st *tenancyv1.UserStatus) {
		kept := st.Credentials[:0]
		for _, c := range st.Credentials {
			if c.ExpiresAt.After(now) {
				kept = append(kept, c)
			}
		}
		st.Credentials = append(kept, cred.Record())
	}); err != nil {
		return nil, err
	}
	kc := credentials.Kubeconfig(cl, u.Name, namespace, cred)
	if err := credentials.WriteFile(f.KubeconfigOut, kc); err != nil {
		return nil, err
	}
	what := "Certificate (serial " + cred.ID + ")"
	if cred.Kind == tenancyv1.CredentialToken {
		what = "Token of ServiceAccount " + cred.ID
	}
	fmt.Fprintf(out, "%s issued for User %s, valid until %s (%s)\n", what, u.Name,
		cred.ExpiresAt.UTC().Format(time.RFC3339), duration.HumanDuration(time.Until(cred.ExpiresAt).Round(time.Minute)))
	// kube-controller-manager backdates certificates by up to 5 minutes
	// (the lifetime stays the TTL); only a larger shortfall is a cap.
	if got := time.Until(cred.ExpiresAt); got < f.TTL-10*time.Minute {
		fmt.Fprintf(out, "Note: %s was asked for; the cluster caps credentials it issues at %s\n", f.TTL, duration.HumanDuration(got))
	}
	return &userIssued{cred: cred, cluster: cl, context: kc.CurrentContext}, nil
}

// updateUserStatus changes u's status with mutate, retrying on conflicts;
// u is updated to the result.
func updateUserStatus(ctx context.Context, c client.Client, u *tenancyv1.User, mutate func(*tenancyv1.UserStatus)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &tenancyv1.User{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil {
			return err
		}
		mutate(&cur.Status)
		if err := c.Status().Update(ctx, cur, client.FieldOwner(userFieldManager)); err != nil {
			return err
		}
		cur.DeepCopyInto(u)
		return nil
	})
	if err != nil {
		return fmt.Errorf("update the status of User %s: %w", u.Name, err)
	}
	return nil
}

// userKubeconfigHint tells how to use the written kubeconfig.
func userKubeconfigHint(out io.Writer, path string, is *userIssued, namespace string) {
	where := ""
	if namespace != "" {
		where = ", namespace " + namespace
	}
	fmt.Fprintf(out, "Kubeconfig written to %s (context %s%s)\n", path, is.context, where)
	fmt.Fprintf(out, "  KUBECONFIG=%s kubectl get pods\n", path)
}
