package user

import (
	"bytes"
	"fmt"
	"io"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/userconfig"
)

// userLabels mark what `tenancy user add` made for user.
func userLabels(user string) map[string]string {
	return map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelUser: user}
}

// desiredUser is the User `tenancy user add` declares.
func desiredUser(name string, groups []string) *tenancyv1.User {
	u := &tenancyv1.User{Spec: tenancyv1.UserSpec{Groups: groups, PasswordSecret: passwords.SecretName(name)}}
	u.APIVersion, u.Kind = tenancyv1.GroupVersion.String(), "User"
	u.Name = name
	u.Labels = userLabels(name)
	return u
}

// desiredUserWorkspace is the Workspace `tenancy user add` declares for owner:
// its namespace name, class, and what the user file says.
func desiredUserWorkspace(name, owner, class string, cfg *userconfig.Config) *tenancyv1.Workspace {
	ws := &tenancyv1.Workspace{}
	ws.APIVersion, ws.Kind = tenancyv1.GroupVersion.String(), "Workspace"
	ws.Name = name
	ws.Labels = userLabels(owner)
	setUserWorkspaceSpec(&ws.Spec, owner, class, cfg)
	return ws
}

// setUserWorkspaceSpec sets the fields `tenancy user add` owns; the others
// (storage, node pool, plugins, …) are left as an admin set them.
func setUserWorkspaceSpec(s *tenancyv1.WorkspaceSpec, owner, class string, cfg *userconfig.Config) {
	s.Owner = &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: owner}
	s.Class = class
	s.ResourceQuota = nil
	if len(cfg.Quota) > 0 {
		s.ResourceQuota = &corev1.ResourceQuotaSpec{Hard: cfg.Quota.DeepCopy()}
	}
	s.LimitRange = cfg.LimitRange.DeepCopy()
	s.Rules = cfg.Roles
	s.ClusterRules = cfg.ClusterRoles
	s.OwnerRole = cfg.OwnerRole
	s.Contributors = cfg.Contributors
}

// userMergeLabels returns labels with add set over them.
func userMergeLabels(labels, add map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+len(add))
	maps.Copy(out, labels)
	maps.Copy(out, add)
	return out
}

// userWriteManifests prints objs as a multi-document YAML that `kubectl apply
// -f` accepts: no status, no server-set metadata.
func userWriteManifests(out io.Writer, scheme *runtime.Scheme, objs ...client.Object) error {
	var buf bytes.Buffer
	for _, obj := range objs {
		gvk, _, err := scheme.ObjectKinds(obj)
		if err != nil || len(gvk) == 0 {
			return fmt.Errorf("kind of %T: %w", obj, err)
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		u["apiVersion"], u["kind"] = gvk[0].GroupVersion().String(), gvk[0].Kind
		delete(u, "status")
		if md, ok := u["metadata"].(map[string]any); ok {
			for _, k := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"} {
				delete(md, k)
			}
			if ann, ok := md["annotations"].(map[string]any); ok {
				delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
				if len(ann) == 0 {
					delete(md, "annotations")
				}
			}
		}
		data, err := yaml.Marshal(u)
		if err != nil {
			return err
		}
		buf.WriteString("---\n")
		buf.Write(data)
	}
	_, err := out.Write(buf.Bytes())
	return err
}
