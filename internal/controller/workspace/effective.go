package workspace

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Built-in per-container defaults, used where neither the class nor the
// workspace sets one and the quota counts the resource: without them a pod
// that states no requests would be refused by quota admission.
var (
	builtinDefaultRequest = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("256Mi"),
	}
	builtinDefaultLimit = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1"),
		corev1.ResourceMemory: resource.MustParse("1Gi"),
	}
)

// effective is a Workspace's spec with its class's defaults filled in: the
// single input of every desired…() builder.
type effective struct {
	Name             string
	Owner            *tenancyv1.Subject
	OwnerRole        tenancyv1.OwnerRole
	Contributors     []tenancyv1.Contributor
	Quota            *corev1.ResourceQuotaSpec
	LimitRange       tenancyv1.LimitRangeSpec
	NamespaceLabels  map[string]string
	NodeSelector     map[string]string
	Tolerations      []corev1.Toleration
	Storage          *tenancyv1.StorageSpec
	NetworkIsolation bool
	PodSecurity      tenancyv1.PodSecurityLevel
	Rules            []rbacv1.PolicyRule
	ClusterRules     []rbacv1.PolicyRule
	Plugins          *tenancyv1.Plugins
}

// effectiveSpec merges a workspace over its class (which may be nil). Quota
// and limit-range entries are merged one resource at a time; every other
// field is taken whole from the workspace when set there.
func effectiveSpec(ws *tenancyv1.Workspace, class *tenancyv1.WorkspaceClass) effective {
	var cs tenancyv1.WorkspaceClassSpec
	if class != nil {
		cs = class.Spec
	}
	s := ws.Spec
	e := effective{
		Name:             ws.Name,
		Owner:            s.Owner,
		OwnerRole:        s.OwnerRole,
		Contributors:     s.Contributors,
		Quota:            mergeQuota(cs.ResourceQuota, s.ResourceQuota),
		NamespaceLabels:  cs.NamespaceLabels,
		NodeSelector:     firstMap(s.NodeSelector, cs.NodeSelector),
		Tolerations:      s.Tolerations,
		Storage:          s.Storage,
		NetworkIsolation: true,
		PodSecurity:      tenancyv1.PodSecurityBaseline,
		Rules:            s.Rules,
		ClusterRules:     s.ClusterRules,
		Plugins:          s.Plugins,
	}
	if len(e.Tolerations) == 0 {
		e.Tolerations = cs.Tolerations
	}
	if e.OwnerRole == "" {
		e.OwnerRole = cs.OwnerRole
	}
	if e.Storage == nil {
		e.Storage = cs.Storage
	}
	switch {
	case s.NetworkIsolation != nil:
		e.NetworkIsolation = *s.NetworkIsolation
	case cs.NetworkIsolation != nil:
		e.NetworkIsolation = *cs.NetworkIsolation
	}
	switch {
	case s.PodSecurity != "":
		e.PodSecurity = s.PodSecurity
	case cs.PodSecurity != "":
		e.PodSecurity = cs.PodSecurity
	}
	e.LimitRange = mergeLimitRange(cs.LimitRange, s.LimitRange, e.Quota)
	return e
}

func firstMap(a, b map[string]string) map[string]string {
	if len(a) > 0 {
		return a
	}
	return b
}

// mergeQuota lays the workspace's quota over the class's: hard entries one
// resource at a time, scopes and scope selector whole.
func mergeQuota(class, ws *corev1.ResourceQuotaSpec) *corev1.ResourceQuotaSpec {
	if class == nil && ws == nil {
		return nil
	}
	out := &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{}}
	for _, q := range []*corev1.ResourceQuotaSpec{class, ws} {
		if q == nil {
			continue
		}
		maps.Copy(out.Hard, q.Hard)
		if len(q.Scopes) > 0 {
			out.Scopes = q.Scopes
		}
		if q.ScopeSelector != nil {
			out.ScopeSelector = q.ScopeSelector
		}
	}
	if len(out.Hard) == 0 {
		return nil
	}
	return out
}

// mergeLimitRange lays the workspace's limit range over the class's, then
// fills in built-in defaults for what the quota counts and nobody set.
func mergeLimitRange(class, ws *tenancyv1.LimitRangeSpec, quota *corev1.ResourceQuotaSpec) tenancyv1.LimitRangeSpec {
	out := tenancyv1.LimitRangeSpec{}
	for _, l := range []*tenancyv1.LimitRangeSpec{class, ws} {
		if l == nil {
			continue
		}
		out.Default = mergeList(out.Default, l.Default)
		out.DefaultRequest = mergeList(out.DefaultRequest, l.DefaultRequest)
		out.Max = mergeList(out.Max, l.Max)
	}
	if quota == nil {
		return out
	}
	// Kubernetes requires defaultRequest <= default <= max: built-in values
	// give way to what the admin set.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		_, plain := quota.Hard[r]
		_, req := quota.Hard["requests."+r]
		_, lim := quota.Hard["limits."+r]
		explicitDefault := has(out.Default, r)
		if lim && !explicitDefault {
			v := builtinDefaultLimit[r]
			if dr, ok := out.DefaultRequest[r]; ok && dr.Cmp(v) > 0 {
				v = dr
			}
			if mx, ok := out.Max[r]; ok && mx.Cmp(v) < 0 {
				v = mx
			}
			out.Default = mergeList(out.Default, corev1.ResourceList{r: v})
		}
		// With an explicit default limit and no default request, Kubernetes
		// requests the limit: that is left as the admin wrote it.
		if (plain || req || lim) && !explicitDefault && !has(out.DefaultRequest, r) {
			v := builtinDefaultRequest[r]
			if d, ok := out.Default[r]; ok && d.Cmp(v) < 0 {
				v = d
			}
			if mx, ok := out.Max[r]; ok && mx.Cmp(v) < 0 {
				v = mx
			}
			out.DefaultRequest = mergeList(out.DefaultRequest, corev1.ResourceList{r: v})
		}
	}
	return out
}

func has(l corev1.ResourceList, r corev1.ResourceName) bool {
	_, ok := l[r]
	return ok
}

func mergeList(base, over corev1.ResourceList) corev1.ResourceList {
	if len(over) == 0 {
		return base
	}
	out := corev1.ResourceList{}
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

// sortedKeys returns a map's keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
