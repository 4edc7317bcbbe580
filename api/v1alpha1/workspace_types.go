package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ContributorRole is the access a contributor has to a workspace: one of the
// built-in ClusterRoles admin, edit or view.
// +kubebuilder:validation:Enum=admin;edit;view
type ContributorRole string

// Contributor roles.
const (
	RoleAdmin ContributorRole = "admin"
	RoleEdit  ContributorRole = "edit"
	RoleView  ContributorRole = "view"
)

// Contributor is a subject the workspace is shared with, and at what level.
type Contributor struct {
	Subject `json:",inline"`

	// Role is admin, edit or view.
	// +required
	Role ContributorRole `json:"role"`
}

// LimitRangeSpec holds the per-container defaults and bounds that become the
// workspace's LimitRange. Defaults let pods that state no requests or limits
// be admitted under a quota that counts them.
type LimitRangeSpec struct {
	// Default limits for a container that sets none.
	// +optional
	Default corev1.ResourceList `json:"default,omitempty"`
	// DefaultRequest is the requests for a container that sets none.
	// +optional
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`
	// Max is the most one container may set.
	// +optional
	Max corev1.ResourceList `json:"max,omitempty"`
}

// StorageSpec is the shared workspace volume: one PersistentVolumeClaim that
// every pod of the workspace may mount (ReadWriteMany by default, as Plexus
// needs).
type StorageSpec struct {
	// Size of the claim, e.g. "100Gi".
	// +required
	Size resource.Quantity `json:"size"`
	// StorageClassName of the claim; the cluster default when empty.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// AccessModes of the claim; [ReadWriteMany] when empty.
	// +optional
	// +kubebuilder:validation:items:Enum=ReadWriteOnce;ReadOnlyMany;ReadWriteMany;ReadWriteOncePod
	AccessModes []corev1.PersistentVolumeAccessMode `json:"accessModes,omitempty"`
	// MountPath is where every container of every pod in the workspace
	// finds the volume, mounted at admission (MutatingAdmissionPolicy
	// tenancy-workspace-volume); "/workspace" when empty. A pod annotated
	// tenancy.dev/workspace-volume: "false" is left alone.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/') && !self.contains(':')",message="mountPath must be an absolute path without ':'"
	MountPath string `json:"mountPath,omitempty"`
}

// DefaultMountPath is where pods find the workspace volume by default.
const DefaultMountPath = "/workspace"

// OwnerRole names the ClusterRole a workspace's owner is bound to in its
// namespace: admin (the default), edit, workload-manager (Tenancy's
// ClusterRole tenancy:workload-manager: the rights a workload manager such
// as Plexus needs, no RBAC or quota writes), or the name of another
// ClusterRole — which only somebody who may bind it may name.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:XValidation:rule="!self.contains('/') && !self.contains('%') && self.trim() == self",message="ownerRole is a ClusterRole name: no '/', '%' or surrounding spaces"
type OwnerRole string

// Owner roles Tenancy knows by name.
const (
	OwnerRoleAdmin           OwnerRole = "admin"
	OwnerRoleEdit            OwnerRole = "edit"
	OwnerRoleWorkloadManager OwnerRole = "workload-manager"
)

// WorkloadManagerClusterRole is the ClusterRole of OwnerRoleWorkloadManager.
const WorkloadManagerClusterRole = "tenancy:workload-manager"

// ClusterRole is the ClusterRole the owner is bound to.
func (r OwnerRole) ClusterRole() string {
	switch r {
	case "":
		return string(OwnerRoleAdmin)
	case OwnerRoleWorkloadManager:
		return WorkloadManagerClusterRole
	}
	return string(r)
}

// PodSecurityLevel is a Pod Security Standard level enforced on the namespace.
// +kubebuilder:validation:Enum=privileged;baseline;restricted
type PodSecurityLevel string

// Pod security levels.
const (
	PodSecurityPrivileged PodSecurityLevel = "privileged"
	PodSecurityBaseline   PodSecurityLevel = "baseline"
	PodSecurityRestricted PodSecurityLevel = "restricted"
)

// Plugins hold platform integrations, as Kubeflow Profile plugins: each only
// annotates the workspace's default-editor ServiceAccount; no cloud API is
// called.
type Plugins struct {
	// GKEWorkloadIdentity binds default-editor to a Google service account.
	// +optional
	GKEWorkloadIdentity *GKEWorkloadIdentity `json:"gkeWorkloadIdentity,omitempty"`
	// AWSIAMRole lets default-editor assume an AWS IAM role (EKS IRSA).
	// +optional
	AWSIAMRole *AWSIAMRole `json:"awsIamRole,omitempty"`
}

// GKEWorkloadIdentity is the GKE Workload Identity plugin.
type GKEWorkloadIdentity struct {
	// GCPServiceAccount is the Google service account email.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\.iam\.gserviceaccount\.com$`
	GCPServiceAccount string `json:"gcpServiceAccount"`
}

