package workspace

import tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"

// Annotations the cloud platforms read on a ServiceAccount.
const (
	annotationGKEServiceAccount = "iam.gke.io/gcp-service-account"
	annotationEKSRoleARN        = "eks.amazonaws.com/role-arn"
)

// pluginAnnotations are the annotations the plugins put on default-editor.
// No cloud API is called: binding the cloud side stays with the platform.
func pluginAnnotations(p *tenancyv1.Plugins) map[string]string {
	if p == nil {
		return nil
	}
	out := map[string]string{}
	if p.GKEWorkloadIdentity != nil {
		out[annotationGKEServiceAccount] = p.GKEWorkloadIdentity.GCPServiceAccount
	}
	if p.AWSIAMRole != nil {
		out[annotationEKSRoleARN] = p.AWSIAMRole.RoleARN
	}
	return out
}
