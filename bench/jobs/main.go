// Command jobs measures Tenancy's jobs against Kubernetes itself: U users
// submit N jobs through the REST API (POST /api/v1/workspaces/{ws}/jobs),
// and, in the same run, the same Jobs are created directly with client-go
// as each user (what `kubectl create` does), and through the Flux
// protocol (POST /v1/jobs/submit). For each door it reports the submit
// latency (p50, p99), the list latency at R concurrent readers (p99) and
// the time from the first submit until every job has finished, and the
// ratio to the direct create. A real control plane with process nodes
// runs the jobs; the Tenancy controller and server run in this process.
// See bench/README.md.
//
//	go run ./bench/jobs                          # -n 1000 -users 20 -readers 200
//	go run ./bench/jobs -n 40 -users 4 -readers 20 -list-duration 2s   # a quick check
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
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/bench/internal/load"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/jobs"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/server"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "jobs bench:", err)
		os.Exit(1)
	}
}

type options struct {
	n, users, readers int
	listFor           time.Duration
	command           []string
	doors             []string
	keep              bool
	cpuNodes          int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 1000, "jobs submitted through each door, spread evenly over the users")
	fs.IntVar(&o.users, "users", 20, "users submitting at once, each to their own workspace, one job after another")
	fs.IntVar(&o.readers, "readers", 200, "concurrent readers listing jobs (reader i lists user i%users's workspace)")
	fs.DurationVar(&o.listFor, "list-duration", 10*time.Second, "how long the readers list, per door")
	command := fs.String("command", "true", "each job's command (split on spaces)")
	doors := fs.String("doors", "direct,rest,flux", "the doors measured, in order: direct (client-go create), rest (/api/v1), flux (/v1)")
	fs.IntVar(&o.cpuNodes, "cpu-nodes", 2, "CPU process nodes")
	fs.BoolVar(&o.keep, "keep", false, "keep the control plane's directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.command = strings.Fields(*command)
	o.doors = strings.Split(*doors, ",")
	for _, d := range o.doors {
		if doorNames[d] == "" {
			return fmt.Errorf("-doors: %q is not direct, rest or flux", d)
		}
	}
	if o.n < o.users || o.users < 1 || o.readers < 1 || len(o.command) == 0 {
		return errors.New("need -users >= 1, -n >= -users, -readers >= 1 and a -command")
	}
	dir, err := os.MkdirTemp("", "tenancy-bench-jobs-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	ctrllog.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	load0 := loadavg()

	logf("starting the control plane with %d process nodes in %s", o.cpuNodes, dir)
	cl, err := localcluster.Start(ctx, localcluster.Options{
		DataDir: dir, Reset: true, Progress: stderr, ProcessNodes: localcluster.DefaultNodes(o.cpuNodes, 0),
		NodeIPPrefix: "127.0.8.", StopGracePeriod: 2 * time.Second,
	})
	if err != nil {
		return err
	}
	defer func() { _ = cl.Stop() }()
	cfg := cl.Config()
	cfg.QPS, cfg.Burst = 1000, 2000
	admin, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	if err := install.CRDs(ctx, admin); err != nil {
		return err
	}
	if _, err := install.Admission(ctx, admin, cfg); err != nil {
		return err
	}
	if err := install.CreateIfMissing(ctx, admin, install.DefaultClass()); err != nil {
		return err
	}
	if err := server.Grant(ctx, admin, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: server.RoleName}); err != nil {
		return err
	}
	stopController, err := startController(ctx, cl, admin)
	if err != nil {
		return err
	}
	defer stopController()

	logf("creating %d users and %d workspaces each (one per door)", o.users, len(o.doors))
	pw := make([]string, o.users)
	if err := load.Parallel(o.users, 8, func(i int) error {
		name := userName(i)
		u := &tenancyv1.User{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}},
			Spec: tenancyv1.UserSpec{PasswordSecret: passwords.SecretName(name)}}
		if err := admin.Create(ctx, u); err != nil {
			return err
		}
		pw[i] = passwords.Generate()
		if err := passwords.Set(ctx, admin, name, pw[i]); err != nil {
			return err
		}
		for _, d := range o.doors {
			ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: wsName(d, i)},
				Spec: tenancyv1.WorkspaceSpec{Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: name}}}
			if err := admin.Create(ctx, ws); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := waitWorkspaces(ctx, admin, o.users*len(o.doors)); err != nil {
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
	b := &bench{o: o, admin: admin, base: "http://" + ln.Addr().String(), logf: logf,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * (o.readers + o.users)}, Timeout: 2 * time.Minute}}
	if err := b.signIn(ctx, pw); err != nil {
		return err
	}
	if b.kube, err = b.userClients(cl); err != nil {
		return err
	}

	var results []result
	for _, d := range o.doors {
		r, err := b.door(ctx, d)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		results = append(results, r)
	}
	report(stdout, o, results, load0, loadavg())
	return nil
}

