package workspace

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestDesiredStorage(t *testing.T) {
	fast := "fast"
	tests := map[string]struct {
		ws    *tenancyv1.Workspace
		class *tenancyv1.WorkspaceClass
		want  *corev1.PersistentVolumeClaim
	}{
		"no storage: none": {
			ws:   testutil.Workspace("ml").Obj(),
			want: nil,
		},
		"size only: ReadWriteMany on the default storage class": {
			ws: testutil.Workspace("ml").Storage("100Gi").Obj(),
			want: &corev1.PersistentVolumeClaim{
				ObjectMeta: wantMeta("ml", "ml", "workspace"),
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
					Resources:   corev1.VolumeResourceRequirements{Requests: list("storage", "100Gi")},
				},
			},
		},
		"from the class, with its access modes and storage class": {
			ws: testutil.Workspace("ml").Obj(),
			class: testutil.Class("c").StorageSpec(tenancyv1.StorageSpec{
				Size:             resource.MustParse("1Ti"),
				StorageClassName: &fast,
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			}).Obj(),
			want: &corev1.PersistentVolumeClaim{
				ObjectMeta: wantMeta("ml", "ml", "workspace"),
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
					Resources:        corev1.VolumeResourceRequirements{Requests: list("storage", "1Ti")},
					StorageClassName: &fast,
				},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ac := desiredStorage(effectiveSpec(tc.ws, tc.class), metaOf(tc.ws))
			got := decode[corev1.PersistentVolumeClaim](t, ac)
			if diff := cmp.Diff(tc.want, got, ignoreTypeMeta); diff != "" {
				t.Errorf("desiredStorage() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
