// Command rbac measures what ClusterRoleBindings cost every request the API
// server authorizes: Kubernetes' RBAC authorizer walks all of them before
// it looks at a namespace's RoleBindings. It starts a local control plane,
// then for each count of -bindings creates that many ClusterRoleBindings
// (of nobody in particular, as Tenancy's per-workspace ones are to anyone
// else) and times -requests GETs by three callers: admin (system:masters,
// not run through RBAC), a user allowed by a ClusterRoleBinding (as the
// controller is), and a user allowed by a RoleBinding in a namespace (as a
// workspace's members are). See bench/README.md.
//
//	go run ./bench/rbac -bindings 0,5000,10000,20000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenancy-dev/tenancy/bench/internal/load"
	"github.com/tenancy-dev/tenancy/bench/internal/procstat"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rbac:", err)
		os.Exit(1)
	}
}

type options struct {
	bindings []int
	requests int
	parallel int
	jsonPath string
}

// result is one caller's figures at one count of bindings.
type result struct {
	Bindings          int     `json:"bindings"`
	Caller            string  `json:"caller"`
	Requests          int     `json:"requests"`
	Seconds           float64 `json:"seconds"`
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	APIServerCPUms    float64 `json:"apiserverCPUMillisecondsPerRequest"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("rbac", flag.ContinueOnError)
	fs.SetOutput(stderr)
	counts := fs.String("bindings", "0,5000,10000,20000", "comma-separated counts of ClusterRoleBindings to measure at, increasing")
	fs.IntVar(&o.requests, "requests", 4000, "GETs per caller at each count")
	fs.IntVar(&o.parallel, "parallel", 16, "GETs in flight at once")
	fs.StringVar(&o.jsonPath, "json", "", "write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	prev := -1
	for f := range strings.SplitSeq(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= prev {
			return fmt.Errorf("-bindings: want increasing counts such as 0,5000,10000, got %q", *counts)
		}
		o.bindings, prev = append(o.bindings, n), n
	}
	if o.requests < 1 || o.parallel < 1 {
		return fmt.Errorf("-requests and -parallel must be at least 1")
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	dir, err := os.MkdirTemp("", "tenancy-bench-rbac-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	progress("starting the control plane in %s", dir)
	cluster, err := localcluster.Start(ctx, localcluster.Options{DataDir: dir, Reset: true})
	if err != nil {
		return err
	}
	defer func() { _ = cluster.Stop() }()

	admin := cluster.Config()
	admin.QPS, admin.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	callers, err := setUp(ctx, cluster, cs)
	if err != nil {
		return err
	}

	var results []result
	made := 0
	for _, n := range o.bindings {
		progress("creating ClusterRoleBindings up to %d", n)
		if err := fill(ctx, cs, made, n); err != nil {
			return err
		}
		made = n
		time.Sleep(3 * time.Second) // the authorizer's informer catches up
		for _, c := range callers {
			r, err := measure(ctx, dir, c, o)
			if err != nil {
				return fmt.Errorf("%s at %d bindings: %w", c.name, n, err)
			}
			r.Bindings = n
			progress("  %-34s %6.0f requests/s, %.3f ms kube-apiserver CPU per request", c.name, r.RequestsPerSecond, r.APIServerCPUms)
			results = append(results, r)
		}
	}

	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nRBAC authorizer cost: %d GETs per caller, %d in flight\n", o.requests, o.parallel)
	fmt.Fprintf(w, "ClusterRoleBindings\tcaller\trequests/s\tkube-apiserver CPU per request\n")
	for _, r := range results {
		fmt.Fprintf(w, "%d\t%s\t%.0f\t%.3f ms\n", r.Bindings, r.Caller, r.RequestsPerSecond, r.APIServerCPUms)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if o.jsonPath != "" {
		raw, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(o.jsonPath, append(raw, '\n'), 0o644)
	}
	return nil
}

// caller is one identity and the GET it repeats.
type caller struct {
	name string
	get  func(context.Context) error
}

const benchNamespace = "bench-rbac"

// setUp makes the three callers: admin; a user allowed to read namespaces
// by a ClusterRoleBinding; a user allowed to read ConfigMaps in one
// namespace by a RoleBinding.
func setUp(ctx context.Context, cluster *localcluster.Cluster, admin kubernetes.Interface) ([]caller, error) {
	create := func(err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); create(err) != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: benchNamespace}}
	if _, err := admin.CoreV1().ConfigMaps(benchNamespace).Create(ctx, cm, metav1.CreateOptions{}); create(err) != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bench-rbac-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces", "configmaps"}, Verbs: []string{"get"}}}}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); create(err) != nil {
		return nil, err
	}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bench-rbac-cluster-reader"}, RoleRef: ref,
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bench-cluster-reader"}}}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); create(err) != nil {
		return nil, err
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bench-rbac-member", Namespace: benchNamespace}, RoleRef: ref,
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bench-member"}}}
	if _, err := admin.RbacV1().RoleBindings(benchNamespace).Create(ctx, rb, metav1.CreateOptions{}); create(err) != nil {
		return nil, err
	}
	userClient := func(name string) (kubernetes.Interface, error) {
		cfg, err := cluster.UserConfig(name)
		if err != nil {
			return nil, err
		}
		cfg.QPS, cfg.Burst = -1, 0
		return kubernetes.NewForConfig(cfg)
	}
	clusterReader, err := userClient("bench-cluster-reader")
	if err != nil {
		return nil, err
	}
	member, err := userClient("bench-member")
	if err != nil {
		return nil, err
	}
	getNS := func(c kubernetes.Interface) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.CoreV1().Namespaces().Get(ctx, benchNamespace, metav1.GetOptions{})
			return err
		}
	}
	return []caller{
		{"admin (system:masters, no RBAC)", getNS(admin)},
		{"user allowed by a ClusterRoleBinding", getNS(clusterReader)},
		{"user allowed by a RoleBinding", func(ctx context.Context) error {
			_, err := member.CoreV1().ConfigMaps(benchNamespace).Get(ctx, "probe", metav1.GetOptions{})
			return err
		}},
	}, nil
}

// fill creates ClusterRoleBindings from..to-1, each binding view to a user
// of its own, 32 at a time.
func fill(ctx context.Context, cs kubernetes.Interface, from, to int) error {
	return load.Parallel(to-from, 32, func(i int) error {
		name := fmt.Sprintf("bench-rbac-filler-%06d", from+i)
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}}}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	})
}

// measure runs the caller's GET o.requests times, o.parallel at once, and
// reads kube-apiserver's CPU time around it.
func measure(ctx context.Context, dir string, c caller, o options) (result, error) {
	if err := c.get(ctx); err != nil { // warm the connection; fail early when denied
		return result{}, err
	}
	before := procstat.TakeCPU(dir, nil)
	start := time.Now()
	err := load.Parallel(o.requests, o.parallel, func(int) error { return c.get(ctx) })
	took := time.Since(start)
	cpu := procstat.TakeCPU(dir, nil).Sub(before)["kube-apiserver"]
	return result{
		Caller: c.name, Requests: o.requests, Seconds: took.Seconds(),
		RequestsPerSecond: float64(o.requests) / took.Seconds(),
		APIServerCPUms:    float64(cpu.Microseconds()) / 1000 / float64(o.requests),
	}, err
}
