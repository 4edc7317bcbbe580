package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/bench/internal/procstat"
	"github.com/tenancy-dev/tenancy/config"
	"github.com/tenancy-dev/tenancy/internal/childproc"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/controller/process"
)

type tenancyPhase struct {
	createAll      time.Duration // first create → last create returned
	allReady       time.Duration // first create → all Ready
	allPodsReady   time.Duration // first create → all PodsReady (0: not all)
	podsReady      int
	first          time.Time
	rec            *recorder
	requests       clientRequests // first create → all Ready
	startRequests  clientRequests // controller start-up, before the first create
	settleRequests clientRequests
	settleTook     time.Duration
	settled        bool
	idleRequests   clientRequests
	idle           time.Duration
	peakRSS        int64
	memNow, goMem  string // after the idle window
	logPath        string

	idleChanges         workspaceChanges // Workspace updates seen in the idle window
	idleClusterWrites   counts           // writes in the idle window by the API server's count
	settleClusterWrites counts           // writes while settling by the API server's count
	clusterRequests     counts           // first create → all Ready, by the API server's count
	cpu                 procstat.CPU

	restart      *restartResults
	delete       *deleteResults
	deleteDetail []string
}

// tenancy is the main phase: the controller, as its own process, provisions
// o.n Workspaces created at once.
func (b *bench) tenancy(ctx context.Context, binary string) error {
	o, a := b.o, &b.a
	a.logPath = filepath.Join(b.cluster.LogDir(), "tenancy-controller.log")
	kubeconfig, err := b.controllerKubeconfig(ctx)
	if err != nil {
		return err
	}
	proc := &process.Controller{
		Binary: binary, Kubeconfig: kubeconfig, LogPath: a.logPath, Concurrency: o.concurrency,
		Metrics: true, Spawn: childproc.NewSpawner(),
	}
	if o.profileDir != "" {
		proc.Args = append(proc.Args, "--profiling")
	}
	if o.gomemlimit != "" {
		proc.Env = []string{"GOMEMLIMIT=" + o.gomemlimit}
	}
	if o.godebug != "" {
		proc.Env = append(proc.Env, "GODEBUG="+o.godebug)
	}
	defer func() {
		if proc.Running() {
			_, _ = proc.Stop(15 * time.Second)
		}
		proc.Spawn.Close()
	}()
	if err := proc.Start(); err != nil {
		return err
	}
	if err := proc.WaitReady(ctx, time.Minute); err != nil {
		return err
	}
	b.logf("tenancy: controller running (pid %d, --concurrency %d, log %s)", proc.PID(), o.concurrency, a.logPath)

	// Watch Workspaces to see each become Ready, then PodsReady, then gone.
	a.rec = newRecorder(o.n, "bench-", tenancyv1.ConditionReady, tenancyv1.ConditionPodsReady)
	var deleted atomic.Int64
	informers, err := cache.New(b.cluster.Config(), cache.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	inf, err := informers.GetInformer(ctx, &tenancyv1.Workspace{})
	if err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: a.rec.observe,
		UpdateFunc: func(old, obj any) {
			a.rec.observe(obj)
			a.idleChanges.observe(old, obj)
		},
		DeleteFunc: func(obj any) {
			if m, err := metaOf(obj); err == nil && strings.HasPrefix(m.GetName(), "bench-") {
				deleted.Add(1)
			}
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
	before, err := b.scrapeController(ctx, proc)
	if err != nil {
		return err
	}
	beforeCluster, err := b.scrapeCluster(ctx, apiRC)
	if err != nil {
		return err
	}
	ctrlPID := map[string]int{"tenancy-controller": proc.PID()}
	cpuBefore := procstat.TakeCPU(b.dir, ctrlPID)
	a.startRequests = before

	b.logf("tenancy: creating %d Workspaces with %d parallel clients", o.n, o.creators)
	if o.profileDir != "" {
		go func() {
			select {
			case <-time.After(o.profileDelay):
			case <-ctx.Done():
				return
			}
			go b.saveProfile(ctx, proc, "/debug/pprof/profile?seconds="+strconv.Itoa(o.profileSeconds), "controller-cpu.pprof")
			b.saveAPIServerProfile(ctx, o.profileSeconds, "kube-apiserver-cpu.pprof")
		}()
	}
	a.first = time.Now()
	err = b.parallel(ctx, o.creators, func(ctx context.Context, i int) error {
		name := wsName(i)
		a.rec.created(name, time.Now())
		return b.client.Create(ctx, newWorkspace(name, i, o.clusterRulesEvery))
	})
	a.createAll = time.Since(a.first)
	if err != nil {
		return fmt.Errorf("create Workspaces: %w", err)
	}
	b.logf("tenancy: created %d Workspaces in %s", o.n, a.createAll.Round(time.Millisecond))

	if err := b.waitFor(ctx, a.rec.done[tenancyv1.ConditionReady], o.timeout, proc, func() string {
		rc, _ := b.scrapeController(ctx, proc)
		return fmt.Sprintf("%d/%d Ready, %d PodsReady; controller requests so far %.0f", a.rec.count(tenancyv1.ConditionReady), o.n,
			a.rec.count(tenancyv1.ConditionPodsReady), rc.sub(before).total())
	}); err != nil {
		return fmt.Errorf("not all Ready: %w", err)
	}
	a.allReady = a.rec.last(tenancyv1.ConditionReady).Sub(a.first)
	after, err := b.scrapeController(ctx, proc)
	if err != nil {
		return err
	}
	a.requests = after.sub(before)
	a.cpu = procstat.TakeCPU(b.dir, ctrlPID).Sub(cpuBefore)
	afterCluster, err := b.scrapeCluster(ctx, apiRC)
	if err != nil {
		return err
	}
	a.clusterRequests = afterCluster.sub(beforeCluster)
	b.logf("tenancy: all %d Ready %s after the first create", o.n, a.allReady.Round(time.Millisecond))

	podsErr := b.waitFor(ctx, a.rec.done[tenancyv1.ConditionPodsReady], o.podsReadyTimeout, proc, func() string {
		return fmt.Sprintf("%d/%d PodsReady", a.rec.count(tenancyv1.ConditionPodsReady), o.n)
	})
	a.podsReady = a.rec.count(tenancyv1.ConditionPodsReady)
	if podsErr == nil {
		a.allPodsReady = a.rec.last(tenancyv1.ConditionPodsReady).Sub(a.first)
		b.logf("tenancy: all %d PodsReady %s after the first create", o.n, a.allPodsReady.Round(time.Millisecond))
	} else if ctx.Err() != nil {
		return ctx.Err()
	}

	// Settle: the controller may still react to its own writes, and
	// kube-controller-manager may still be filling in quota status. Wait
	// until neither the controller nor any other client (leases and events
	// aside) has written for o.settle.
	settleStart := time.Now()
	last := after
	lastCluster, err := b.scrapeCluster(ctx, apiRC)
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
		now, err := b.scrapeController(ctx, proc)
		if err != nil {
			return err
		}
		nowCluster, err := b.scrapeCluster(ctx, apiRC)
		if err != nil {
			return err
		}
		clusterBusy := o.settleScope == "cluster" && len(nowCluster.sub(lastCluster).writesOnly().withoutHousekeeping()) > 0
		if now.writes() != last.writes() || clusterBusy {
			quietSince = time.Now()
		}
		last, lastCluster = now, nowCluster
	}
	a.settled = time.Since(quietSince) >= o.settle
	a.settleTook = time.Since(settleStart)
	a.settleRequests = last.sub(after)
	a.settleClusterWrites = lastCluster.sub(settleCluster).writesOnly().withoutHousekeeping()
	b.logf("tenancy: settled in %s (%.0f more requests, %.0f writes)", a.settleTook.Round(time.Second),
		a.settleRequests.total(), a.settleRequests.writes())

	// Idle window.
	b.logf("tenancy: idle window of %s", o.idle)
	idleStart, err := b.scrapeController(ctx, proc)
	if err != nil {
		return err
	}
	clusterStart, err := b.scrapeCluster(ctx, apiRC)
	if err != nil {
		return err
	}
	a.idleChanges.active.Store(true)
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.idle):
	}
	idleEnd, err := b.scrapeController(ctx, proc)
	if err != nil {
		return err
	}
	a.idleChanges.active.Store(false)
	a.idle = time.Since(t0)
	a.idleRequests = idleEnd.sub(idleStart)
	clusterEnd, err := b.scrapeCluster(ctx, apiRC)
	if err != nil {
		return err
	}
	a.idleClusterWrites = clusterEnd.sub(clusterStart).writesOnly()
	if a.peakRSS, err = procstat.PeakRSS(proc.PID()); err != nil {
		return err
	}
	a.memNow = procstat.MemDetail(proc.PID())
	if o.profileDir != "" {
		b.saveProfile(ctx, proc, "/debug/pprof/heap?gc=1", "controller-heap.pprof")
	}
	if ms, err := scrapeURL(ctx, proc.MetricsURL()); err == nil {
		a.goMem = goMemory(ms)
	}
	b.logf("tenancy: %.0f writes in the idle window", a.idleRequests.writes())
	verdict := a.idleRequests.writes() == 0

	if o.restart {
		if err := b.restart(ctx, proc); err != nil {
			return err
		}
		verdict = verdict && a.restart.Writes == 0
	}
	if o.deletion {
		if err := b.deleteAll(ctx, proc, &deleted); err != nil {
			return err
		}
		verdict = verdict && a.delete.LeftBehind == 0
	}
	if !verdict {
		return errVerdict
	}
	return nil
}

