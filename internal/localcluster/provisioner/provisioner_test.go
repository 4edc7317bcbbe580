package provisioner

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

func TestProvisionMakesAWritableDirectoryAndDeleteRemovesOnlyItsOwn(t *testing.T) {
	base := t.TempDir()
	p := &hostPathProvisioner{base: base}
	retain := corev1.PersistentVolumeReclaimRetain
	pv, _, err := p.Provision(t.Context(), controller.ProvisionOptions{
		PVName:       "pvc-1",
		StorageClass: &storagev1.StorageClass{ReclaimPolicy: &retain},
		PVC: &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "pvc-1")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("volume dir %s: %v, %v; want mode 0777", dir, fi, err)
	}
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir || pv.Spec.PersistentVolumeReclaimPolicy != retain ||
		pv.Spec.AccessModes[0] != corev1.ReadWriteMany || pv.Spec.Capacity.Storage().String() != "2Gi" {
		t.Errorf("PV spec %+v", pv.Spec)
	}
	outside := &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: t.TempDir()}}}}
	var ignored *controller.IgnoredError
	if err := p.Delete(t.Context(), outside); !errors.As(err, &ignored) {
		t.Errorf("Delete of a directory it did not make: %v, want IgnoredError", err)
	}
	if err := p.Delete(t.Context(), pv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume dir still there after Delete: %v", err)
	}
	block := corev1.PersistentVolumeBlock
	if _, _, err := p.Provision(t.Context(), controller.ProvisionOptions{PVName: "pvc-2", StorageClass: &storagev1.StorageClass{},
		PVC: &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{VolumeMode: &block}}}); err == nil {
		t.Error("a block volume was provisioned")
	}
}