// AWSIAMRole is the EKS IAM-roles-for-service-accounts plugin.
type AWSIAMRole struct {
	// RoleARN is the IAM role, e.g. arn:aws:iam::123456789012:role/ml-team.
	// +required
	// +kubebuilder:validation:Pattern=`^arn:aws[-a-z]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`
	RoleARN string `json:"roleArn"`
}

// WorkspaceSpec is what a workspace should be. Fields left empty take their
// value from the WorkspaceClass; quota and limit-range entries override the
// class's one resource at a time.
//
// +kubebuilder:validation:XValidation:rule="!has(self.contributors) || !has(self.owner) || self.contributors.all(c, !(c.kind == self.owner.kind && c.name == self.owner.name && (!has(c.__namespace__) || !has(self.owner.__namespace__) || c.__namespace__ == self.owner.__namespace__)))",message="the owner cannot also be a contributor: remove them from spec.contributors",fieldPath=".contributors"
type WorkspaceSpec struct {
	// Owner gets OwnerRole (admin by default) in the namespace, plus Rules and
	// ClusterRules. A workspace with no owner is kept but not Ready.
	// +optional
	Owner *Subject `json:"owner,omitempty"`

	// OwnerRole is what the owner may do in the namespace; the class's, or
	// admin, when unset.
	// +optional
	OwnerRole OwnerRole `json:"ownerRole,omitempty"`

	// Contributors the workspace is shared with, each at admin, edit or view.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(c, self.exists_one(d, d.kind == c.kind && d.name == c.name && (!has(d.__namespace__) ? !has(c.__namespace__) : has(c.__namespace__) && d.__namespace__ == c.__namespace__)))",message="each contributor may be listed once"
	Contributors []Contributor `json:"contributors,omitempty"`

	// Class names the WorkspaceClass whose defaults apply; the class marked
	// tenancy.dev/is-default-class when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Class string `json:"class,omitempty"`

	// ResourceQuota of the namespace. Each entry of hard overrides the class's
	// entry for the same resource, e.g. requests.nvidia.com/gpu: 4.
	// +optional
	ResourceQuota *corev1.ResourceQuotaSpec `json:"resourceQuota,omitempty"`

	// LimitRange defaults and bounds per container, over the class's.
	// +optional
	LimitRange *LimitRangeSpec `json:"limitRange,omitempty"`

	// Rules are extra namespace-scoped permissions for the owner (a Role and
	// RoleBinding), like Arena's "roles".
	// +optional
	// +listType=atomic
	Rules []rbacv1.PolicyRule `json:"rules,omitempty"`

	// ClusterRules are extra cluster-scoped permissions for the owner (a
	// ClusterRole and ClusterRoleBinding), like Arena's "clusterRoles".
	// +optional
	// +listType=atomic
	ClusterRules []rbacv1.PolicyRule `json:"clusterRules,omitempty"`

	// NodeSelector pins the workspace's pods to a node pool (enforced by the
	// PodNodeSelector admission plugin where the cluster enables it).
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations added to the workspace's pods (PodTolerationRestriction).
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Storage is the shared workspace volume.
	// +optional
	Storage *StorageSpec `json:"storage,omitempty"`

	// NetworkIsolation, when true, admits traffic to the workspace's pods
	// only from pods of the same workspace.
	// +optional
	NetworkIsolation *bool `json:"networkIsolation,omitempty"`

	// PodSecurity is the Pod Security Standard enforced in the namespace.
	// +optional
	PodSecurity PodSecurityLevel `json:"podSecurity,omitempty"`

	// Plugins are platform integrations.
	// +optional
	Plugins *Plugins `json:"plugins,omitempty"`
}

// QuotaStatus mirrors the ResourceQuota's status.
type QuotaStatus struct {
	// Hard is the enforced quota.
	// +optional
	Hard corev1.ResourceList `json:"hard,omitempty"`
	// Used is what the namespace uses now.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`
}

// WorkspaceStatus is what the controller observed.
type WorkspaceStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Namespace of the workspace, once created.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Class that was applied (the default class when spec.class is empty).
	// +optional
	Class string `json:"class,omitempty"`

	// NodeSelector is the node pool the workspace's pods run on (the
	// workspace's or its class's), e.g. tenancy.dev/pool: gpu.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// OwnerRole is the ClusterRole the owner is bound to in the namespace.
	// +optional
	OwnerRole string `json:"ownerRole,omitempty"`

	// Conditions: Ready, and one per managed part.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Quota mirrors the namespace's ResourceQuota.
	// +optional
	Quota *QuotaStatus `json:"quota,omitempty"`

	// GPUs is "used/hard" of requests.nvidia.com/gpu, for kubectl get.
	// +optional
	GPUs string `json:"gpus,omitempty"`
}

