package install

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// DefaultClassName is the WorkspaceClass `tenancy up` marks default.
const DefaultClassName = "standard"

// DefaultClass is the admin defaults `tenancy up` starts with: a modest
// quota per workspace and per-container defaults so pods without requests
// are admitted.
func DefaultClass() *tenancyv1.WorkspaceClass {
	return &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        DefaultClassName,
			Annotations: map[string]string{tenancyv1.AnnotationIsDefaultClass: "true"},
		},
		Spec: tenancyv1.WorkspaceClassSpec{
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				"requests.cpu":            resource.MustParse("16"),
				"requests.memory":         resource.MustParse("64Gi"),
				"requests.nvidia.com/gpu": resource.MustParse("2"),
				"persistentvolumeclaims":  resource.MustParse("10"),
			}},
			LimitRange: &tenancyv1.LimitRangeSpec{DefaultRequest: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("100m"),
				corev1.ResourceMemory: resource.MustParse("256Mi"),
			}},
		},
	}
}

// DemoWorkspaces are the users of the Arena multi-user guide: alex with the
// defaults, bob with a CPU/memory quota and the right to list jobs across
// the cluster, tom with five GPUs and the right to list jobs in his
// namespace.
func DemoWorkspaces() []*tenancyv1.Workspace {
	listJobs := []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list"}}}
	user := func(name string) *tenancyv1.Subject {
		return &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: name}
	}
	return []*tenancyv1.Workspace{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "workplace1"},
			Spec:       tenancyv1.WorkspaceSpec{Owner: user("alex")},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "workplace2"},
			Spec: tenancyv1.WorkspaceSpec{
				Owner: user("bob"),
				ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
					"limits.cpu":      resource.MustParse("10"),
					"limits.memory":   resource.MustParse("20Gi"),
					"requests.cpu":    resource.MustParse("5"),
					"requests.memory": resource.MustParse("10Gi"),
				}},
				ClusterRules: listJobs,
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "workplace3"},
			Spec: tenancyv1.WorkspaceSpec{
				Owner: user("tom"),
				ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
					"requests.nvidia.com/gpu": resource.MustParse("5"),
				}},
				Rules: listJobs,
			},
		},
	}
}

// DemoUsers are the people who own the demo workspaces, so that
// `tenancy user kubeconfig alex` issues their credentials.
func DemoUsers() []*tenancyv1.User {
	var out []*tenancyv1.User
	for _, name := range []string{"alex", "bob", "tom"} {
		out = append(out, &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue},
		}})
	}
	return out
}

// CreateIfMissing creates each object that does not exist yet; existing
// ones (perhaps changed since by an admin) are left as they are.
func CreateIfMissing(ctx context.Context, c client.Client, objs ...client.Object) error {
	for _, o := range objs {
		if err := c.Create(ctx, o, client.FieldOwner(FieldManager)); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}
