// Package config embeds the generated manifests (CRDs) so the tenancy
// binary can install them into any cluster.
package config

import (
	"embed"
	"io/fs"
)

//go:embed crd/*.yaml
var crds embed.FS

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