// restart stops the controller and starts it again on the provisioned
// cluster, and measures from the start until it has reconciled every
// workspace with nothing left in its queue; it must write nothing.
func (b *bench) restart(ctx context.Context, proc *process.Controller) error {
	o := b.o
	b.logf("restart: stopping the controller and starting it again")
	if _, err := proc.Stop(15 * time.Second); err != nil {
		return err
	}
	t0 := time.Now()
	if err := proc.Start(); err != nil {
		return err
	}
	r := &restartResults{}
	b.a.restart = r
	deadline := time.Now().Add(10 * time.Minute)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if proc.Exited() {
			return fmt.Errorf("the restarted controller exited; see %s", proc.LogPath)
		}
		ms, err := scrapeURL(ctx, proc.MetricsURL())
		if err != nil {
			continue // not serving yet
		}
		rec := workspaceReconciles(ms)
		if rec.total >= float64(o.n) && rec.depth == 0 {
			r.VerifiedSeconds = time.Since(t0).Seconds()
			r.Reconciles = rec.total
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the restarted controller reconciled %.0f of %d workspaces in 10 minutes", rec.total, o.n)
		}
	}
	// Anything the reconciles wrote is counted; wait a little for late ones.
	time.Sleep(5 * time.Second)
	ms, err := scrapeURL(ctx, proc.MetricsURL())
	if err != nil {
		return err
	}
	r.Writes = controllerRequests(ms).writes()
	if r.PeakRSSBytes, err = procstat.PeakRSS(proc.PID()); err != nil {
		return err
	}
	b.logf("restart: every workspace verified %.1fs after the start, %.0f writes", r.VerifiedSeconds, r.Writes)
	return nil
}

