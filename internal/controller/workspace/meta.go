package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// objectMeta is what every managed object's metadata starts from: the
// managed-by and workspace labels, and the Workspace as controlling owner so
// that garbage collection is a second line of cleanup behind the finalizer.
type objectMeta struct {
	WorkspaceName string
	WorkspaceUID  types.UID
}

func (m objectMeta) labels() map[string]string {
	return map[string]string{
		tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue,
		tenancyv1.LabelWorkspace: m.WorkspaceName,
	}
}

func (m objectMeta) ownerRef() *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(tenancyv1.GroupVersion.String()).
		WithKind("Workspace").
		WithName(m.WorkspaceName).
		WithUID(m.WorkspaceUID).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// ownerReference is ownerRef as a plain OwnerReference, for creates.
func (m objectMeta) ownerReference() metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion: tenancyv1.GroupVersion.String(), Kind: "Workspace",
		Name: m.WorkspaceName, UID: m.WorkspaceUID, Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// rbacName joins parts into an RBAC object name (RBAC names are path
// segments, so ':' and '@' are fine), hashing the tail of names too long
// for etcd keys to stay readable.
func rbacName(parts ...string) string {
	n := strings.Join(parts, ":")
	if len(n) <= 200 {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	cut := 180
	for cut > 0 && !utf8.RuneStart(n[cut]) {
		cut-- // never split a multi-byte character
	}
	return n[:cut] + "-" + hex.EncodeToString(sum[:])[:16]
}
