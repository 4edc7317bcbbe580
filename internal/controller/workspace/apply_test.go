package workspace

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUpToDate(t *testing.T) {
	ours := func(op metav1.ManagedFieldsOperationType) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "tenancy-controller", Operation: op}
	}
	theirs := func(manager, subresource string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: subresource}
	}
	tests := map[string]struct {
		hash          string // annotation on the live object; "" for none
		managedFields []metav1.ManagedFieldsEntry
		want          bool
	}{
		"hash matches, only our manager": {
			hash:          "abc",
			managedFields: []metav1.ManagedFieldsEntry{ours(metav1.ManagedFieldsOperationApply)},
			want:          true,
		},
		"hash matches, our create and our apply": {
			hash: "abc",
			managedFields: []metav1.ManagedFieldsEntry{
				ours(metav1.ManagedFieldsOperationUpdate), ours(metav1.ManagedFieldsOperationApply),
			},
			want: true,
		},
		"hash differs": {
			hash:          "old",
			managedFields: []metav1.ManagedFieldsEntry{ours(metav1.ManagedFieldsOperationApply)},
			want:          false,
		},
		"no hash": {
			managedFields: []metav1.ManagedFieldsEntry{ours(metav1.ManagedFieldsOperationApply)},
			want:          false,
		},
		"another manager wrote the object": {
			hash:          "abc",
			managedFields: []metav1.ManagedFieldsEntry{ours(metav1.ManagedFieldsOperationApply), theirs("kubectl-edit", "")},
			want:          false,
		},
		"another manager wrote only the status": {
			hash:          "abc",
			managedFields: []metav1.ManagedFieldsEntry{ours(metav1.ManagedFieldsOperationApply), theirs("kube-controller-manager", "status")},
			want:          true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := &corev1.ResourceQuota{}
			if tc.hash != "" {
				obj.Annotations = map[string]string{"tenancy.dev/applied-hash": tc.hash}
			}
			obj.ManagedFields = tc.managedFields
			if got := upToDate(obj, "abc"); got != tc.want {
				t.Errorf("upToDate() = %v, want %v", got, tc.want)
			}
		})
	}
}
