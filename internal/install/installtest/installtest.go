// Package installtest helps the tests of `tenancy install` and `tenancy
// uninstall` look at a cluster as a whole.
package installtest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// Labelled lists every object of every kind the API server serves (not
// only the kinds install knows) that carries the labels of selector, as
// "Kind namespace/name". It asks discovery, so a kind install started
// making and uninstall forgot is found too.
func Labelled(ctx context.Context, cfg *rest.Config, selector string) ([]string, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{} // deprecated kinds, listed on purpose
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	lists, err := discovery.ServerPreferredResources(disc)
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	var out []string
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !contains(r.Verbs, "list") {
				continue
			}
			objs, err := md.Resource(gv.WithResource(r.Name)).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", r.Name, err)
			}
			for _, o := range objs.Items {
				name := o.Name
				if o.Namespace != "" {
					name = o.Namespace + "/" + o.Name
				}
				out = append(out, r.Kind+" "+name)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func contains(list []string, s string) bool {
	return slices.Contains(list, s)
}