// deleteAll deletes every workspace and waits until all are gone (the
// controller lets a Workspace go once its namespace is gone), then counts
// what is left of Tenancy's objects.
func (b *bench) deleteAll(ctx context.Context, proc *process.Controller, deleted *atomic.Int64) error {
	o := b.o
	b.logf("delete: deleting %d Workspaces with %d parallel clients", o.n, o.creators)
	deleted.Store(0)
	t0 := time.Now()
	if err := b.parallel(ctx, o.creators, func(ctx context.Context, i int) error {
		return client.IgnoreNotFound(b.client.Delete(ctx, &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: wsName(i)}}))
	}); err != nil {
		return fmt.Errorf("delete Workspaces: %w", err)
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for deleted.Load() < int64(o.n) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if err := b.waitFor(ctx, gone, o.timeout, proc, func() string {
		return fmt.Sprintf("%d/%d Workspaces gone", deleted.Load(), o.n)
	}); err != nil {
		return fmt.Errorf("not all Workspaces gone: %w", err)
	}
	d := &deleteResults{Seconds: time.Since(t0).Seconds()}
	b.a.delete = d
	left, detail, err := b.leftBehind(ctx, tenancyv1.ManagedByValue, "bench-")
	if err != nil {
		return err
	}
	d.LeftBehind, b.a.deleteDetail = left, detail
	b.logf("delete: all gone %.1fs after the first delete; %d objects left behind", d.Seconds, left)
	return nil
}

// leftBehind counts Workspaces named prefix… and the namespaces, cluster
// roles and bindings labelled managed-by=managedBy for them.
func (b *bench) leftBehind(ctx context.Context, managedBy, prefix string) (int, []string, error) {
	sel := client.MatchingLabels{tenancyv1.LabelManagedBy: managedBy}
	var detail []string
	n := 0
	count := func(kind string, list client.ObjectList, names func() []string) error {
		if err := b.client.List(ctx, list, sel); err != nil {
			return err
		}
		k := 0
		for _, name := range names() {
			if strings.HasPrefix(name, prefix) || strings.Contains(name, ":"+prefix) {
				k++
			}
		}
		if k > 0 {
			detail = append(detail, fmt.Sprintf("%s: %d", kind, k))
		}
		n += k
		return nil
	}
	nss, crs, crbs := &corev1.NamespaceList{}, &rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{}
	wss := &tenancyv1.WorkspaceList{}
	if err := count("Namespace", nss, func() []string { return names(nss.Items, func(o corev1.Namespace) string { return o.Name }) }); err != nil {
		return 0, nil, err
	}
	if err := count("ClusterRole", crs, func() []string { return names(crs.Items, func(o rbacv1.ClusterRole) string { return o.Name }) }); err != nil {
		return 0, nil, err
	}
	if err := count("ClusterRoleBinding", crbs, func() []string {
		return names(crbs.Items, func(o rbacv1.ClusterRoleBinding) string { return o.Name })
	}); err != nil {
		return 0, nil, err
	}
	if err := b.client.List(ctx, wss); err != nil {
		return 0, nil, err
	}
	k := 0
	for _, ws := range wss.Items {
		if strings.HasPrefix(ws.Name, prefix) {
			k++
		}
	}
	if k > 0 {
		detail = append(detail, fmt.Sprintf("Workspace: %d", k))
	}
	return n + k, detail, nil
}

