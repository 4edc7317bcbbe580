// Package clitest runs tenancy commands in process against a fake
// cluster, for the commands' unit tests: the output they compare is what a
// person sees.
package clitest

import (
	"bytes"
	"context"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/scheme"
)

// Env is a fake cluster and the streams of the commands run against it.
type Env struct {
	Factory  *cmdutil.Factory
	Client   client.Client
	Out, Err *bytes.Buffer
	// Calls counts the requests the commands made.
	Calls int
}

// New is a fake cluster holding objs, where the caller is user (member of
// groups).
func New(user string, groups []string, objs ...client.Object) *Env {
	e := &Env{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	count := func() { e.Calls++ }
	e.Client = fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).
		WithStatusSubresource(&tenancyv1.Workspace{}, &tenancyv1.User{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				count()
				if r, ok := obj.(*authenticationv1.SelfSubjectReview); ok {
					r.Status.UserInfo = authenticationv1.UserInfo{Username: user, Groups: groups}
					return nil
				}
				return c.Create(ctx, obj, opts...)
			},
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				count()
				return c.Get(ctx, key, obj, opts...)
			},
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				count()
				return c.List(ctx, list, opts...)
			},
		}).Build()
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: e.Out, ErrOut: e.Err}
	e.Factory = cmdutil.NewFactory(streams, genericclioptions.NewConfigFlags(false), "tenancy")
	e.Factory.ClientFunc = func() (client.Client, error) { return e.Client, nil }
	e.Factory.ClientsetFunc = func() (kubernetes.Interface, error) { return kubefake.NewClientset(), nil }
	e.Factory.Now = func() time.Time { return Now }
	return e
}

// Now is the time of the fake cluster.
var Now = time.Now()