func userName(i int) string            { return fmt.Sprintf("user-%02d", i) }
func wsName(door string, i int) string { return fmt.Sprintf("%s-%02d", door, i) }

// startController runs the workspace controller in this process as its
// own identity (config/rbac), as testenv does.
func startController(ctx context.Context, cl *localcluster.Cluster, admin client.Client) (func(), error) {
	if err := testenv.GrantController(ctx, admin, testenv.ControllerUser); err != nil {
		return nil, err
	}
	ccfg, err := cl.UserConfig(testenv.ControllerUser)
	if err != nil {
		return nil, err
	}
	ctrl.SetLogger(logr.Discard())
	mgr, err := controller.NewManager(ccfg, controller.Options{Concurrency: 8, MetricsAddr: "0", ProbeAddr: "0"})
	if err != nil {
		return nil, err
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = mgr.Start(mctx); close(done) }()
	return func() { stop(); <-done }, nil
}

func waitWorkspaces(ctx context.Context, admin client.Client, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var list tenancyv1.WorkspaceList
		if err := admin.List(ctx, &list); err != nil {
			return err
		}
		ready := 0
		for _, ws := range list.Items {
			if c := meta.FindStatusCondition(ws.Status.Conditions, tenancyv1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue && ws.Status.Quota != nil {
				ready++
			}
		}
		// Pods need the namespace's default ServiceAccount.
		var sas corev1.ServiceAccountList
		if err := admin.List(ctx, &sas, client.MatchingFields{"metadata.name": "default"}); err != nil {
			return err
		}
		if ready == n && len(sas.Items) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("the %d workspaces were not Ready in 5 minutes", n)
}

type bench struct {
	o       options
	admin   client.Client
	base    string
	hc      *http.Client
	logf    func(string, ...any)
	session []string        // each user's session token
	flux    []string        // each user's /v1 access token
	kube    []client.Client // each user's own client (client certificate)
}

func (b *bench) signIn(ctx context.Context, pw []string) error {
	b.session, b.flux = make([]string, b.o.users), make([]string, b.o.users)
	return load.Parallel(b.o.users, b.o.users, func(i int) error {
		body, _ := json.Marshal(map[string]string{"username": userName(i), "password": pw[i]})
		var out struct{ Token string }
		if err := b.call(ctx, "POST", "/api/v1/login", "", "application/json", bytes.NewReader(body), 200, &out); err != nil {
			return err
		}
		b.session[i] = out.Token
		form := url.Values{"username": {userName(i)}, "password": {pw[i]}}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := b.call(ctx, "POST", "/v1/login/access-token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), 200, &tok); err != nil {
			return err
		}
		b.flux[i] = tok.AccessToken
		return nil
	})
}

// userClients are clients acting as each user with a client certificate
// of the cluster's CA, as their kubeconfig would.
func (b *bench) userClients(cl *localcluster.Cluster) ([]client.Client, error) {
	out := make([]client.Client, b.o.users)
	for i := range out {
		cfg, err := cl.UserConfig(userName(i))
		if err != nil {
			return nil, err
		}
		cfg.QPS, cfg.Burst = 1000, 2000
		if out[i], err = client.New(cfg, client.Options{Scheme: controller.Scheme()}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *bench) call(ctx context.Context, method, path, token, ct string, body io.Reader, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

type result struct {
	door     string
	submit   []time.Duration
	list     []time.Duration
	finished time.Duration
	failed   int
}

// door submits the jobs through one door, waits until all have finished,
// then has the readers list for a while.
func (b *bench) door(ctx context.Context, door string) (result, error) {
	r := result{door: door}
	per := b.o.n / b.o.users
	sub := jobs.Submission{Command: b.o.command}
	submit := map[string]func(i int) error{
		"direct": func(i int) error {
			return b.kube[i].Create(ctx, jobs.Build(wsName(door, i), userName(i), sub))
		},
		"rest": func(i int) error {
			body, _ := json.Marshal(map[string]any{"command": b.o.command})
			return b.call(ctx, "POST", "/api/v1/workspaces/"+wsName(door, i)+"/jobs", b.session[i], "application/json", bytes.NewReader(body), 201, nil)
		},
		"flux": func(i int) error {
			q := url.Values{"command": {strings.Join(b.o.command, " ")}, "workspace": {wsName(door, i)}}
			return b.call(ctx, "POST", "/v1/jobs/submit?"+q.Encode(), b.flux[i], "", nil, 200, nil)
		},
	}[door]
	list := map[string]func(i int) (int, error){
		"direct": func(i int) (int, error) {
			var l batchv1.JobList
			err := b.kube[i].List(ctx, &l, client.InNamespace(wsName(door, i)))
			return len(l.Items), err
		},
		"rest": func(i int) (int, error) {
			var out struct{ Items []json.RawMessage }
			err := b.call(ctx, "GET", "/api/v1/workspaces/"+wsName(door, i)+"/jobs", b.session[i], "", nil, 200, &out)
			return len(out.Items), err
		},
		"flux": func(i int) (int, error) {
			var out struct{ Jobs []json.RawMessage }
			err := b.call(ctx, "GET", "/v1/jobs?workspace="+wsName(door, i), b.flux[i], "", nil, 200, &out)
			return len(out.Jobs), err
		},
	}[door]

	b.logf("%s: %d users submit %d jobs each", door, b.o.users, per)
	var mu sync.Mutex
	start := time.Now()
	err := load.Parallel(b.o.users, b.o.users, func(i int) error {
		lat := make([]time.Duration, 0, per)
		for range per {
			t0 := time.Now()
			if err := submit(i); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		r.submit = append(r.submit, lat...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return r, err
	}
	b.logf("%s: all %d submitted in %s; waiting until they have finished", door, per*b.o.users, time.Since(start).Round(time.Millisecond))
	done, failed, err := b.waitFinished(ctx, door, per*b.o.users)
	if err != nil {
		return r, err
	}
	r.finished, r.failed = done.Sub(start), failed

	b.logf("%s: %d readers list for %s", door, b.o.readers, b.o.listFor)
	deadline := time.Now().Add(b.o.listFor)
	var wrong atomic.Int64
	_ = load.Parallel(b.o.readers, b.o.readers, func(k int) error {
		var lat []time.Duration
		for time.Now().Before(deadline) && ctx.Err() == nil {
			t0 := time.Now()
			n, err := list(k % b.o.users)
			if err != nil || n != per {
				wrong.Add(1)
				continue
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		r.list = append(r.list, lat...)
		mu.Unlock()
		return nil
	})
	if w := wrong.Load(); w > 0 || len(r.list) == 0 {
		return r, fmt.Errorf("%d list requests failed or gave the wrong number of jobs (%d succeeded)", w, len(r.list))
	}
	return r, nil
}

// waitFinished waits until the door's n Jobs have all finished (Complete
// or Failed), and says when it saw that and how many failed.
func (b *bench) waitFinished(ctx context.Context, door string, n int) (time.Time, int, error) {
	limit := time.Now().Add(30 * time.Minute)
	for time.Now().Before(limit) {
		var all batchv1.JobList
		if err := b.admin.List(ctx, &all); err != nil {
			return time.Time{}, 0, err
		}
		finished, failed := 0, 0
		for _, j := range all.Items {
			if !strings.HasPrefix(j.Namespace, door+"-") {
				continue
			}
			for _, c := range j.Status.Conditions {
				if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
					finished++
					if c.Type == batchv1.JobFailed {
						failed++
					}
				}
			}
		}
		if finished >= n {
			// When this poll saw them all finished: late by at most the
			// poll interval and one list.
			return time.Now(), failed, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return time.Time{}, 0, fmt.Errorf("the %s jobs did not all finish in 30 minutes", door)
}

var doorNames = map[string]string{
	"direct": "client-go create (as `kubectl create`), list = `kubectl get jobs`",
	"rest":   "REST `POST /api/v1/workspaces/{ws}/jobs`, list `GET …/jobs`",
	"flux":   "Flux `POST /v1/jobs/submit`, list `GET /v1/jobs`",
}

func report(w io.Writer, o options, results []result, load0, load1 string) {
	fmt.Fprintf(w, "machine: %d CPUs, %s/%s; control plane, process nodes, controller, server and load on the same machine; load average %s at start, %s at end\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, load0, load1)
	fmt.Fprintf(w, "%d jobs per door (%q), %d users at once (%d each, one after another), %d readers for %s\n\n",
		o.n, strings.Join(o.command, " "), o.users, o.n/o.users, o.readers, o.listFor)
	fmt.Fprintf(w, "| door | submit p50 | submit p99 | list p50 | list p99 (%d readers) | lists | first submit → all finished | failed jobs |\n|---|---|---|---|---|---|---|---|\n", o.readers)
	var direct *result
	for i := range results {
		if results[i].door == "direct" {
			direct = &results[i]
		}
	}
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %s | %d |\n", doorNames[r.door], load.Ms(load.Quantile(r.submit, .5)), load.Ms(load.Quantile(r.submit, .99)),
			load.Ms(load.Quantile(r.list, .5)), load.Ms(load.Quantile(r.list, .99)), len(r.list), r.finished.Round(100*time.Millisecond), r.failed)
	}
	if direct == nil {
		return
	}
	fmt.Fprintf(w, "\n| ratio to the direct create | submit p50 | submit p99 | list p99 | all finished |\n|---|---|---|---|---|\n")
	for _, r := range results {
		if r.door == "direct" {
			continue
		}
		ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds()) }
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.door, ratio(load.Quantile(r.submit, .5), load.Quantile(direct.submit, .5)), ratio(load.Quantile(r.submit, .99), load.Quantile(direct.submit, .99)),
			ratio(load.Quantile(r.list, .99), load.Quantile(direct.list, .99)), ratio(r.finished, direct.finished))
	}
}

func loadavg() string {
	raw, err := os.ReadFile(filepath.Join("/proc", "loadavg"))
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