func names[T any](items []T, name func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, name(it))
	}
	return out
}

// waitFor waits until done is closed, logging progress every 5 s.
func (b *bench) waitFor(ctx context.Context, done <-chan struct{}, timeout time.Duration, proc *process.Controller, progress func() string) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
			b.logf("  %s", progress())
			if proc != nil && proc.Exited() {
				return fmt.Errorf("the controller exited; see %s", proc.LogPath)
			}
		case <-deadline:
			return fmt.Errorf("%s after %s; see %s", progress(), timeout, b.a.logPath)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parallel runs f for 0…o.n-1 with k workers, returning the first error
// and how many failed.
func (b *bench) parallel(ctx context.Context, k int, f func(ctx context.Context, i int) error) error {
	jobs := make(chan int)
	var failed atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for i := range jobs {
				if err := f(ctx, i); err != nil {
					failed.Add(1)
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range b.o.n {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d failed, the first: %w", n, b.o.n, first)
	}
	return ctx.Err()
}

func (b *bench) scrapeController(ctx context.Context, p *process.Controller) (clientRequests, error) {
	ms, err := scrapeURL(ctx, p.MetricsURL())
	if err != nil {
		return clientRequests{}, err
	}
	return controllerRequests(ms), nil
}

func (b *bench) scrapeCluster(ctx context.Context, rc rest.Interface) (counts, error) {
	ms, err := scrapeAPIServer(ctx, rc)
	if err != nil {
		return nil, err
	}
	return apiserverRequests(ms), nil
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

func wsName(i int) string { return fmt.Sprintf("bench-%05d", i) }

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
	if err := b.client.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: controllerUser}},
	}
	if err := b.client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("bind ClusterRole %s: %w", role.Name, err)
	}
	cfg, err := b.cluster.UserConfig(controllerUser)
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.dir, "tenancy-controller.kubeconfig")
	return path, b.cluster.WriteKubeconfig(path, cfg, "")
}

// saveProfile fetches a pprof profile from the controller into -profile.
func (b *bench) saveProfile(ctx context.Context, proc *process.Controller, path, file string) {
	url := strings.TrimSuffix(proc.MetricsURL(), "/metrics") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.logf("profile %s: %v", path, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	b.writeProfile(resp.Body, path, file)
}

// saveAPIServerProfile fetches kube-apiserver's CPU profile (its
// /debug/pprof, as admin) over seconds into -profile: where the API
// server's time goes is what bounds provisioning.
func (b *bench) saveAPIServerProfile(ctx context.Context, seconds int, file string) {
	cfg := b.cluster.Config()
	cfg.Timeout = time.Duration(seconds+30) * time.Second
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		b.logf("profile of kube-apiserver: %v", err)
		return
	}
	url := strings.TrimSuffix(cfg.Host, "/") + "/debug/pprof/profile?seconds=" + strconv.Itoa(seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		b.logf("profile of kube-apiserver: %v", err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b.logf("profile of kube-apiserver: %s", resp.Status)
		return
	}
	b.writeProfile(resp.Body, "kube-apiserver "+url, file)
}

// writeProfile copies a profile into -profile.
func (b *bench) writeProfile(r io.Reader, what, file string) {
	if err := os.MkdirAll(b.o.profileDir, 0o755); err != nil {
		b.logf("profile: %v", err)
		return
	}
	out := filepath.Join(b.o.profileDir, file)
	f, err := os.Create(out)
	if err != nil {
		b.logf("profile: %v", err)
		return
	}
	defer func() { _ = f.Close() }()
	if _, err := io.Copy(f, r); err != nil {
		b.logf("profile %s: %v", what, err)
		return
	}
	b.logf("profile written to %s (go tool pprof -top %s)", out, out)
}
