// Package config embeds the generated manifests (CRDs, the controller's
// ClusterRole) so the tenancy binary can install them into any cluster.
package config

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

//go:embed crd/*.yaml
var crds embed.FS

// ControllerRole is the RBAC the controller needs, generated from the RBAC
// markers of internal/controller: a ClusterRole and namespaced Roles, all
// named tenancy-controller (see ControllerRoles).
//
//go:embed rbac/role.yaml
var ControllerRole []byte

// ServerRBAC is the ClusterRole and the Role (in tenancy-system) that
// `tenancy serve`'s own identity needs, both named tenancy-server.
//
//go:embed rbac/server_role.yaml
var ServerRBAC []byte

// CRDs returns the CustomResourceDefinition manifests, one YAML document each.
func CRDs() ([][]byte, error) {
	entries, err := fs.ReadDir(crds, "crd")
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range entries {
		b, err := crds.ReadFile("crd/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// ControllerRoles decodes rbac/role.yaml: the controller's ClusterRole and
// the Roles it needs in single namespaces (the leader election Lease).
func ControllerRoles() (*rbacv1.ClusterRole, []rbacv1.Role, error) {
	var cr *rbacv1.ClusterRole
	var roles []rbacv1.Role
	for doc := range strings.SplitSeq(string(ControllerRole), "\n---\n") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, nil, fmt.Errorf("decode config/rbac/role.yaml: %w", err)
		}
		switch tm.Kind {
		case "ClusterRole":
			cr = &rbacv1.ClusterRole{}
			if err := yaml.UnmarshalStrict([]byte(doc), cr); err != nil {
				return nil, nil, fmt.Errorf("decode config/rbac/role.yaml: %w", err)
			}
		case "Role":
			var r rbacv1.Role
			if err := yaml.UnmarshalStrict([]byte(doc), &r); err != nil {
				return nil, nil, fmt.Errorf("decode config/rbac/role.yaml: %w", err)
			}
			roles = append(roles, r)
		default:
			return nil, nil, fmt.Errorf("config/rbac/role.yaml: unexpected kind %q", tm.Kind)
		}
	}
	if cr == nil {
		return nil, nil, errors.New("config/rbac/role.yaml has no ClusterRole")
	}
	return cr, roles, nil
}
