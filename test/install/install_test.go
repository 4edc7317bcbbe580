//go:build integration

// Package install_test installs Tenancy with the built binary as a cluster
// admin would: over the manifests of an earlier release (an upgrade), then
// checks that what `install --dry-run -o yaml` prints is what `install`
// applied, and that `uninstall` leaves nothing. Its nodes are simulated
// (kwok): the pods of the Deployments are marked running without running;
// the controller runs in this process instead, as the installed
// ServiceAccount, so that its RBAC is proved too. test/install/incluster
// runs the pods for real.
package install_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/install/installtest"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{Nodes: localcluster.SimulatedNodes(2), NoController: true, Binary: true}, func(e *testenv.Env) { env = e }))
}

// fixtures are the rendered manifests of earlier releases: every release
// keeps its own, and this test upgrades from each.
var fixtures = []string{"install-v0.1.0.yaml"}

const image = "example.com/tenancy:test"

func tenancy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Tenancy(), append([]string{"--kubeconfig", env.Cluster.AdminKubeconfig()}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func decodeYAML(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// applyFixture applies an earlier release's manifests as its `tenancy
// install` did: server-side, as the installer's field manager.
func applyFixture(t *testing.T, name string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range decodeYAML(t, data) {
		//nolint:staticcheck // Patch with client.Apply is the unstructured form of server-side apply.
		if err := env.Admin.Patch(t.Context(), u, client.Apply, client.FieldOwner(install.FieldManager), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s %s of %s: %v", u.GetKind(), u.GetName(), name, err)
		}
	}
}

// runController runs the controller in this process as the installed
// ServiceAccount tenancy-controller, with leader election in
// tenancy-system: what the pods of the Deployment would do.
func runController(t *testing.T) func() {
	t.Helper()
	tr, err := env.AdminCS.CoreV1().ServiceAccounts(install.SystemNamespace).CreateToken(t.Context(), install.ControllerName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	admin := env.Cluster.Config()
	cfg := &rest.Config{Host: admin.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}}
	logFile, err := os.Create(filepath.Join(env.Cluster.LogDir(), "tenancy-controller.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	logger := zap.New(zap.WriteTo(logFile), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)
	mgr, err := controller.NewManager(cfg, controller.Options{Concurrency: 4, MetricsAddr: "0", ProbeAddr: "0",
		LeaderElection: true, LeaderNamespace: install.LeaseNamespace, IstioUserHeader: "kubeflow-userid"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Logf("controller: %v", err)
			}
		})
	}
}

// snapshot is what an upgrade must keep: every workspace, class, user
// and credential, with its UID and content, and the workspaces' namespaces.
func snapshot(t *testing.T) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	wss := &tenancyv1.WorkspaceList{}
	if err := env.Admin.List(ctx, wss); err != nil {
		t.Fatal(err)
	}
	for _, ws := range wss.Items {
		out["Workspace "+ws.Name] = fmt.Sprintf("%s %d %s", ws.UID, ws.Generation, js(t, ws.Spec))
		ns := &corev1.Namespace{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: ws.Status.Namespace}, ns); err != nil {
			t.Fatal(err)
		}
		out["Namespace "+ns.Name] = string(ns.UID)
	}
	users := &tenancyv1.UserList{}
	if err := env.Admin.List(ctx, users); err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Items {
		out["User "+u.Name] = fmt.Sprintf("%s %s", u.UID, js(t, u.Spec))
	}
	classes := &tenancyv1.WorkspaceClassList{}
	if err := env.Admin.List(ctx, classes); err != nil {
		t.Fatal(err)
	}
	for _, c := range classes.Items {
		out["WorkspaceClass "+c.Name] = fmt.Sprintf("%s %s", c.UID, js(t, c.Spec))
	}
	secrets := &corev1.SecretList{}
	if err := env.Admin.List(ctx, secrets, client.InNamespace(install.SystemNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h := sha256.New()
		for _, k := range keys {
			fmt.Fprintf(h, "%s=%x;", k, s.Data[k])
		}
		out["Secret "+s.Name] = fmt.Sprintf("%s %x", s.UID, h.Sum(nil))
	}
	return out
}

// subset says where want (rendered) differs from got (live): every field
// rendered must be live with the same value; the API server may add more.
func subset(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var out []string
		for k, wv := range w {
			out = append(out, subset(path+"."+k, wv, g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items, got %v", path, len(w), got)}
		}
		var out []string
		for i := range w {
			out = append(out, subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		// YAML decodes 31536000 as a float, the API server's JSON as an int.
		if wn, ok := number(want); ok {
			if gn, ok := number(got); ok && wn == gn {
				return nil
			}
		}
		if !reflect.DeepEqual(want, got) && fmt.Sprint(want) != fmt.Sprint(got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

// number is v as a float64 when it is a JSON number of either kind.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func TestUpgradeDryRunUninstall(t *testing.T) {
	ctx := t.Context()
	fixture := fixtures[len(fixtures)-1]
	applyFixture(t, fixture)
	if err := install.WaitAvailable(ctx, env.Admin, 2*time.Minute, install.ControllerName, install.ServerName); err != nil {
		t.Fatal(err)
	}
	stop := runController(t)
	defer stop()

	// What people made under the earlier release.
	objs := []client.Object{install.DefaultClass()}
	for _, u := range install.DemoUsers() {
		objs = append(objs, u)
	}
	for _, ws := range install.DemoWorkspaces() {
		objs = append(objs, ws)
	}
	if err := install.CreateIfMissing(ctx, env.Admin, objs...); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Minute, "the demo workspaces Ready", func(ctx context.Context) error {
		for _, name := range []string{"workplace1", "workplace2", "workplace3"} {
			ws := &tenancyv1.Workspace{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
				return err
			}
			if c := ws.Condition(tenancyv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || ws.Status.Namespace == "" {
				return fmt.Errorf("%s not Ready: %+v", name, c)
			}
		}
		return nil
	})
	if err := passwords.Set(ctx, env.Admin, "alex", "correct-horse-battery-staple-42"); err != nil {
		t.Fatal(err)
	}
	alex := &tenancyv1.User{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: "alex"}, alex); err != nil {
		t.Fatal(err)
	}
	alex.Spec.PasswordSecret = passwords.SecretName("alex")
	if err := env.Admin.Update(ctx, alex); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t)
	if len(before) < 10 {
		t.Fatalf("test bug: only %d objects to keep: %v", len(before), before)
	}

	t.Run("an upgrade over "+fixture+" keeps every object", func(t *testing.T) {
		out, err := tenancy(t, "install", "--image", image, "--wait", "2m")
		if err != nil {
			t.Fatalf("install over %s: %v\n%s", fixture, err, out)
		}
		time.Sleep(2 * time.Second) // what the controller would do after it, it does
		after := snapshot(t)
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s changed in the upgrade:\n was %s\n now %s", k, v, after[k])
			}
		}
		for k := range after {
			if _, ok := before[k]; !ok {
				t.Errorf("%s appeared in the upgrade", k)
			}
		}
	})

	t.Run("install --dry-run -o yaml is what install applied", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, env.Tenancy(), "install", "--dry-run", "-o", "yaml", "--image", image)
		cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent/kubeconfig") // no cluster needed
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		data, err := cmd.Output()
		if err != nil {
			t.Fatalf("dry-run: %v\n%s", err, stderr.String())
		}
		rendered := decodeYAML(t, data)
		names := map[string]bool{}
		for _, want := range rendered {
			key := want.GetKind() + " " + objectName(want)
			names[key] = true
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(want.GroupVersionKind())
			if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: want.GetNamespace(), Name: want.GetName()}, got); err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			if d := subset("", want.Object, got.Object); len(d) > 0 {
				t.Errorf("%s is not as printed: %s", key, strings.Join(d, "; "))
			}
		}
		live, err := installtest.Labelled(ctx, env.Cluster.Config(), "app.kubernetes.io/component=install")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range live {
			if strings.HasPrefix(l, "Endpoints ") || strings.HasPrefix(l, "EndpointSlice ") {
				continue // the endpoint controllers copy the Service's labels
			}
			if !names[l] {
				t.Errorf("%s is installed but not printed", l)
			}
		}
	})

	t.Run("uninstall refuses while workspaces exist, then leaves nothing", func(t *testing.T) {
		out, err := tenancy(t, "uninstall")
		if err == nil || !strings.Contains(out, "workplace1") || !strings.Contains(out, "--delete-workspaces") {
			t.Fatalf("uninstall with workspaces and no flag: err %v, want a refusal:\n%s", err, out)
		}
		if after := snapshot(t); !reflect.DeepEqual(after, before) {
			t.Fatalf("a refused uninstall changed something")
		}
		out, err = tenancy(t, "uninstall", "--delete-workspaces")
		stop() // the Deployment's pods would be gone: the controller with them
		if err != nil {
			t.Fatalf("uninstall --delete-workspaces: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Nothing of Tenancy's is left.") {
			t.Errorf("uninstall said:\n%s", out)
		}
		left, err := installtest.Labelled(ctx, env.Cluster.Config(), tenancyv1.LabelManagedBy+"="+tenancyv1.ManagedByValue)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("uninstall left: %v", left)
		}
		for _, ns := range []string{"workplace1", "workplace2", "workplace3", install.SystemNamespace} {
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); err == nil {
				t.Errorf("namespace %s is still there", ns)
			}
		}
	})
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func objectName(u *unstructured.Unstructured) string {
	if u.GetNamespace() != "" {
		return u.GetNamespace() + "/" + u.GetName()
	}
	return u.GetName()
}
