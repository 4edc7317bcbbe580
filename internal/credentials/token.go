package credentials

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// SystemNamespace holds the users' token ServiceAccounts. It is not a
// workspace: nobody but the cluster admins can run pods there, so nobody
// can borrow a user's identity by mounting its ServiceAccount into a pod.
const SystemNamespace = "tenancy-system"

// ServiceAccountName is the token ServiceAccount of user.
func ServiceAccountName(user string) string { return "user-" + user }

// ServiceAccountFor is the reference of user's token ServiceAccount.
func ServiceAccountFor(user string) tenancyv1.ServiceAccountRef {
	return tenancyv1.ServiceAccountRef{Namespace: SystemNamespace, Name: ServiceAccountName(user)}
}

// ServiceAccountUsername is the name the API server authenticates a token
// of sa as.
func ServiceAccountUsername(sa tenancyv1.ServiceAccountRef) string {
	return "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
}

// EnsureServiceAccount creates the user's token ServiceAccount (and its
// namespace) unless they exist. created says whether the ServiceAccount
// was made now, for a caller that has to undo its work.
func EnsureServiceAccount(ctx context.Context, cs kubernetes.Interface, user string) (sa tenancyv1.ServiceAccountRef, created bool, err error) {
	sa = ServiceAccountFor(user)
	labels := map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sa.Namespace, Labels: labels}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return sa, false, fmt.Errorf("create namespace %s: %w", sa.Namespace, err)
	}
	obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: sa.Name, Namespace: sa.Namespace,
		Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelUser: user},
	}, AutomountServiceAccountToken: ptr.To(false)}
	_, err = cs.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, obj, metav1.CreateOptions{})
	switch {
	case err == nil:
		return sa, true, nil
	case apierrors.IsAlreadyExists(err):
		got, err := cs.CoreV1().ServiceAccounts(sa.Namespace).Get(ctx, sa.Name, metav1.GetOptions{})
		if err != nil {
			return sa, false, fmt.Errorf("read ServiceAccount %s/%s: %w", sa.Namespace, sa.Name, err)
		}
		if got.Labels[tenancyv1.LabelUser] != user {
			return sa, false, fmt.Errorf("ServiceAccount %s/%s exists and is not User %s's token ServiceAccount (label %s=%s missing); remove it or rename the user",
				sa.Namespace, sa.Name, user, tenancyv1.LabelUser, user)
		}
		return sa, false, nil
	default:
		return sa, false, fmt.Errorf("create ServiceAccount %s/%s: %w", sa.Namespace, sa.Name, err)
	}
}

// IssueToken asks the TokenRequest API for a token of sa valid for ttl.
func IssueToken(ctx context.Context, cs kubernetes.Interface, sa tenancyv1.ServiceAccountRef, ttl time.Duration) (*Credential, error) {
	tr, err := cs.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(ttl / time.Second))},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("request a token for ServiceAccount %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	return &Credential{
		Kind:      tenancyv1.CredentialToken,
		ID:        sa.Namespace + "/" + sa.Name,
		IssuedAt:  time.Now(),
		ExpiresAt: tr.Status.ExpirationTimestamp.Time,
		Token:     tr.Status.Token,
	}, nil
}
