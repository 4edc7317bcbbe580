// Command server measures `tenancy serve` under load: the latency of
// GET /api/v1/workspaces (answered from the server's cache, filtered per
// caller) and of POST /api/v1/login (argon2id), at many concurrent users,
// against a real local control plane. See bench/README.md.
//
//	go run ./bench/server -users 200 -workspaces 1000 -duration 20s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/bench/internal/load"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "server bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.Int("users", 200, "concurrent users, each signing in and then listing their workspaces")
	workspaces := fs.Int("workspaces", 1000, "workspaces in the cluster, spread evenly over the users")
	duration := fs.Duration("duration", 20*time.Second, "how long the users list their workspaces, in each of the two phases")
	interval := fs.Duration("interval", time.Second, "in the paced phase, each user lists once per interval (a person with the page open); the second phase sends without pause")
	keep := fs.Bool("keep", false, "keep the control plane's directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tenancy-bench-server-")
	if err != nil {
		return err
	}
	if !*keep {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}

	ctrllog.SetLogger(logr.Discard())
	logf("starting the control plane in %s", dir)
	cl, err := localcluster.Start(ctx, localcluster.Options{DataDir: dir, Reset: true, Progress: stderr})
	if err != nil {
		return err
	}
	defer func() { _ = cl.Stop() }()
	cfg := cl.Config()
	cfg.QPS, cfg.Burst = 1000, 2000
	scheme := server.Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := install.CRDs(ctx, admin); err != nil {
		return err
	}
	if err := server.Grant(ctx, admin, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: server.RoleName}); err != nil {
		return err
	}

	logf("creating %d users with passwords and %d workspaces", *users, *workspaces)
	pw := make([]string, *users)
	if err := load.Parallel(*users, 16, func(i int) error {
		name := fmt.Sprintf("user-%03d", i)
		u := &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}},
			Spec: tenancyv1.UserSpec{PasswordSecret: passwords.SecretName(name)}}
		if err := admin.Create(ctx, u); err != nil {
			return err
		}
		pw[i] = passwords.Generate()
		return passwords.Set(ctx, admin, name, pw[i])
	}); err != nil {
		return err
	}
	if err := load.Parallel(*workspaces, 32, func(i int) error {
		ws := &tenancyv1.Workspace{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ws-%04d", i)},
			Spec: tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: fmt.Sprintf("user-%03d", i%*users)},
				Contributors: []tenancyv1.Contributor{{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: fmt.Sprintf("user-%03d", (i+1)%*users)}, Role: tenancyv1.RoleView}}},
		}
		if err := admin.Create(ctx, ws); err != nil {
			return err
		}
		// What the controller would report: the quota, used and hard.
		ws.Status.Quota = &tenancyv1.QuotaStatus{
			Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("16"), "requests.memory": resource.MustParse("64Gi"), "requests.nvidia.com/gpu": resource.MustParse("2")},
			Used: corev1.ResourceList{"requests.cpu": resource.MustParse("3"), "requests.memory": resource.MustParse("10Gi"), "requests.nvidia.com/gpu": resource.MustParse("1")},
		}
		return admin.Status().Update(ctx, ws)
	}); err != nil {
		return err
	}

	scfg, err := cl.UserConfig(server.RoleName)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	deps, err := server.Setup(ctx, scfg, server.Options{PublicURL: "http://" + ln.Addr().String()}, logr.Discard())
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := deps.WaitReady(wctx); err != nil {
		return err
	}
	hs := &http.Server{Handler: server.NewServer(deps), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() { _ = hs.Close() }()
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *users * 2, MaxConnsPerHost: 0}, Timeout: time.Minute}

	logf("%d users sign in at once", *users)
	tokens := make([]string, *users)
	loginLat := make([]time.Duration, *users)
	loginStart := time.Now()
	if err := load.Parallel(*users, *users, func(i int) error {
		body, _ := json.Marshal(map[string]string{"username": fmt.Sprintf("user-%03d", i), "password": pw[i]})
		t0 := time.Now()
		resp, err := hc.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		var out struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("login user-%03d: %d %v", i, resp.StatusCode, err)
		}
		loginLat[i] = time.Since(t0)
		tokens[i] = out.Token
		return nil
	}); err != nil {
		return err
	}
	loginWall := time.Since(loginStart)

	want := *workspaces / *users * 2 // owned and viewed
	var failures atomic.Int64
	list := func(pace time.Duration) ([]time.Duration, time.Duration) {
		var mu sync.Mutex
		var lat []time.Duration
		deadline := time.Now().Add(*duration)
		start := time.Now()
		_ = load.Parallel(*users, *users, func(i int) error {
			var mine []time.Duration
			if pace > 0 { // spread the users over the interval
				time.Sleep(time.Duration(i) * pace / time.Duration(*users))
			}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				req, _ := http.NewRequest("GET", base+"/api/v1/workspaces", nil)
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				var out struct{ Items []json.RawMessage }
				err = json.NewDecoder(resp.Body).Decode(&out)
				_ = resp.Body.Close()
				d := time.Since(t0)
				if err != nil || resp.StatusCode != 200 || len(out.Items) != want {
					failures.Add(1)
					continue
				}
				mine = append(mine, d)
				if pace > 0 {
					time.Sleep(pace - d%pace)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
			return nil
		})
		return lat, time.Since(start)
	}
	logf("%d users list their workspaces once every %s, for %s", *users, *interval, *duration)
	pacedLat, pacedWall := list(*interval)
	logf("%d users list their workspaces without pause, for %s", *users, *duration)
	listLat, listWall := list(0)
	if len(listLat) == 0 || len(pacedLat) == 0 {
		return errors.New("no list succeeded")
	}

	fmt.Fprintf(stdout, "machine: %d CPUs (GOMAXPROCS %d), %s/%s; server, load and control plane on the same machine\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "%d users, %d workspaces (each user owns %d and views %d)\n\n", *users, *workspaces, want/2, want/2)
	fmt.Fprintf(stdout, "| request | n | p50 | p90 | p99 | max | throughput |\n|---|---|---|---|---|---|---|\n")
	row := func(name string, lat []time.Duration, wall time.Duration) {
		slices.Sort(lat)
		q := func(p float64) string { return load.Ms(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
		fmt.Fprintf(stdout, "| %s | %d | %s | %s | %s | %s | %.0f/s |\n", name, len(lat), q(.5), q(.9), q(.99), load.Ms(lat[len(lat)-1]), float64(len(lat))/wall.Seconds())
	}
	row("POST /api/v1/login ("+fmt.Sprint(*users)+" at once)", loginLat, loginWall)
	row(fmt.Sprintf("GET /api/v1/workspaces (%d users, each once per %s)", *users, *interval), pacedLat, pacedWall)
	row(fmt.Sprintf("GET /api/v1/workspaces (%d users without pause)", *users), listLat, listWall)
	if f := failures.Load(); f > 0 {
		return fmt.Errorf("%d list requests failed or returned the wrong workspaces", f)
	}

	return nil
}
