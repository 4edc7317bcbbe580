// Package testutil holds fluent fixture builders for tests:
//
//	ws := testutil.Workspace("ml").Owner("alex").GPU(4).Obj()
//	class := testutil.Class("gpu").Default().Quota("requests.cpu", "8").Obj()
//
// Every builder method returns the builder; Obj returns a deep copy, so
// later calls on the builder do not change fixtures already taken.
package testutil

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// GPUResource is the quota entry that counts GPUs.
const GPUResource corev1.ResourceName = "requests.nvidia.com/gpu"

// User is a User subject.
func User(name string) tenancyv1.Subject {
	return tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: name}
}

// Group is a Group subject.
func Group(name string) tenancyv1.Subject {
	return tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: name}
}

// ServiceAccount is a ServiceAccount subject.
func ServiceAccount(namespace, name string) tenancyv1.Subject {
	return tenancyv1.Subject{Kind: tenancyv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// WorkspaceBuilder builds a Workspace.
type WorkspaceBuilder struct{ ws tenancyv1.Workspace }

// Workspace starts a Workspace named name, with UID "uid-<name>" and
// generation 1.
func Workspace(name string) *WorkspaceBuilder {
	b := &WorkspaceBuilder{}
	b.ws.Name = name
	b.ws.UID = types.UID("uid-" + name)
	b.ws.Generation = 1
	return b
}

// Obj returns a copy of the Workspace built so far.
func (b *WorkspaceBuilder) Obj() *tenancyv1.Workspace { return b.ws.DeepCopy() }

// Generation sets metadata.generation.
func (b *WorkspaceBuilder) Generation(g int64) *WorkspaceBuilder {
	b.ws.Generation = g
	return b
}

// UID sets metadata.uid.
func (b *WorkspaceBuilder) UID(uid types.UID) *WorkspaceBuilder {
	b.ws.UID = uid
	return b
}

// Owner makes the User name the owner.
func (b *WorkspaceBuilder) Owner(name string) *WorkspaceBuilder {
	return b.OwnerSubject(User(name))
}

// OwnerRole sets what the owner may do in the namespace.
func (b *WorkspaceBuilder) OwnerRole(r tenancyv1.OwnerRole) *WorkspaceBuilder {
	b.ws.Spec.OwnerRole = r
	return b
}

// OwnerSubject makes s the owner.
func (b *WorkspaceBuilder) OwnerSubject(s tenancyv1.Subject) *WorkspaceBuilder {
	b.ws.Spec.Owner = &s
	return b
}

// Contributor shares the workspace with s at role.
func (b *WorkspaceBuilder) Contributor(s tenancyv1.Subject, role tenancyv1.ContributorRole) *WorkspaceBuilder {
	b.ws.Spec.Contributors = append(b.ws.Spec.Contributors, tenancyv1.Contributor{Subject: s, Role: role})
	return b
}

// Class names the WorkspaceClass.
func (b *WorkspaceBuilder) Class(name string) *WorkspaceBuilder {
	b.ws.Spec.Class = name
	return b
}

// Quota sets one hard quota entry, e.g. Quota("requests.cpu", "8").
func (b *WorkspaceBuilder) Quota(r corev1.ResourceName, q string) *WorkspaceBuilder {
	b.ws.Spec.ResourceQuota = withHard(b.ws.Spec.ResourceQuota, r, q)
	return b
}

// GPU sets the requests.nvidia.com/gpu quota.
func (b *WorkspaceBuilder) GPU(n int) *WorkspaceBuilder {
	return b.Quota(GPUResource, strconv.Itoa(n))
}

// QuotaScopes sets the quota's scopes.
func (b *WorkspaceBuilder) QuotaScopes(scopes ...corev1.ResourceQuotaScope) *WorkspaceBuilder {
	b.ws.Spec.ResourceQuota = withScopes(b.ws.Spec.ResourceQuota, scopes)
	return b
}

// DefaultLimit sets one LimitRange default (limit) entry.
func (b *WorkspaceBuilder) DefaultLimit(r corev1.ResourceName, q string) *WorkspaceBuilder {
	b.ws.Spec.LimitRange = withLimit(b.ws.Spec.LimitRange, func(l *tenancyv1.LimitRangeSpec) *corev1.ResourceList { return &l.Default }, r, q)
	return b
}

// DefaultRequest sets one LimitRange defaultRequest entry.
func (b *WorkspaceBuilder) DefaultRequest(r corev1.ResourceName, q string) *WorkspaceBuilder {
	b.ws.Spec.LimitRange = withLimit(b.ws.Spec.LimitRange, func(l *tenancyv1.LimitRangeSpec) *corev1.ResourceList { return &l.DefaultRequest }, r, q)
	return b
}

// Max sets one LimitRange max entry.
func (b *WorkspaceBuilder) Max(r corev1.ResourceName, q string) *WorkspaceBuilder {
	b.ws.Spec.LimitRange = withLimit(b.ws.Spec.LimitRange, func(l *tenancyv1.LimitRangeSpec) *corev1.ResourceList { return &l.Max }, r, q)
	return b
}

// NodeSelector adds one node-selector entry.
func (b *WorkspaceBuilder) NodeSelector(k, v string) *WorkspaceBuilder {
	b.ws.Spec.NodeSelector = withEntry(b.ws.Spec.NodeSelector, k, v)
	return b
}

// Toleration adds a toleration.
func (b *WorkspaceBuilder) Toleration(t corev1.Toleration) *WorkspaceBuilder {
	b.ws.Spec.Tolerations = append(b.ws.Spec.Tolerations, t)
	return b
}

// Storage asks for a workspace volume of size.
func (b *WorkspaceBuilder) Storage(size string) *WorkspaceBuilder {
	return b.StorageSpec(tenancyv1.StorageSpec{Size: resource.MustParse(size)})
}

// StorageSpec sets the whole storage spec.
func (b *WorkspaceBuilder) StorageSpec(s tenancyv1.StorageSpec) *WorkspaceBuilder {
	b.ws.Spec.Storage = &s
	return b
}

// NetworkIsolation sets spec.networkIsolation.
func (b *WorkspaceBuilder) NetworkIsolation(on bool) *WorkspaceBuilder {
	b.ws.Spec.NetworkIsolation = &on
	return b
}

// PodSecurity sets spec.podSecurity.
func (b *WorkspaceBuilder) PodSecurity(l tenancyv1.PodSecurityLevel) *WorkspaceBuilder {
	b.ws.Spec.PodSecurity = l
	return b
}

// Rules adds namespace-scoped rules for the owner.
func (b *WorkspaceBuilder) Rules(rules ...rbacv1.PolicyRule) *WorkspaceBuilder {
	b.ws.Spec.Rules = append(b.ws.Spec.Rules, rules...)
	return b
}

// ClusterRules adds cluster-scoped rules for the owner.
func (b *WorkspaceBuilder) ClusterRules(rules ...rbacv1.PolicyRule) *WorkspaceBuilder {
	b.ws.Spec.ClusterRules = append(b.ws.Spec.ClusterRules, rules...)
	return b
}

// GKEWorkloadIdentity turns on the GKE plugin with the Google service account.
func (b *WorkspaceBuilder) GKEWorkloadIdentity(gcpServiceAccount string) *WorkspaceBuilder {
	b.plugins().GKEWorkloadIdentity = &tenancyv1.GKEWorkloadIdentity{GCPServiceAccount: gcpServiceAccount}
	return b
}

// AWSIAMRole turns on the EKS IRSA plugin with the role.
func (b *WorkspaceBuilder) AWSIAMRole(roleARN string) *WorkspaceBuilder {
	b.plugins().AWSIAMRole = &tenancyv1.AWSIAMRole{RoleARN: roleARN}
	return b
}

func (b *WorkspaceBuilder) plugins() *tenancyv1.Plugins {
	if b.ws.Spec.Plugins == nil {
		b.ws.Spec.Plugins = &tenancyv1.Plugins{}
	}
	return b.ws.Spec.Plugins
}

// Condition sets (or replaces) a status condition as it was last written.
func (b *WorkspaceBuilder) Condition(c metav1.Condition) *WorkspaceBuilder {
	for i := range b.ws.Status.Conditions {
		if b.ws.Status.Conditions[i].Type == c.Type {
			b.ws.Status.Conditions[i] = c
			return b
		}
	}
	b.ws.Status.Conditions = append(b.ws.Status.Conditions, c)
	return b
}

// ClassBuilder builds a WorkspaceClass.
type ClassBuilder struct{ c tenancyv1.WorkspaceClass }

// Class starts a WorkspaceClass named name.
func Class(name string) *ClassBuilder {
	b := &ClassBuilder{}
	b.c.Name = name
	return b
}

// Obj returns a copy of the WorkspaceClass built so far.
func (b *ClassBuilder) Obj() *tenancyv1.WorkspaceClass { return b.c.DeepCopy() }

// Default marks the class as the default one.
func (b *ClassBuilder) Default() *ClassBuilder {
	return b.Annotation(tenancyv1.AnnotationIsDefaultClass, "true")
}

// Annotation sets one annotation.
func (b *ClassBuilder) Annotation(k, v string) *ClassBuilder {
	b.c.Annotations = withEntry(b.c.Annotations, k, v)
	return b
}

// Created sets metadata.creationTimestamp.
func (b *ClassBuilder) Created(t time.Time) *ClassBuilder {
	b.c.CreationTimestamp = metav1.NewTime(t)
	return b
}

// Quota sets one hard quota entry.
func (b *ClassBuilder) Quota(r corev1.ResourceName, q string) *ClassBuilder {
	b.c.Spec.ResourceQuota = withHard(b.c.Spec.ResourceQuota, r, q)
	return b
}

// QuotaScopes sets the quota's scopes.
func (b *ClassBuilder) QuotaScopes(scopes ...corev1.ResourceQuotaScope) *ClassBuilder {
	b.c.Spec.ResourceQuota = withScopes(b.c.Spec.ResourceQuota, scopes)
	return b
}

// DefaultLimit sets one LimitRange default (limit) entry.
func (b *ClassBuilder) DefaultLimit(r corev1.ResourceName, q string) *ClassBuilder {
	b.c.Spec.LimitRange = withLimit(b.c.Spec.LimitRange, func(l *tenancyv1.LimitRangeSpec) *corev1.ResourceList { return &l.Default }, r, q)
	return b
}

// DefaultRequest sets one LimitRange defaultRequest entry.
func (b *ClassBuilder) DefaultRequest(r corev1.ResourceName, q string) *ClassBuilder {
	b.c.Spec.LimitRange = withLimit(b.c.Spec.LimitRange, func(l *tenancyv1.LimitRangeSpec) *corev1.ResourceList { return &l.DefaultRequest }, r, q)
	return b
}

// Max sets one LimitRange max entry.
func (b *ClassBuilder) Max(r corev1.ResourceName, q string) *ClassBuilder {
	b.c.Spec.LimitRange = withLimit(b.c.Spec.LimitRange, func(l *tenancyv1.LimitRangeSpec) *corev1.ResourceList { return &l.Max }, r, q)
	return b
}

// NamespaceLabel adds one label set on every namespace of the class.
func (b *ClassBuilder) NamespaceLabel(k, v string) *ClassBuilder {
	b.c.Spec.NamespaceLabels = withEntry(b.c.Spec.NamespaceLabels, k, v)
	return b
}

// NodeSelector adds one node-selector entry.
func (b *ClassBuilder) NodeSelector(k, v string) *ClassBuilder {
	b.c.Spec.NodeSelector = withEntry(b.c.Spec.NodeSelector, k, v)
	return b
}

// Toleration adds a toleration.
func (b *ClassBuilder) Toleration(t corev1.Toleration) *ClassBuilder {
	b.c.Spec.Tolerations = append(b.c.Spec.Tolerations, t)
	return b
}

// StorageSpec sets the whole storage spec.
func (b *ClassBuilder) StorageSpec(s tenancyv1.StorageSpec) *ClassBuilder {
	b.c.Spec.Storage = &s
	return b
}

// NetworkIsolation sets spec.networkIsolation.
func (b *ClassBuilder) NetworkIsolation(on bool) *ClassBuilder {
	b.c.Spec.NetworkIsolation = &on
	return b
}

// PodSecurity sets spec.podSecurity.
func (b *ClassBuilder) PodSecurity(l tenancyv1.PodSecurityLevel) *ClassBuilder {
	b.c.Spec.PodSecurity = l
	return b
}

func withHard(q *corev1.ResourceQuotaSpec, r corev1.ResourceName, v string) *corev1.ResourceQuotaSpec {
	if q == nil {
		q = &corev1.ResourceQuotaSpec{}
	}
	if q.Hard == nil {
		q.Hard = corev1.ResourceList{}
	}
	q.Hard[r] = resource.MustParse(v)
	return q
}

func withScopes(q *corev1.ResourceQuotaSpec, scopes []corev1.ResourceQuotaScope) *corev1.ResourceQuotaSpec {
	if q == nil {
		q = &corev1.ResourceQuotaSpec{}
	}
	q.Scopes = scopes
	return q
}

func withLimit(l *tenancyv1.LimitRangeSpec, field func(*tenancyv1.LimitRangeSpec) *corev1.ResourceList, r corev1.ResourceName, v string) *tenancyv1.LimitRangeSpec {
	if l == nil {
		l = &tenancyv1.LimitRangeSpec{}
	}
	list := field(l)
	if *list == nil {
		*list = corev1.ResourceList{}
	}
	(*list)[r] = resource.MustParse(v)
	return l
}

func withEntry(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}
