package workspace

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
)

// DiscoveryIstio finds out from API discovery whether Istio's
// AuthorizationPolicy is served, asking at most once per TTL.
type DiscoveryIstio struct {
	disc discovery.DiscoveryInterface
	ttl  time.Duration
	now  func() time.Time

	mu        sync.Mutex
	checked   time.Time
	installed bool
}

// NewDiscoveryIstio returns a detector asking disc at most once per ttl.
func NewDiscoveryIstio(disc discovery.DiscoveryInterface, ttl time.Duration) *DiscoveryIstio {
	return &DiscoveryIstio{disc: disc, ttl: ttl, now: time.Now}
}

// Installed reports whether security.istio.io/v1 authorizationpolicies is served.
func (d *DiscoveryIstio) Installed(context.Context) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.checked.IsZero() && d.now().Sub(d.checked) < d.ttl {
		return d.installed
	}
	res, err := d.disc.ServerResourcesForGroupVersion("security.istio.io/v1")
	switch {
	case err == nil:
		d.installed = false
		for _, r := range res.APIResources {
			if r.Name == "authorizationpolicies" {
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
