package workspace

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
)

// Discovery finds out from API discovery whether a resource is served
// (Istio's AuthorizationPolicy, MutatingAdmissionPolicy), asking at most
// once per TTL.
type Discovery struct {
	disc         discovery.DiscoveryInterface
	groupVersion string
	resource     string
	ttl          time.Duration
	now          func() time.Time

	mu        sync.Mutex
	checked   time.Time
	installed bool
}

// NewDiscoveryIstio returns a detector of Istio's AuthorizationPolicy
// asking disc at most once per ttl.
func NewDiscoveryIstio(disc discovery.DiscoveryInterface, ttl time.Duration) *Discovery {
	return &Discovery{disc: disc, groupVersion: "security.istio.io/v1", resource: "authorizationpolicies", ttl: ttl, now: time.Now}
}

// NewDiscoveryMutatingPolicies returns a detector of
// admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (Kubernetes 1.36
// on), asking disc at most once per ttl.
func NewDiscoveryMutatingPolicies(disc discovery.DiscoveryInterface, ttl time.Duration) *Discovery {
	return &Discovery{disc: disc, groupVersion: "admissionregistration.k8s.io/v1", resource: "mutatingadmissionpolicies", ttl: ttl, now: time.Now}
}

// Installed reports whether the resource is served.
func (d *Discovery) Installed(context.Context) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.checked.IsZero() && d.now().Sub(d.checked) < d.ttl {
		return d.installed
	}
	res, err := d.disc.ServerResourcesForGroupVersion(d.groupVersion)
	switch {
	case err == nil:
		d.installed = false
		for _, r := range res.APIResources {
			if r.Name == d.resource {
				d.installed = true
			}
		}
	case apierrors.IsNotFound(err):
		d.installed = false
	default:
		return d.installed // keep the last answer on a passing error, and ask again next time
	}
	d.checked = d.now()
	return d.installed
}
