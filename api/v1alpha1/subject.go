package v1alpha1

import rbacv1 "k8s.io/api/rbac/v1"

// SubjectKind is the kind of an RBAC subject.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type SubjectKind string

// Subject kinds, as in rbac.authorization.k8s.io/v1.
const (
	UserKind           SubjectKind = rbacv1.UserKind
	GroupKind          SubjectKind = rbacv1.GroupKind
	ServiceAccountKind SubjectKind = rbacv1.ServiceAccountKind
)

// Subject is the identity of a person, a group or a ServiceAccount, in the
// shape of an rbac.authorization.k8s.io/v1 Subject (so Kubeflow Profile
// owners paste in unchanged), with the checks RBAC itself does not make.
//
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.__namespace__) && size(self.__namespace__) > 0 : !has(self.__namespace__) || size(self.__namespace__) == 0",message="namespace is required for a ServiceAccount subject and not allowed for User or Group"
// +kubebuilder:validation:XValidation:rule="self.kind != 'ServiceAccount' || self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="a ServiceAccount name must be a DNS subdomain (lowercase letters, digits, '-' and '.')"
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? (!has(self.apiGroup) || size(self.apiGroup) == 0) : (!has(self.apiGroup) || self.apiGroup == 'rbac.authorization.k8s.io')",message="apiGroup must be rbac.authorization.k8s.io (or empty) for User and Group, and empty for ServiceAccount"
type Subject struct {
	// Kind is User, Group or ServiceAccount.
	// +required
	Kind SubjectKind `json:"kind"`

	// APIGroup may be given as in rbac/v1; it is filled in by Tenancy.
	// +optional
	APIGroup string `json:"apiGroup,omitempty"`

	// Name is the user, group or ServiceAccount name as the API server
	// authenticates it. It may not contain '/', '%' or ':' (reserved for
	// system identities) and may not start with "system:".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!self.contains('/') && !self.contains('%') && !self.contains(':') && self.trim() == self",message="name may not contain '/', '%' or ':', nor begin or end with spaces"
	Name string `json:"name"`

	// Namespace of a ServiceAccount subject.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// RBAC returns the subject as an rbac/v1 Subject with its apiGroup set.
func (s Subject) RBAC() rbacv1.Subject {
	out := rbacv1.Subject{Kind: string(s.Kind), Name: s.Name}
	switch s.Kind {
	case ServiceAccountKind:
		out.Namespace = s.Namespace
	default:
		out.APIGroup = rbacv1.GroupName
	}
	return out
}

// String is kind/name, or ServiceAccount/namespace/name.
func (s Subject) String() string {
	if s.Kind == ServiceAccountKind {
		return string(s.Kind) + "/" + s.Namespace + "/" + s.Name
	}
	return string(s.Kind) + "/" + s.Name
}
