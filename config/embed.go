// Package config embeds the generated manifests (CRDs, the controller's
// ClusterRole) so the tenancy binary can install them into any cluster.
package config

import (
	"embed"
	"io/fs"
)

//go:embed crd/*.yaml
var crds embed.FS

// ControllerRole is the ClusterRole the controller needs, generated from
// the RBAC markers of internal/controller (named tenancy-controller).
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
