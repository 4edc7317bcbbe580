// Package install puts Tenancy into a cluster and takes it out again: the
// CRDs and admission policies, the controller's and the server's
// Deployments (Render, Apply, Uninstall), and the objects `tenancy up`
// starts a demo with.
package install

import (
	"context"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenancy-dev/tenancy/config"
)

// FieldManager is the field manager of objects applied by the installer.
const FieldManager = "tenancy-install"

// CRDs server-side applies Tenancy's CustomResourceDefinitions and waits
// until the API server serves them.
func CRDs(ctx context.Context, c client.Client) error {
	docs, err := config.CRDs()
	if err != nil {
		return err
	}
	var names []string
	for _, doc := range docs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, crd); err != nil {
			return fmt.Errorf("decode embedded CRD: %w", err)
		}
		crd.APIVersion, crd.Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
		crd.ManagedFields = nil
		//nolint:staticcheck // Patch with client.Apply is the typed-object form of server-side apply.
		if err := c.Patch(ctx, crd, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.Name, err)
		}
		names = append(names, crd.Name)
	}
	return waitEstablished(ctx, c, names)
}
