// Command provision measures how fast the Tenancy controller provisions
// workspaces against a real local control plane, what it costs the API
// server, how much memory it needs, that it sends no writes once
// everything is provisioned, how fast a restarted controller verifies
// everything, and how fast workspaces are deleted; then it measures two
// ceilings on a fresh control plane of their own: the honest one (one
// client POSTing each Workspace, its objects and one status write) and the
// create-only one (the objects alone). See bench/README.md.
//
//	go run ./bench/provision -n 1000 -json /tmp/bench.json -svg bench/provision-1000.svg
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
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
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
	podsReadyTimeout  time.Duration
	clusterRulesEvery int
	unsafeNoFsync     bool
	dataDir           string
	keep              bool
	binary            string
	skipCeiling       bool
	skipTenancy       bool
	ceilingFirst      bool
	sharedPlane       bool
	optimalApply      bool
	createOnly        bool
	admission         bool
	restart           bool
	deletion          bool
	jsonPath          string
	svgPath           string
	gomemlimit        string
	godebug           string
	profileDir        string
	profileSeconds    int
	profileDelay      time.Duration
	chartWith         string
	chartFrom         string
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
	fs.IntVar(&o.concurrency, "concurrency", 16, "the controller's --concurrency, and the ceiling clients' parallelism")
	fs.IntVar(&o.creators, "creators", 32, "parallel clients creating (and deleting) the Workspaces")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "idle window in which the controller must send no writes")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "after all are Ready, wait until neither the controller nor any other client (leases and events aside) has written for this long, before the idle window")
	fs.StringVar(&o.settleScope, "settle-scope", "cluster", `whose writes -settle waits out: "cluster" (the controller's and every other client's) or "controller" (only the controller's)`)
	fs.DurationVar(&o.settleMax, "settle-max", 10*time.Minute, "give up settling after this long and start the idle window anyway")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Minute, "give up if not all workspaces are Ready by then")
	fs.DurationVar(&o.podsReadyTimeout, "pods-ready-timeout", 10*time.Minute, "after all are Ready, how long to wait for all to be PodsReady (their default ServiceAccount made)")
	fs.IntVar(&o.clusterRulesEvery, "cluster-rules-every", 10, "every k-th workspace also gets cluster rules (a ClusterRole and binding); 0 for none")
	fs.BoolVar(&o.unsafeNoFsync, "unsafe-no-fsync", false, "run etcd without fsync (faster, less like production)")
	fs.StringVar(&o.dataDir, "data-dir", "", "control plane data directory (default: a new temporary directory, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the data directory (etcd data, component and controller logs)")
	fs.StringVar(&o.binary, "controller-binary", "", "controller binary to run: tenancy-controller, or tenancy run as `tenancy controller` (default: built from ./cmd/tenancy-controller, what the installed controller runs)")
	fs.BoolVar(&o.skipCeiling, "skip-ceiling", false, "measure Tenancy only")
	fs.BoolVar(&o.skipTenancy, "skip-tenancy", false, "measure the ceilings only, on a control plane of their own (compare with a -skip-ceiling run: neither then meets the other's objects)")
	fs.BoolVar(&o.ceilingFirst, "ceiling-first", false, "measure the ceilings before Tenancy")
	fs.BoolVar(&o.sharedPlane, "shared-control-plane", false, "measure Tenancy and the ceilings on one control plane, one after the other, so that the second meets the first's objects (to see what that costs); by default each gets a fresh one")
	fs.BoolVar(&o.createOnly, "create-only", true, "also measure the create-only ceiling (the objects alone)")
	fs.BoolVar(&o.optimalApply, "optimal-apply", false, "also measure the create-only client writing with server-side apply instead of create")
	fs.BoolVar(&o.admission, "admission", true, "install the admission policies as `tenancy install` does (the finalizer is then set at admission); false measures the controller's fallback")
	fs.BoolVar(&o.restart, "restart", true, "after the idle window, restart the controller and measure how long it takes to verify every workspace, and that it writes nothing")
	fs.BoolVar(&o.deletion, "delete", true, "delete every workspace and measure until all are gone (and the honest ceiling's own deletion)")
	fs.StringVar(&o.jsonPath, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.chartWith, "chart-with", "", "draw in the -svg chart the ceilings of this -json file of another run (a -skip-tenancy run on a control plane of its own) instead of this run's")
	fs.StringVar(&o.chartFrom, "chart-from", "", "measure nothing: draw the -svg chart from this -json file of an earlier run (its ceilings, or -chart-with's)")
	fs.StringVar(&o.svgPath, "svg", "", "write a chart of workspaces Ready over time (Tenancy beside the ceilings) to this SVG file")
	fs.StringVar(&o.profileDir, "profile", "", "write pprof profiles here: the controller's and kube-apiserver's CPU over -profile-seconds of provisioning, the controller's heap after the idle window")
	fs.IntVar(&o.profileSeconds, "profile-seconds", 30, "how long the CPU profiles of -profile run")
	fs.DurationVar(&o.profileDelay, "profile-delay", 0, "start the CPU profiles of -profile this long after the first create (late in a long run, where it slows down)")
	fs.StringVar(&o.gomemlimit, "gomemlimit", "", "GOMEMLIMIT of the controller process (e.g. 100MiB; default: none)")
	fs.StringVar(&o.godebug, "godebug", "", "GODEBUG of the controller process, for diagnosis (e.g. gctrace=1, with -keep to read the controller's log; memprofilerate=2048 for a finer -profile heap)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.n < 1 || o.concurrency < 1 || o.creators < 1 {
		return errors.New("-n, -concurrency and -creators must be at least 1")
	}
	if o.chartFrom != "" {
		if o.svgPath == "" {
			return errors.New("-chart-from draws a chart: give the file to write with -svg")
		}
		res, err := readResults(o.chartFrom)
		if err != nil {
			return fmt.Errorf("-chart-from: %w", err)
		}
		if res.Tenancy != nil && len(res.Tenancy.ReadyTimes) == 0 {
			return fmt.Errorf("-chart-from: %s has no Ready times (written before the bench recorded them): run again", o.chartFrom)
		}
		if err := drawChart(o.svgPath, res, o.chartWith); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "chart written to %s\n", o.svgPath)
		return nil
	}
	if o.skipTenancy && o.skipCeiling {
		return errors.New("-skip-tenancy and -skip-ceiling leave nothing to measure: drop one")
	}
	if o.profileSeconds < 1 {
		return fmt.Errorf("-profile-seconds must be at least 1, got %d", o.profileSeconds)
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
	dir           string   // data directory
	planes        []string // the control planes' data directories, in dir
	version       string   // of the source tree the controller is built from
	start         time.Time

	a          tenancyPhase
	ceiling    ceilingPhase // honest
	createOnly ceilingPhase
	apply      ceilingPhase // create-only with server-side apply (-optimal-apply)
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
			for _, p := range b.planes {
				_ = os.RemoveAll(filepath.Join(p, "etcd"))
			}
			fmt.Fprintf(b.progress, "logs kept in %s (controller log %s)\n", b.logDirs(), b.a.logPath)
		case o.dataDir == "":
			_ = os.RemoveAll(b.dir)
		}
	}()

	b.version = sourceVersion(ctx)
	binary := o.binary
	if binary == "" {
		binary = filepath.Join(b.dir, "tenancy-controller")
		b.logf("building ./cmd/tenancy-controller")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/tenancy-dev/tenancy/cmd/tenancy-controller")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/tenancy-controller: %w\n%s", err, out)
		}
	}

	// Each phase gets a fresh control plane unless -shared-control-plane:
	// whoever ran second on a shared one would meet the first's objects
	// (their RBAC bindings slow every request; bench/README.md).
	first, second := "tenancy", "ceiling"
	if o.ceilingFirst {
		first, second = second, first
	}
	var phases []string
	for _, p := range []string{first, second} {
		if (p == "tenancy" && !o.skipTenancy) || (p == "ceiling" && !o.skipCeiling) {
			phases = append(phases, p)
		}
	}
	var tenancyErr error
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for i, phase := range phases {
		if i == 0 || !o.sharedPlane {
			dir := b.dir
			if len(phases) > 1 && !o.sharedPlane {
				dir = filepath.Join(b.dir, phase)
			}
			stop, err := b.startPlane(ctx, dir)
			if err != nil {
				return err
			}
			stops = append(stops, stop)
		}
		switch phase {
		case "tenancy":
			tenancyErr = b.tenancy(ctx, binary)
			if tenancyErr != nil && !errors.Is(tenancyErr, errVerdict) {
				return tenancyErr
			}
		case "ceiling":
			if err := b.ceilings(ctx); err != nil {
				return err
			}
		}
		if i+1 < len(phases) && !o.sharedPlane {
			if err := b.cluster.Stop(); err != nil {
				return fmt.Errorf("stop the %s phase's control plane: %w", phase, err)
			}
		}
	}
	res := b.results()
	b.report(res)
	if o.jsonPath != "" {
		if err := res.write(o.jsonPath); err != nil {
			return err
		}
		b.logf("results written to %s", o.jsonPath)
	}
	if o.svgPath != "" {
		if err := drawChart(o.svgPath, res, o.chartWith); err != nil {
			return err
		}
		b.logf("chart written to %s", o.svgPath)
	}
	if tenancyErr != nil {
		return tenancyErr
	}
	failed = false
	return nil
}

