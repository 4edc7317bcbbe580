// Package cmdutil is the plumbing every tenancy command shares, in the
// manner of kubectl's: a Factory holding the one set of connection flags
// and handing out clients (replaced by fakes in tests), one error
// translator, one wait engine and one printing path.
package cmdutil

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/scheme"
)

// Factory gives a command its streams and clients. Commands take their
// clients from it in Complete; tests set ClientFunc and ClientsetFunc.
type Factory struct {
	Streams genericiooptions.IOStreams
	// Flags are kubectl's connection flags (--kubeconfig, --context, -n, …),
	// persistent on the root command.
	Flags *genericclioptions.ConfigFlags
	// Self is the command as a person calls it, "tenancy" or "kubectl
	// tenancy", for messages that name a command.
	Self string

	ClientFunc    func() (client.Client, error)
	ClientsetFunc func() (kubernetes.Interface, error)
	Now           func() time.Time
}

// NewFactory returns a Factory connecting as kubectl would with flags.
func NewFactory(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags, self string) *Factory {
	return &Factory{Streams: streams, Flags: flags, Self: self, Now: time.Now}
}

// RESTConfig is the client configuration the flags select.
func (f *Factory) RESTConfig() (*rest.Config, error) {
	cfg, err := f.Flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return cfg, nil
}

// Client is a controller-runtime client with Tenancy's scheme.
func (f *Factory) Client() (client.Client, error) {
	if f.ClientFunc != nil {
		return f.ClientFunc()
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme.New()})
}

// Clientset is a client-go clientset.
func (f *Factory) Clientset() (kubernetes.Interface, error) {
	if f.ClientsetFunc != nil {
		return f.ClientsetFunc()
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Namespace is the namespace of -n, else the kubeconfig context's; explicit
// says whether it was given or set in the context.
func (f *Factory) Namespace() (ns string, explicit bool, err error) {
	if f.Flags.Namespace != nil && *f.Flags.Namespace != "" {
		return *f.Flags.Namespace, true, nil
	}
	loader := f.Flags.ToRawKubeConfigLoader()
	ns, _, err = loader.Namespace()
	if err != nil {
		return "", false, err
	}
	// clientcmd calls only an override explicit; a context that names its
	// namespace is as good.
	raw, err := loader.RawConfig()
	if err != nil {
		return "", false, err
	}
	name := raw.CurrentContext
	if f.Flags.Context != nil && *f.Flags.Context != "" {
		name = *f.Flags.Context
	}
	if c, ok := raw.Contexts[name]; ok && c.Namespace != "" {
		return c.Namespace, true, nil
	}
	return ns, false, nil
}

// WhoAmI asks the API server who the client is (a SelfSubjectReview, which
// every authenticated user may create).
func WhoAmI(ctx context.Context, c client.Client) (authenticationv1.UserInfo, error) {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("find out who you are (SelfSubjectReview): %w", err)
	}
	return r.Status.UserInfo, nil
}
