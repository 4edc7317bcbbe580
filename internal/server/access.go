package server

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// check is one question to RBAC about the caller, on tenancy.dev unless
// group is set.
type check struct {
	verb, resource, name, namespace string
	group                           *string
}

// can asks the API server, as the caller, whether they may do each check
// (a SelfSubjectAccessReview made by impersonation is the caller's own).
func (s *server) can(ctx context.Context, checks ...check) ([]bool, error) {
	out := make([]bool, len(checks))
	for i, c := range checks {
		group := tenancyv1.GroupVersion.Group
		if c.group != nil {
			group = *c.group
		}
		ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: group, Resource: c.resource, Verb: c.verb, Name: c.name, Namespace: c.namespace,
			},
		}}
		if err := s.AsUser.Create(ctx, ssar); err != nil {
			return nil, err
		}
		out[i] = ssar.Status.Allowed
	}
	return out, nil
}

func secretRef(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: passwords.Namespace}}
}