// startPlane starts a fresh control plane in dir, with Tenancy's CRDs
// and (with -admission) its admission policies, as b.cluster and b.client;
// stop stops it.
func (b *bench) startPlane(ctx context.Context, dir string) (stop func(), err error) {
	o := b.o
	b.planes = append(b.planes, dir)
	b.logf("starting a control plane in %s (etcd fsync %s)", dir, onOff(!o.unsafeNoFsync))
	b.cluster, err = localcluster.Start(ctx, localcluster.Options{
		DataDir: dir, Reset: true, UnsafeNoFsync: o.unsafeNoFsync, Progress: prefixWriter{b},
		APIServerProfiling: o.profileDir != "",
	})
	if err != nil {
		return nil, err
	}
	c := b.cluster
	stop = func() { _ = c.Stop() }
	cfg := c.Config()
	cfg.QPS, cfg.Burst = 1000, 2000 // the driver must not be the bottleneck
	if b.client, err = client.New(cfg, client.Options{Scheme: controller.Scheme()}); err != nil {
		stop()
		return nil, err
	}
	if err := install.CRDs(ctx, b.client); err != nil {
		stop()
		return nil, err
	}
	if o.admission {
		mutating, err := install.Admission(ctx, b.client, c.Config())
		if err != nil {
			stop()
			return nil, err
		}
		b.logf("admission policies installed (MutatingAdmissionPolicy %s)", onOff(mutating))
	}
	if err := b.waitForGarbageCollector(ctx); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// waitForGarbageCollector waits until kube-controller-manager watches
// Workspaces, as it does on a cluster where Tenancy was installed before
// anybody made workspaces. It finds new resources every 30 seconds; until
// then its garbage collector takes each Workspace that an object names as
// owner for one it has not seen, and looks it and its dependents up: some
// 3.4 GETs per workspace made in that time (3400 for the first 1000), all
// of them kube-apiserver's work that a real installation does not pay.
func (b *bench) waitForGarbageCollector(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(b.cluster.Config())
	if err != nil {
		return err
	}
	start := time.Now()
	for {
		ms, err := scrapeAPIServer(ctx, cs.Discovery().RESTClient())
		if err != nil {
			return err
		}
		watching := ms.sum("apiserver_longrunning_requests", func(*dto.Metric) string { return "" }, func(m *dto.Metric) bool {
			return label(m, "group") == tenancyv1.GroupVersion.Group && label(m, "resource") == "workspaces" && label(m, "verb") == "WATCH"
		}).total()
		if watching > 0 {
			break
		}
		if time.Since(start) > 2*time.Minute {
			return errors.New("kube-controller-manager did not watch Workspaces within 2 minutes of their CRD's install")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	// Its quota controller and garbage collector find new resources each
	// on its own 30-second tick, started together; give the second a
	// moment.
	time.Sleep(5 * time.Second)
	b.logf("kube-controller-manager watches Workspaces (%s after their CRD's install)", time.Since(start).Round(time.Second))
	return nil
}

// logDirs is where the control planes keep their logs.
func (b *bench) logDirs() string {
	var dirs []string
	for _, p := range b.planes {
		dirs = append(dirs, filepath.Join(p, "logs"))
	}
	return strings.Join(dirs, " and ")
}

// errVerdict: a measured property that must hold did not (writes in the
// idle window or after a restart, objects left behind by a deletion).
var errVerdict = errors.New("the controller failed a check")

func (b *bench) ceilings(ctx context.Context) error {
	o := b.o
	b.logf("ceiling: one client POSTing each Workspace, its objects and one status write, %d workspaces in parallel (controller not running)", o.concurrency)
	var err error
	if b.ceiling, err = b.runCeiling(ctx, ceilingPrefix, ceilingHonest, o.deletion); err != nil {
		return err
	}
	b.logf("ceiling: done in %s", b.ceiling.done.Round(time.Millisecond))
	if o.createOnly {
		b.logf("create-only ceiling: the objects alone, one POST each")
		if b.createOnly, err = b.runCeiling(ctx, "opt-", ceilingCreateOnly, false); err != nil {
			return err
		}
		b.logf("create-only ceiling: done in %s", b.createOnly.done.Round(time.Millisecond))
	}
	if o.optimalApply {
		b.logf("create-only ceiling with server-side apply")
		if b.apply, err = b.runCeiling(ctx, "opt-apply-", ceilingApply, false); err != nil {
			return err
		}
		b.logf("create-only ceiling with server-side apply: done in %s", b.apply.done.Round(time.Millisecond))
	}
	return nil
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

func machine() string {
	return fmt.Sprintf("%d CPUs, %s RAM, load average %s, Go %s", runtime.NumCPU(), memTotal(), loadAvg(), runtime.Version())
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
