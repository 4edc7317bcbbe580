// Command provision measures how fast the Tenancy controller provisions
// workspaces against a real local control plane, how many API requests it
// sends for it, how much memory it needs, and that it sends no writes once
// everything is provisioned; then it measures an "optimal" client creating
// the same objects directly, as a ceiling. See bench/README.md.
//
//	go run ./bench/provision -n 1000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/config"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

type options struct {
	n                 int
	concurrency       int
	creators          int
	idle              time.Duration
	settle            time.Duration
	settleMax         time.Duration
	settleScope       string
	timeout           time.Duration
	clusterRulesEvery int
	unsafeNoFsync     bool
	dataDir           string
	keep              bool
	binary            string
	optimalQPS        float64
	skipOptimal       bool
	optimalFirst      bool
	optimalApply      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 1000, "workspaces to provision")
	fs.IntVar(&o.concurrency, "concurrency", 16, "the controller's --concurrency, and the optimal client's parallelism")
	fs.IntVar(&o.creators, "creators", 32, "parallel clients creating the Workspaces")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "idle window in which the controller must send no writes")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "after all are Ready, wait until neither the controller nor any other client (leases and events aside) has written for this long, before the idle window")
	fs.StringVar(&o.settleScope, "settle-scope", "cluster", `whose writes -settle waits out: "cluster" (the controller's and every other client's) or "controller" (only the controller's)`)
	fs.DurationVar(&o.settleMax, "settle-max", 10*time.Minute, "give up settling after this long and start the idle window anyway")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Minute, "give up if not all workspaces are Ready by then")
	fs.IntVar(&o.clusterRulesEvery, "cluster-rules-every", 10, "every k-th workspace also gets cluster rules (a ClusterRole and binding); 0 for none")
	fs.BoolVar(&o.unsafeNoFsync, "unsafe-no-fsync", false, "run etcd without fsync (faster, less like production)")
	fs.StringVar(&o.dataDir, "data-dir", "", "control plane data directory (default: a new temporary directory, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the data directory (etcd data, component and controller logs)")
	fs.StringVar(&o.binary, "controller-binary", "", "tenancy binary to run (default: built from ./cmd/tenancy)")
	fs.Float64Var(&o.optimalQPS, "optimal-qps", -1, "client-side QPS limit of the optimal client, burst twice that; negative for none (the ceiling is then the API server)")
	fs.BoolVar(&o.skipOptimal, "skip-optimal", false, "skip phase B")
	fs.BoolVar(&o.optimalApply, "optimal-apply", true, "in phase B, also measure the optimal client writing with server-side apply instead of create")
	fs.BoolVar(&o.optimalFirst, "optimal-first", false, "run phase B before phase A (to see how much the order matters)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.n < 1 || o.concurrency < 1 || o.creators < 1 {
		return errors.New("-n, -concurrency and -creators must be at least 1")
	}
	if o.settleScope != "cluster" && o.settleScope != "controller" {
		return fmt.Errorf(`-settle-scope must be "cluster" or "controller", not %q`, o.settleScope)
	}
	// The driver's own informer logs nothing worth reading.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	b := &bench{o: o, out: stdout, progress: stderr}
	return b.run(ctx)
}

type bench struct {
	o             options
	out, progress io.Writer
	cluster       *localcluster.Cluster
	client        client.Client
	dir           string // data directory
	version       string // of the source tree the controller is built from
	start         time.Time

	a      phaseA
	b      phaseB
	bApply phaseB // optimal client with server-side apply (-optimal-apply)
}

type phaseA struct {
	createAll      time.Duration // first create → last create returned
	allReady       time.Duration // first create → all Ready
	latencies      []time.Duration
	ready          int
	requests       requestCounts // controller start → all Ready... see run
	startRequests  requestCounts // controller start-up, before the first create
	settleRequests requestCounts
	settleTook     time.Duration
	settled        bool
	idleRequests   requestCounts
	idle           time.Duration
	peakRSS        int64
	logPath        string

	idleChanges       workspaceChanges // Workspace updates seen in the idle window
	idleClusterWrites []string         // writes in the idle window by the API server's count

	settleClusterWrites []string // writes while settling by the API server's count
	clusterRequests     []string // first create → all Ready, by the API server's count
	cpu                 cpuSnapshot
}

