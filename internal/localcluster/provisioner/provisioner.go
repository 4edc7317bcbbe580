// Package provisioner is the local cluster's dynamic volume provisioner: a
// claim of its StorageClass gets a directory under a base directory,
// exposed as a hostPath PersistentVolume. Every local node is this one
// machine, so ReadWriteMany is true: pods on any node mount the same
// directory. It is built on sig-storage-lib-external-provisioner, which
// watches claims, creates and deletes the volumes and honours the reclaim
// policy; this package only makes and removes directories.
package provisioner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// Name is the provisioner name StorageClasses refer to.
const Name = "localcluster.dev/hostpath"

// ClassName is the default StorageClass this package installs.
const ClassName = "local"

// hostPathProvisioner makes directories under base.
type hostPathProvisioner struct {
	base string
}

var _ controller.Provisioner = (*hostPathProvisioner)(nil)

// Provision makes the claim's directory, writable by any pod user (pods
// run under unprivileged uids).
func (p *hostPathProvisioner) Provision(_ context.Context, o controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	for _, m := range o.PVC.Spec.AccessModes {
		switch m {
		case corev1.ReadWriteOnce, corev1.ReadWriteMany, corev1.ReadOnlyMany, corev1.ReadWriteOncePod:
		default:
			return nil, controller.ProvisioningFinished, fmt.Errorf("access mode %q is not supported", m)
		}
	}
	if o.PVC.Spec.VolumeMode != nil && *o.PVC.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, controller.ProvisioningFinished, errors.New("block volumes are not supported: this provisioner makes directories")
	}
	dir := filepath.Join(p.base, o.PVName)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if o.StorageClass.ReclaimPolicy != nil {
		reclaim = *o.StorageClass.ReclaimPolicy
	}
	dirType := corev1.HostPathDirectory
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   o.PVC.Spec.AccessModes,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: o.PVC.Spec.Resources.Requests[corev1.ResourceStorage]},
			MountOptions:                  o.StorageClass.MountOptions,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType},
			},
		},
	}, controller.ProvisioningFinished, nil
}

// Delete removes a volume's directory (the library calls it only for the
// Delete reclaim policy).
func (p *hostPathProvisioner) Delete(_ context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.HostPath == nil {
		return &controller.IgnoredError{Reason: "not a hostPath volume"}
	}
	dir := filepath.Clean(pv.Spec.HostPath.Path)
	if filepath.Dir(dir) != filepath.Clean(p.base) || !strings.HasPrefix(filepath.Base(dir), "pvc-") {
		return &controller.IgnoredError{Reason: fmt.Sprintf("%s is not a directory this provisioner made", dir)}
	}
	return os.RemoveAll(dir)
}

// Start installs the default StorageClass (Immediate binding, Delete
// reclaim) and provisions claims until ctx ends; done is closed then.
// The controller is built before Start returns (the library registers
// types in client-go's global scheme: not while other clients use it).
func Start(ctx context.Context, cs kubernetes.Interface, base string) (done <-chan struct{}, err error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	if err := EnsureClass(ctx, cs); err != nil {
		return nil, err
	}
	pc := controller.NewProvisionController(ctx, cs, Name, &hostPathProvisioner{base: base},
		controller.LeaderElection(false),
		controller.Threadiness(4),
	)
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		pc.Run(ctx)
	}()
	return ch, nil
}

// EnsureClass creates the default StorageClass if it does not exist.
func EnsureClass(ctx context.Context, cs kubernetes.Interface) error {
	immediate := storagev1.VolumeBindingImmediate
	del := corev1.PersistentVolumeReclaimDelete
	class := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       Name,
		ReclaimPolicy:     &del,
		VolumeBindingMode: &immediate,
	}
	_, err := cs.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", ClassName, err)
	}
	return nil
}
