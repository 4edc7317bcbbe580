package workspace

import (
	"encoding/json"
	"maps"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Namespace annotations read by the PodNodeSelector and
// PodTolerationRestriction admission plugins.
const (
	annotationNodeSelector       = "scheduler.alpha.kubernetes.io/node-selector"
	annotationDefaultTolerations = "scheduler.alpha.kubernetes.io/defaultTolerations"
	labelPodSecurityEnforce      = "pod-security.kubernetes.io/enforce"
)

// desiredNamespace is the workspace's namespace: the class's labels,
// Tenancy's labels, the pod-security level and the node pool.
func desiredNamespace(e effective, m objectMeta) *corev1ac.NamespaceApplyConfiguration {
	labels := map[string]string{}
	maps.Copy(labels, e.NamespaceLabels)
	maps.Copy(labels, m.labels())
	labels[labelPodSecurityEnforce] = string(e.PodSecurity)
	if e.Storage != nil {
		labels[tenancyv1.LabelWorkspaceVolume] = "true"
	}
	ns := corev1ac.Namespace(e.Name).WithLabels(labels).WithOwnerReferences(m.ownerRef())
	if e.Storage != nil {
		path := e.Storage.MountPath
		if path == "" {
			path = tenancyv1.DefaultMountPath
		}
		ns.WithAnnotations(map[string]string{tenancyv1.AnnotationWorkspaceVolumeClaim: storageClaimName, tenancyv1.AnnotationWorkspaceVolumePath: path})
	}
	if len(e.NodeSelector) > 0 {
		pairs := make([]string, 0, len(e.NodeSelector))
		for _, k := range sortedKeys(e.NodeSelector) {
			pairs = append(pairs, k+"="+e.NodeSelector[k])
		}
		ns.WithAnnotations(map[string]string{annotationNodeSelector: strings.Join(pairs, ",")})
	}
	if len(e.Tolerations) > 0 {
		raw, _ := json.Marshal(e.Tolerations) // a []Toleration always marshals
		ns.WithAnnotations(map[string]string{annotationDefaultTolerations: string(raw)})
	}
	return ns
}

// isOurs says whether an existing namespace was made by Tenancy for this
// workspace; any other namespace of that name is never touched.
func isOurs(labels map[string]string, workspace string) bool {
	return tenancyv1.IsManagedFor(&metav1.ObjectMeta{Labels: labels}, workspace)
}
