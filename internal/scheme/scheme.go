// Package scheme holds the one runtime.Scheme of Tenancy's clients: the
// Kubernetes built-in kinds, Tenancy's and CustomResourceDefinitions. It
// lives apart from the controller so that the CLI and the server need not
// import it.
package scheme

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// New returns a scheme that knows the Kubernetes built-in types,
// Tenancy's and CustomResourceDefinitions.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(tenancyv1.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	return s
}