// Workspace is an isolated namespace for a user or team, with its quota,
// RBAC, credentials and sharing. Its name is the namespace's name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ws,categories=tenancy
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.spec.owner.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="GPUs",type=string,JSONPath=`.status.gpus`,description="requests.nvidia.com/gpu used/hard"
// +kubebuilder:printcolumn:name="Class",type=string,JSONPath=`.status.class`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63",message="a workspace name becomes a namespace name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
// +kubebuilder:validation:XValidation:rule="!(self.metadata.name in ['default', 'kube-system', 'kube-public', 'kube-node-lease', 'tenancy-system']) && !self.metadata.name.startsWith('kube-') && !self.metadata.name.startsWith('openshift-')",message="this name is reserved for the system: choose another workspace name"
type Workspace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec WorkspaceSpec `json:"spec,omitempty"`
	// +optional
	Status WorkspaceStatus `json:"status,omitempty"`
}

// WorkspaceList is a list of Workspaces.
//
// +kubebuilder:object:root=true
type WorkspaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workspace `json:"items"`
}

// WorkspaceClassSpec holds the admin's defaults for the workspaces of a class.
type WorkspaceClassSpec struct {
	// ResourceQuota each workspace of the class gets unless it overrides it.
	// +optional
	ResourceQuota *corev1.ResourceQuotaSpec `json:"resourceQuota,omitempty"`

	// LimitRange defaults and bounds per container.
	// +optional
	LimitRange *LimitRangeSpec `json:"limitRange,omitempty"`

	// NamespaceLabels are set on each workspace namespace. Keys under
	// tenancy.dev/ and pod-security.kubernetes.io/ are Tenancy's own.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('tenancy.dev/') && !k.startsWith('pod-security.kubernetes.io/') && k != 'app.kubernetes.io/managed-by' && k != 'kubernetes.io/metadata.name')",message="labels under tenancy.dev/ and pod-security.kubernetes.io/, app.kubernetes.io/managed-by and kubernetes.io/metadata.name are set by Tenancy itself"
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`

	// NodeSelector pins pods to a node pool.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations added to pods.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Storage is the shared workspace volume.
	// +optional
	Storage *StorageSpec `json:"storage,omitempty"`

	// NetworkIsolation of each workspace; true when unset.
	// +optional
	NetworkIsolation *bool `json:"networkIsolation,omitempty"`

	// PodSecurity level enforced; baseline when unset.
	// +optional
	PodSecurity PodSecurityLevel `json:"podSecurity,omitempty"`

	// OwnerRole is what each workspace's owner may do in its namespace;
	// admin when unset.
	// +optional
	OwnerRole OwnerRole `json:"ownerRole,omitempty"`

	// MaxWorkspacesPerOwner bounds how many workspaces one owner may create
	// for themselves with this class (self-serve), counting every workspace
	// they own, those an admin made for them included. A self-serve
	// workspace past the limit is not provisioned and says why. 10 when
	// unset; 0 means no limit. Workspaces a Tenancy admin creates for
	// somebody else are never held back.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxWorkspacesPerOwner *int32 `json:"maxWorkspacesPerOwner,omitempty"`

	// WorkspaceNamePattern is a regular expression (RE2) every self-serve
	// workspace of this class must match in full, e.g. "^team-[a-z0-9-]+$".
	// Tenancy admins are not bound by it.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	WorkspaceNamePattern string `json:"workspaceNamePattern,omitempty"`

	// Jobs are the defaults of Tenancy jobs (tenancy job submit, the REST
	// API, the Flux protocol, the web UI) in the class's workspaces.
	// +optional
	Jobs *JobDefaults `json:"jobs,omitempty"`
}

// JobDefaults are a class's defaults for the jobs submitted in its
// workspaces.
type JobDefaults struct {
	// Image of a job that names none; busybox when unset. (Local process
	// nodes run the command as it is, whatever the image.)
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self.trim() == self && self != ''",message="image must be an image reference without surrounding spaces, e.g. python:3.12"
	Image string `json:"image,omitempty"`

	// TTLSecondsAfterFinished deletes a job, with its pods and their logs,
	// this long after it finished: succeeded, failed or cancelled. Jobs
	// are kept until deleted when unset.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
}

// DefaultMaxWorkspacesPerOwner applies where a class sets no
// MaxWorkspacesPerOwner.
const DefaultMaxWorkspacesPerOwner = 10

// MaxWorkspaces is the class's per-owner limit; 0 means none.
func (c *WorkspaceClass) MaxWorkspaces() int {
	if c == nil || c.Spec.MaxWorkspacesPerOwner == nil {
		return DefaultMaxWorkspacesPerOwner
	}
	return int(*c.Spec.MaxWorkspacesPerOwner)
}

// WorkspaceClass holds admin defaults for workspaces, in the StorageClass
// style: the class annotated tenancy.dev/is-default-class: "true" applies to
// workspaces that name none.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=wsclass,categories=tenancy
// +kubebuilder:printcolumn:name="Default",type=string,JSONPath=`.metadata.annotations.tenancy\.dev/is-default-class`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WorkspaceClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec WorkspaceClassSpec `json:"spec,omitempty"`
}

// WorkspaceClassList is a list of WorkspaceClasses.
//
// +kubebuilder:object:root=true
type WorkspaceClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WorkspaceClass `json:"items"`
}

func init() {
	register(&Workspace{}, &WorkspaceList{}, &WorkspaceClass{}, &WorkspaceClassList{})
}