type phaseB struct {
	done     time.Duration
	requests int
	ran      bool
	cpu      cpuSnapshot
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "%7s  %s\n", time.Since(b.start).Round(100*time.Millisecond), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) (err error) {
	b.start = time.Now()
	o := b.o
	b.dir = o.dataDir
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "tenancy-bench-"); err != nil {
			return err
		}
	}
	failed := true
	defer func() {
		switch {
		case o.keep:
			fmt.Fprintf(b.progress, "kept %s (controller log %s)\n", b.dir, b.a.logPath)
		case failed:
			_ = os.RemoveAll(filepath.Join(b.dir, "etcd"))
			fmt.Fprintf(b.progress, "logs kept in %s (controller log %s)\n", filepath.Join(b.dir, "logs"), b.a.logPath)
		case o.dataDir == "":
			_ = os.RemoveAll(b.dir)
		}
	}()

	b.version = sourceVersion(ctx)
	binary := o.binary
	if binary == "" {
		binary = filepath.Join(b.dir, "tenancy")
		b.logf("building ./cmd/tenancy")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/tenancy-dev/tenancy/cmd/tenancy")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/tenancy: %w\n%s", err, out)
		}
	}

	b.logf("starting the control plane in %s (etcd fsync %s)", b.dir, onOff(!o.unsafeNoFsync))
	b.cluster, err = localcluster.Start(ctx, localcluster.Options{
		DataDir: b.dir, Reset: true, UnsafeNoFsync: o.unsafeNoFsync, Progress: prefixWriter{b},
	})
	if err != nil {
		return err
	}
	defer func() { _ = b.cluster.Stop() }()
	cfg := b.cluster.Config()
	cfg.QPS, cfg.Burst = 1000, 2000 // the driver must not be the bottleneck
	if b.client, err = client.New(cfg, client.Options{Scheme: controller.Scheme()}); err != nil {
		return err
	}
	if err := install.CRDs(ctx, b.client); err != nil {
		return err
	}

	if o.optimalFirst && !o.skipOptimal {
		if err := b.phaseB(ctx); err != nil {
			return err
		}
	}
	idleErr := b.phaseA(ctx, binary)
	if idleErr != nil && !errors.Is(idleErr, errIdleWrites) {
		return idleErr
	}
	if !o.optimalFirst && !o.skipOptimal {
		if err := b.phaseB(ctx); err != nil {
			return err
		}
	}
	b.report()
	if idleErr != nil {
		return idleErr
	}
	failed = false
	return nil
}

var errIdleWrites = errors.New("the controller sent writes in the idle window")

