package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition types of a Workspace: Ready sums up the others.
const (
	ConditionReady     = "Ready"
	ConditionNamespace = "NamespaceReady"
	ConditionRBAC      = "RBACReady"
	ConditionQuota     = "QuotaReady"
	ConditionNetwork   = "NetworkReady"
	ConditionStorage   = "StorageReady"
	ConditionIstio     = "IstioReady"
	ConditionPlugins   = "PluginsReady"
	// ConditionAdmissionDefaults says whether the cluster sets Tenancy's
	// defaults at admission (MutatingAdmissionPolicy); informational, not
	// part of Ready.
	ConditionAdmissionDefaults = "AdmissionDefaults"
	// ConditionPodsReady says whether pods can start in the workspace: its
	// namespace's default ServiceAccount, which kube-controller-manager
	// makes some time after the namespace (minutes under a burst), exists.
	// Informational, not part of Ready: Ready is what Tenancy made.
	ConditionPodsReady = "PodsReady"
)

// Condition reasons.
const (
	ReasonReconciled        = "Reconciled"
	ReasonNamespaceConflict = "NamespaceConflict"
	ReasonApplyFailed       = "ApplyFailed"
	ReasonClassNotFound     = "ClassNotFound"
	ReasonNoOwner           = "NoOwner"
	ReasonNotRequested      = "NotRequested"
	ReasonNotInstalled      = "NotInstalled"
	ReasonPartsNotReady     = "PartsNotReady"
	ReasonTerminating       = "Terminating"
	// ReasonOwnerLimitExceeded: a self-serve workspace past its class's
	// MaxWorkspacesPerOwner, not provisioned.
	ReasonOwnerLimitExceeded = "OwnerLimitExceeded"
	// ReasonMutatingPolicyUnavailable: the cluster serves no
	// MutatingAdmissionPolicy; the controller falls back.
	ReasonMutatingPolicyUnavailable = "MutatingAdmissionPolicyUnavailable"
	// ReasonServiceAccountMissing: the namespace has no default
	// ServiceAccount yet, so the API server refuses pods.
	ReasonServiceAccountMissing = "DefaultServiceAccountMissing"
)

// Condition reads a Workspace condition, or nil.
func (ws *Workspace) Condition(t string) *metav1.Condition {
	for i := range ws.Status.Conditions {
		if ws.Status.Conditions[i].Type == t {
			return &ws.Status.Conditions[i]
		}
	}
	return nil
}
