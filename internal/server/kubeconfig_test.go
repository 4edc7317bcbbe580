//go:build integration

package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/credentials"
)

func TestDownloadKubeconfig(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "kc-ann")
	ctx := context.Background()
	sa, _, err := credentials.EnsureServiceAccount(ctx, env.AdminCS, "kc-ann")
	if err != nil {
		t.Fatal(err)
	}
	u := &tenancyv1.User{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: "kc-ann"}, u); err != nil {
		t.Fatal(err)
	}
	u.Status.ServiceAccount = &sa
	if err := env.Admin.Status().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	workspace(t, "kc-anns", "kc-ann")
	tok := s.login(t, "kc-ann", pw)

	var raw []byte
	eventually(t, 10*time.Second, "kubeconfig", func() (bool, string) {
		r := s.call(t, "GET", "/account/kubeconfig", tok, nil)
		raw = r.Body
		return r.Status == 200 && strings.Contains(r.Header.Get("Content-Disposition"), "kc-ann.kubeconfig"), string(r.Body)
	})
	cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	kc, _ := clientcmd.Load(raw)
	if ns := kc.Contexts[kc.CurrentContext].Namespace; ns != "kc-anns" {
		t.Fatalf("namespace %q", ns)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The token works in the user's workspace (once the controller has
	// bound the ServiceAccount there) and nowhere else.
	eventually(t, 30*time.Second, "kubectl get pods with the downloaded kubeconfig", func() (bool, string) {
		_, err := cs.CoreV1().Pods("kc-anns").List(ctx, metav1.ListOptions{})
		return err == nil, errString(err)
	})
	if _, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("the downloaded kubeconfig reads kube-system")
	}

	// Without a token ServiceAccount: the page says what to do.
	pw2 := addUser(t, "kc-bo")
	r := s.call(t, "GET", "/account/kubeconfig", s.login(t, "kc-bo", pw2), nil).want(t, 409)
	if !strings.Contains(string(r.Body), "tenancy user kubeconfig kc-bo --credential token") {
		t.Fatalf("no hint: %s", r.Body)
	}
}
