package workspace

import (
	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// storageClaimName is the workspace volume's PersistentVolumeClaim.
const storageClaimName = "workspace"

// desiredStorage is the shared workspace volume, or nil when none is asked
// for. A claim that is no longer desired is kept (it holds the users' data)
// and goes with the namespace.
func desiredStorage(e effective, m objectMeta) *corev1ac.PersistentVolumeClaimApplyConfiguration {
	if e.Storage == nil {
		return nil
	}
	modes := e.Storage.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	}
	spec := corev1ac.PersistentVolumeClaimSpec().WithAccessModes(modes...).
		WithResources(corev1ac.VolumeResourceRequirements().
			WithRequests(corev1.ResourceList{corev1.ResourceStorage: e.Storage.Size}))
	if e.Storage.StorageClassName != nil {
		spec.WithStorageClassName(*e.Storage.StorageClassName)
	}
	return corev1ac.PersistentVolumeClaim(storageClaimName, e.Name).WithLabels(m.labels()).
		WithOwnerReferences(m.ownerRef()).WithSpec(spec)
}
