//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

// Shared by the tests of the package, set up once by TestMain.
var (
	cluster *localcluster.Cluster
	admin   client.Client        // system:masters, for fixtures and for reading what the controller did
	adminCS kubernetes.Interface // the same identity, typed clientset
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		// Istio's CRD must be served before the controller first asks
		// discovery for it.
		BeforeController: func(ctx context.Context, e *testenv.Env) error {
			admin, adminCS = e.Admin, e.AdminCS
			return installIstioCRD(ctx)
		},
	}, func(e *testenv.Env) {
		cluster, admin, adminCS = e.Cluster, e.Admin, e.AdminCS
	}))
}

// istioUserHeader is the header `tenancy controller` and `tenancy up` pass.
const istioUserHeader = "kubeflow-userid"

// installIstioCRD installs a minimal authorizationpolicies.security.istio.io
// and waits until discovery serves it.
func installIstioCRD(ctx context.Context) error {
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "authorizationpolicies.security.istio.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "security.istio.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "authorizationpolicies", Singular: "authorizationpolicy",
				Kind: "AuthorizationPolicy", ListKind: "AuthorizationPolicyList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: &preserve},
					},
				}},
			}},
		},
	}
	if err := admin.Create(ctx, crd); err != nil {
		return fmt.Errorf("create Istio CRD: %w", err)
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		res, err := adminCS.Discovery().ServerResourcesForGroupVersion("security.istio.io/v1")
		if err != nil {
			last = err
			return false, nil
		}
		for _, r := range res.APIResources {
			if r.Name == "authorizationpolicies" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("Istio CRD not served: %w (last error: %v)", err, last)
	}
	return nil
}
