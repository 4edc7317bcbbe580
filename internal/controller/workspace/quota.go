package workspace

import (
	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// quotaName is the name of the workspace's ResourceQuota and LimitRange.
const quotaName = "tenancy"

// desiredQuota is the workspace's ResourceQuota, or nil when neither the
// class nor the workspace sets one.
func desiredQuota(e effective, m objectMeta) *corev1ac.ResourceQuotaApplyConfiguration {
	if e.Quota == nil {
		return nil
	}
	spec := corev1ac.ResourceQuotaSpec().WithHard(e.Quota.Hard)
	if len(e.Quota.Scopes) > 0 {
		spec.WithScopes(e.Quota.Scopes...)
	}
	if sel := e.Quota.ScopeSelector; sel != nil {
		ssac := corev1ac.ScopeSelector()
		for _, r := range sel.MatchExpressions {
			ssac.WithMatchExpressions(corev1ac.ScopedResourceSelectorRequirement().
				WithScopeName(r.ScopeName).WithOperator(r.Operator).WithValues(r.Values...))
		}
		spec.WithScopeSelector(ssac)
	}
	return corev1ac.ResourceQuota(quotaName, e.Name).WithLabels(m.labels()).
		WithOwnerReferences(m.ownerRef()).WithSpec(spec)
}

// desiredLimitRange is the workspace's per-container LimitRange, or nil when
// it would be empty.
func desiredLimitRange(e effective, m objectMeta) *corev1ac.LimitRangeApplyConfiguration {
	l := e.LimitRange
	if len(l.Default) == 0 && len(l.DefaultRequest) == 0 && len(l.Max) == 0 {
		return nil
	}
	item := corev1ac.LimitRangeItem().WithType(corev1.LimitTypeContainer)
	if len(l.Default) > 0 {
		item.WithDefault(l.Default)
	}
	if len(l.DefaultRequest) > 0 {
		item.WithDefaultRequest(l.DefaultRequest)
	}
	if len(l.Max) > 0 {
		item.WithMax(l.Max)
	}
	return corev1ac.LimitRange(quotaName, e.Name).WithLabels(m.labels()).
		WithOwnerReferences(m.ownerRef()).WithSpec(corev1ac.LimitRangeSpec().WithLimits(item))
}
