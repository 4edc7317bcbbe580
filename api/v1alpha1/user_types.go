package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CredentialKind is how a kubeconfig authenticates.
// +kubebuilder:validation:Enum=cert;token
type CredentialKind string

// Credential kinds.
const (
	// CredentialCert is an X.509 client certificate issued through the
	// CertificateSigningRequest API (signer kubernetes.io/kube-apiserver-client).
	CredentialCert CredentialKind = "cert"
	// CredentialToken is a ServiceAccount token from the TokenRequest API.
	CredentialToken CredentialKind = "token"
)

// UserSpec is a person known to Tenancy.
type UserSpec struct {
	// Groups the user belongs to; client certificates carry them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="!self.startsWith('system:') && !self.contains('/') && !self.contains('%')",message="a group may not start with 'system:' nor contain '/' or '%'"
	Groups []string `json:"groups,omitempty"`

	// Disabled users keep their declarations but lose every binding, so
	// their credentials stop working at once.
	// +optional
	Disabled bool `json:"disabled,omitempty"`

	// PasswordSecret names the Secret in the system namespace that holds the
	// user's argon2id password hash, for the REST API and web UI.
	// +optional
	PasswordSecret string `json:"passwordSecret,omitempty"`
}

// IssuedCredential records a credential issued to the user (never the
// secret itself).
type IssuedCredential struct {
	// Kind is cert or token.
	Kind CredentialKind `json:"kind"`
	// ID is the certificate's serial number, or the token's ServiceAccount
	// namespace/name.
	ID string `json:"id"`
	// IssuedAt is when the credential was made.
	IssuedAt metav1.Time `json:"issuedAt"`
	// ExpiresAt is when the API server stops accepting it.
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// ServiceAccountRef names a ServiceAccount.
type ServiceAccountRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// UserStatus records credentials issued to the user.
type UserStatus struct {
	// Credentials issued, newest last.
	// +optional
	// +listType=atomic
	Credentials []IssuedCredential `json:"credentials,omitempty"`

	// ServiceAccount that token credentials are issued for. The controller
	// binds it wherever the user is bound.
	// +optional
	ServiceAccount *ServiceAccountRef `json:"serviceAccount,omitempty"`
}

// User is a person known to Tenancy; RBAC names it as User <name>.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=tenancy
// +kubebuilder:printcolumn:name="Groups",type=string,JSONPath=`.spec.groups`
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$') && size(self.metadata.name) <= 63",message="a user name must be at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
type User struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec UserSpec `json:"spec,omitempty"`
	// +optional
	Status UserStatus `json:"status,omitempty"`
}

// UserList is a list of Users.
//
// +kubebuilder:object:root=true
type UserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []User `json:"items"`
}

func init() {
	register(&User{}, &UserList{})
}