func (b *bench) phaseA(ctx context.Context, binary string) error {
	o := b.o
	b.a.logPath = filepath.Join(b.cluster.LogDir(), "tenancy-controller.log")
	kubeconfig, err := b.controllerKubeconfig(ctx)
	if err != nil {
		return err
	}
	proc, err := startController(binary, kubeconfig, b.a.logPath, o.concurrency)
	if err != nil {
		return err
	}
	defer proc.stop(15 * time.Second)
	if err := proc.waitReady(ctx, time.Minute); err != nil {
		return err
	}
	b.logf("phase A: controller running (pid %d, --concurrency %d, log %s)", proc.pid(), o.concurrency, b.a.logPath)

	// Watch Workspaces to see each become Ready.
	tracker := newReadyTracker(o.n)
	informers, err := cache.New(b.cluster.Config(), cache.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	inf, err := informers.GetInformer(ctx, &tenancyv1.Workspace{})
	if err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: tracker.observe,
		UpdateFunc: func(old, obj any) {
			tracker.observe(obj)
			b.a.idleChanges.observe(old, obj)
		},
	}); err != nil {
		return err
	}
	informersCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()
	go func() { _ = informers.Start(informersCtx) }()
	if !informers.WaitForCacheSync(ctx) {
		return errors.New("workspace informer did not sync")
	}

	// Let the controller finish starting (caches synced, workers idle).
	time.Sleep(2 * time.Second)
	cs, err := kubernetes.NewForConfig(b.cluster.Config())
	if err != nil {
		return err
	}
	apiRC := cs.Discovery().RESTClient()
	before, err := proc.scrape(ctx)
	if err != nil {
		return err
	}
	beforeCluster, err := apiserverRequests(ctx, apiRC)
	if err != nil {
		return err
	}
	ctrlPID := map[string]int{"tenancy-controller": proc.pid()}
	cpuBefore := takeCPU(b.dir, ctrlPID)
	b.a.startRequests = before

	// Create all workspaces at once.
	b.logf("phase A: creating %d Workspaces with %d parallel clients", o.n, o.creators)
	first := time.Now()
	names := make(chan int)
	var createErrs atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range o.creators {
		wg.Go(func() {
			for i := range names {
				name := wsName(i)
				tracker.created(name, time.Now())
				if err := b.client.Create(ctx, newWorkspace(name, i, o.clusterRulesEvery)); err != nil {
					createErrs.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	go func() {
		defer close(names)
		for i := range o.n {
			select {
			case names <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	b.a.createAll = time.Since(first)
	if n := createErrs.Load(); n > 0 {
		return fmt.Errorf("%d Workspace creates failed, the first: %w", n, firstErr)
	}
	b.logf("phase A: created %d Workspaces in %s", o.n, b.a.createAll.Round(time.Millisecond))

	// Wait for all to be Ready.
	deadline := time.After(o.timeout)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-tracker.allReady:
			break wait
		case <-tick.C:
			rc, _ := proc.scrape(ctx)
			b.logf("phase A: %d/%d Ready; controller requests so far %.0f", tracker.count(), o.n, rc.sub(before).total())
			if proc.exited() {
				return fmt.Errorf("the controller exited; see %s", b.a.logPath)
			}
		case <-deadline:
			return fmt.Errorf("only %d of %d workspaces Ready after %s; see %s", tracker.count(), o.n, o.timeout, b.a.logPath)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.a.allReady = tracker.lastReady.Sub(first)
	b.a.latencies = tracker.latencies()
	b.a.ready = tracker.count()
	after, err := proc.scrape(ctx)
	if err != nil {
		return err
	}
	b.a.requests = after.sub(before)
	b.a.cpu = takeCPU(b.dir, ctrlPID).sub(cpuBefore)
	afterCluster, err := apiserverRequests(ctx, apiRC)
	if err != nil {
		return err
	}
	b.a.clusterRequests = allDelta(beforeCluster, afterCluster)
	b.logf("phase A: all %d Ready %s after the first create", o.n, b.a.allReady.Round(time.Millisecond))

	// Settle: the controller may still react to its own writes, and
	// kube-controller-manager may still be filling in quota status (which
	// the controller mirrors into the Workspace status). Wait until neither
	// the controller nor any other client (leases and events aside) has
	// written for o.settle.
	settleStart := time.Now()
	last := after
	lastCluster, err := apiserverRequests(ctx, apiRC)
	if err != nil {
		return err
	}
	settleCluster := lastCluster
	quietSince := time.Now()
	for time.Since(quietSince) < o.settle && time.Since(settleStart) < o.settleMax {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		now, err := proc.scrape(ctx)
		if err != nil {
			return err
		}
		nowCluster, err := apiserverRequests(ctx, apiRC)
		if err != nil {
			return err
		}
		clusterBusy := o.settleScope == "cluster" && len(clusterWrites(lastCluster, nowCluster)) > 0
		if now.mutating() != last.mutating() || clusterBusy {
			quietSince = time.Now()
		}
		last, lastCluster = now, nowCluster
	}
	b.a.settled = time.Since(quietSince) >= o.settle
	b.a.settleTook = time.Since(settleStart)
	b.a.settleRequests = last.sub(after)
	b.a.settleClusterWrites = clusterWrites(settleCluster, lastCluster)
	b.logf("phase A: settled in %s (%.0f more requests, %.0f writes)", b.a.settleTook.Round(time.Second),
		b.a.settleRequests.total(), b.a.settleRequests.mutating())

	// Idle window.
	b.logf("phase A: idle window of %s", o.idle)
	idleStart, err := proc.scrape(ctx)
	if err != nil {
		return err
	}
	clusterStart, err := apiserverRequests(ctx, apiRC)
	if err != nil {
		return err
	}
	b.a.idleChanges.active.Store(true)
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.idle):
	}
	idleEnd, err := proc.scrape(ctx)
	if err != nil {
		return err
	}
	b.a.idleChanges.active.Store(false)
	b.a.idle = time.Since(t0)
	b.a.idleRequests = idleEnd.sub(idleStart)
	clusterEnd, err := apiserverRequests(ctx, apiRC)
	if err != nil {
		return err
	}
	b.a.idleClusterWrites = mutatingDelta(clusterStart, clusterEnd)
	if b.a.peakRSS, err = peakRSS(proc.pid()); err != nil {
		return err
	}
	b.logf("phase A: %.0f writes in the idle window", b.a.idleRequests.mutating())
	if b.a.idleRequests.mutating() > 0 {
		return errIdleWrites
	}
	return nil
}

func (b *bench) phaseB(ctx context.Context) error {
	o := b.o
	b.logf("phase B: optimal client creating the objects of %d workspaces directly, %d in parallel (controller not running)", o.n, o.concurrency)
	var err error
	if b.b, err = b.optimal(ctx, "opt", createDirectly); err != nil {
		return err
	}
	b.logf("phase B: done in %s", b.b.done.Round(time.Millisecond))
	if o.optimalApply {
		b.logf("phase B': the same with server-side apply")
		if b.bApply, err = b.optimal(ctx, "opt-apply", applyDirectly); err != nil {
			return err
		}
		b.logf("phase B': done in %s", b.bApply.done.Round(time.Millisecond))
	}
	return nil
}

// optimal runs write for every workspace, o.concurrency at a time, in
// namespaces prefix-00000…
func (b *bench) optimal(ctx context.Context, prefix string,
	write func(ctx context.Context, cs kubernetes.Interface, ns string, i, clusterRulesEvery int) (int, error)) (phaseB, error) {
	o := b.o
	cfg := b.cluster.Config()
	cfg.QPS, cfg.Burst = float32(o.optimalQPS), max(int(2*o.optimalQPS), 0) // QPS < 0: no client-side limit
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return phaseB{}, err
	}
	jobs := make(chan int)
	var requests atomic.Int64
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	self := map[string]int{"optimal-client": os.Getpid()} // this process: the client's CPU counts too
	cpuBefore := takeCPU(b.dir, self)
	start := time.Now()
	for range o.concurrency {
		wg.Go(func() {
			for i := range jobs {
				n, err := write(ctx, cs, fmt.Sprintf("%s-%05d", prefix, i), i, o.clusterRulesEvery)
				requests.Add(int64(n))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range o.n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	r := phaseB{done: time.Since(start), requests: int(requests.Load()), ran: true}
	r.cpu = takeCPU(b.dir, self).sub(cpuBefore)
	if len(errs) > 0 {
		return r, fmt.Errorf("%d optimal-client workspaces failed, the first: %w", len(errs), errs[0])
	}
	return r, nil
}

func (b *bench) report() {
	o, a := b.o, &b.a
	w := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	defer func() { _ = w.Flush() }()
	n := float64(o.n)
	row := func(k, v string) { fmt.Fprintf(w, "  %s\t%s\n", k, v) }

	fmt.Fprintf(w, "\nTenancy provisioning benchmark — %s\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %d CPUs, %s RAM, load average %s; etcd fsync %s; Go %s\n",
		runtime.NumCPU(), memTotal(), loadAvg(), onOff(!o.unsafeNoFsync), runtime.Version())
	if o.binary == "" {
		fmt.Fprintf(w, "controller: built from %s", b.version)
	} else {
		fmt.Fprintf(w, "controller: %s", o.binary)
	}
	fmt.Fprintf(w, ", running as User %s with the ClusterRole of config/rbac\n", controllerUser)
	fmt.Fprintf(w, "workload: %d workspaces (owner, quota, limit range, network policy, namespace rule; every %dth a cluster rule)\n\n",
		o.n, o.clusterRulesEvery)

	fmt.Fprintf(w, "Phase A — Tenancy controller (--concurrency %d, %d parallel creators)\n", o.concurrency, o.creators)
	row("create all Workspaces (client side)", a.createAll.Round(time.Millisecond).String())
	row("first create → all Ready", fmt.Sprintf("%s  (%.1f workspaces/s)", a.allReady.Round(time.Millisecond), n/a.allReady.Seconds()))
	if len(a.latencies) > 0 {
		row("create → Ready per workspace", fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s",
			pct(a.latencies, 50), pct(a.latencies, 90), pct(a.latencies, 99), pct(a.latencies, 100)))
	}
	row("controller start-up requests", fmt.Sprintf("%.0f (before the first create: lists and watches)", a.startRequests.total()))
	row("controller requests, first create → all Ready", fmt.Sprintf("%.0f  (%.1f per workspace)", a.requests.total(), a.requests.total()/n))
	for _, m := range a.requests.methods() {
		v := a.requests.byMethod[m]
		label := m
		if m == "GET" {
			label = "GET (incl. LIST and WATCH)"
		}
		row("    "+label, fmt.Sprintf("%.0f  (%.2f per workspace)", v, v/n))
	}
	row("    by status code", a.requests.codes())
	settled := "settled"
	if !a.settled {
		settled = "did NOT settle"
	}
	quiet := "any writes"
	if o.settleScope == "controller" {
		quiet = "controller writes"
	}
	row(fmt.Sprintf("after all Ready, until %s without %s", o.settle, quiet), fmt.Sprintf("%.0f requests, %.0f writes (%s after %s)",
		a.settleRequests.total(), a.settleRequests.mutating(), settled, a.settleTook.Round(time.Second)))
	row("    by the API server's count (all clients)", orNone(a.settleClusterWrites))
	total := a.requests.total() + a.settleRequests.total()
	row("controller requests, first create → steady state", fmt.Sprintf("%.0f  (%.1f per workspace)", total, total/n))
	row("CPU time, first create → all Ready", fmt.Sprintf("%.1fs = %.1f ms per workspace (%s)", a.cpu.total().Seconds(),
		float64(a.cpu.total().Milliseconds())/n, a.cpu))
	row("controller peak RSS (VmHWM)", fmt.Sprintf("%.0f MiB", float64(a.peakRSS)/(1<<20)))
	verdict := "OK"
	if a.idleRequests.mutating() > 0 {
		verdict = "FAIL: must be 0"
	}
	row(fmt.Sprintf("writes in the idle window (%s)", a.idle.Round(time.Second)), fmt.Sprintf("%.0f  %s  (POST %.0f, PUT %.0f, PATCH %.0f, DELETE %.0f; GET %.0f)",
		a.idleRequests.mutating(), verdict, a.idleRequests.byMethod["POST"], a.idleRequests.byMethod["PUT"],
		a.idleRequests.byMethod["PATCH"], a.idleRequests.byMethod["DELETE"], a.idleRequests.byMethod["GET"]))

	fmt.Fprintf(w, "\nPhase A requests by the API server's count, first create → all Ready (all clients: controller, kube-controller-manager, this driver)\n")
	for _, l := range a.clusterRequests {
		k, v, _ := strings.Cut(l, ": ")
		row(k, v)
	}

	nChanges, changes := a.idleChanges.summary()
	fmt.Fprintf(w, "\nIdle window detail\n")
	row("writes by the API server's count (all clients)", orNone(a.idleClusterWrites))
	row("Workspace updates seen (what changed)", strconv.Itoa(nChanges))
	for _, c := range changes {
		row("", c)
	}

	if b.b.ran {
		order := "after phase A"
		if o.optimalFirst {
			order = "before phase A"
		}
		qps := "no client-side QPS limit"
		if o.optimalQPS > 0 {
			qps = fmt.Sprintf("QPS %.0f", o.optimalQPS)
		}
		fmt.Fprintf(w, "\nPhase B — optimal client, one POST per object (%d workspaces in parallel, %s, run %s)\n", o.concurrency, qps, order)
		row("create every object", fmt.Sprintf("%s  (%.1f workspaces/s)", b.b.done.Round(time.Millisecond), n/b.b.done.Seconds()))
		row("requests", fmt.Sprintf("%d  (%.1f per workspace)", b.b.requests, float64(b.b.requests)/n))
		row("CPU time", fmt.Sprintf("%.1fs = %.1f ms per workspace (%s)", b.b.cpu.total().Seconds(),
			float64(b.b.cpu.total().Milliseconds())/n, b.b.cpu))
		if b.bApply.ran {
			fmt.Fprintf(w, "\nPhase B' — the same optimal client with server-side apply instead of create\n")
			row("apply every object", fmt.Sprintf("%s  (%.1f workspaces/s)", b.bApply.done.Round(time.Millisecond), n/b.bApply.done.Seconds()))
			row("requests", fmt.Sprintf("%d  (%.1f per workspace)", b.bApply.requests, float64(b.bApply.requests)/n))
			row("CPU time", fmt.Sprintf("%.1fs = %.1f ms per workspace (%s)", b.bApply.cpu.total().Seconds(),
				float64(b.bApply.cpu.total().Milliseconds())/n, b.bApply.cpu))
		}
		fmt.Fprintf(w, "\nRatio Tenancy / optimal\n")
		row("time (Tenancy to all Ready)", fmt.Sprintf("%.2f×", a.allReady.Seconds()/b.b.done.Seconds()))
		row("requests (Tenancy to steady state)", fmt.Sprintf("%.2f×", total/float64(b.b.requests)))
		row("CPU time of control plane + client (Tenancy to all Ready)", fmt.Sprintf("%.2f×", a.cpu.total().Seconds()/b.b.cpu.total().Seconds()))
		if b.bApply.ran {
			row("time, Tenancy / optimal with server-side apply", fmt.Sprintf("%.2f×", a.allReady.Seconds()/b.bApply.done.Seconds()))
			row("time, optimal with server-side apply / optimal with create", fmt.Sprintf("%.2f×", b.bApply.done.Seconds()/b.b.done.Seconds()))
		}
	}
	fmt.Fprintln(w)
}

// readyTracker records when each workspace was created and first seen
// Ready for its current generation.
type readyTracker struct {
	want      int
	mu        sync.Mutex
	createdAt map[string]time.Time
	readyAt   map[string]time.Time
	lastReady time.Time
	allReady  chan struct{}
}

func newReadyTracker(want int) *readyTracker {
	return &readyTracker{want: want, createdAt: map[string]time.Time{}, readyAt: map[string]time.Time{}, allReady: make(chan struct{})}
}

func (t *readyTracker) created(name string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.createdAt[name] = at
}

func (t *readyTracker) observe(obj any) {
	ws, ok := obj.(*tenancyv1.Workspace)
	if !ok || !strings.HasPrefix(ws.Name, "bench-") {
		return
	}
	c := ws.Condition(tenancyv1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != ws.Generation {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.readyAt[ws.Name]; seen {
		return
	}
	t.readyAt[ws.Name] = now
	t.lastReady = now
	if len(t.readyAt) == t.want {
		close(t.allReady)
	}
}

func (t *readyTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.readyAt)
}

func (t *readyTracker) latencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Duration, 0, len(t.readyAt))
	for name, r := range t.readyAt {
		if c, ok := t.createdAt[name]; ok {
			out = append(out, r.Sub(c))
		}
	}
	slices.Sort(out)
	return out
}

func wsName(i int) string { return fmt.Sprintf("bench-%05d", i) }

// pct is the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) string {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(10 * time.Millisecond).String()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "?"
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// prefixWriter sends the control plane's progress lines through logf.
type prefixWriter struct{ b *bench }

func (p prefixWriter) Write(data []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(data), "\n"), "\n") {
		p.b.logf("%s", line)
	}
	return len(data), nil
}

func orNone(lines []string) string {
	if len(lines) == 0 {
		return "none"
	}
	return strings.Join(lines, "; ")
}

// sourceVersion describes the checkout: commit and uncommitted changes.
func sourceVersion(ctx context.Context) string {
	rev, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "(not a git checkout)"
	}
	v := "commit " + strings.TrimSpace(string(rev))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		if n := len(strings.Split(strings.TrimSpace(string(st)), "\n")); len(strings.TrimSpace(string(st))) > 0 {
			v += fmt.Sprintf(" with %d modified files", n)
		}
	}
	return v
}

// controllerUser is the identity the controller runs as.
const controllerUser = "tenancy-controller"

// controllerKubeconfig binds the controller's ClusterRole (config/rbac, as
// in a real installation) to controllerUser and writes a kubeconfig for it.
func (b *bench) controllerKubeconfig(ctx context.Context) (string, error) {
	// The bench runs one controller, without leader election: the
	// ClusterRole is all it needs.
	role, _, err := config.ControllerRoles()
	if err != nil {
		return "", err
	}
	if err := b.client.Create(ctx, role); err != nil {
		return "", fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: controllerUser}},
	}
	if err := b.client.Create(ctx, binding); err != nil {
		return "", fmt.Errorf("bind ClusterRole %s: %w", role.Name, err)
	}
	cfg, err := b.cluster.UserConfig(controllerUser)
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.dir, "tenancy-controller.kubeconfig")
	return path, b.cluster.WriteKubeconfig(path, cfg, "")
}
