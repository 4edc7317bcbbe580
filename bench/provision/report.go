package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// separatePlanes is results.ControlPlanes when each phase had a control
// plane of its own (the default).
const separatePlanes = "separate: Tenancy and the ceilings each on a fresh one, one after the other"

// results gathers the figures -json writes and the report prints.
func (b *bench) results() *results {
	o, a := b.o, &b.a
	n := float64(o.n)
	res := &results{Workspaces: o.n, Version: b.version, Machine: machine(), Ratios: map[string]float64{}}
	switch {
	case o.skipTenancy || o.skipCeiling:
	case o.sharedPlane && o.ceilingFirst:
		res.ControlPlanes = "shared: Tenancy after the ceilings, among their objects"
	case o.sharedPlane:
		res.ControlPlanes = "shared: the ceilings after Tenancy, among its objects"
	default:
		res.ControlPlanes = separatePlanes
	}
	steady := a.requests.add(a.settleRequests)
	res.Tenancy = &tenancyResults{
		ReadySeconds:         a.allReady.Seconds(),
		PodsReadySeconds:     a.allPodsReady.Seconds(),
		CPUSeconds:           a.cpu.Total().Seconds(),
		APIServerCPUSeconds:  a.cpu["kube-apiserver"].Seconds(),
		PeakRSSBytes:         a.peakRSS,
		GoMemLimit:           o.gomemlimit,
		IdleWrites:           a.idleRequests.writes(),
		WritesPerWorkspace:   (n + steady.writes()) / n, // the Workspace's create, then the controller's
		RequestsPerWorkspace: (n + steady.total()) / n,
		Restart:              a.restart,
		Delete:               a.delete,
	}
	if a.rec != nil { // nil with -skip-tenancy
		res.Tenancy.ReadyTimes = seconds(a.rec.since(tenancyv1.ConditionReady, a.first))
		res.Tenancy.PodsReadyTimes = seconds(a.rec.since(tenancyv1.ConditionPodsReady, a.first))
	}
	ceiling := func(p ceilingPhase) ceilingResults {
		return ceilingResults{Seconds: p.done.Seconds(), CPUSeconds: p.cpu.Total().Seconds(),
			APIServerCPUSeconds: p.cpu["kube-apiserver"].Seconds(),
			WritesPerWorkspace:  float64(p.requests) / n, Delete: p.delete, DoneSeconds: seconds(p.times)}
	}
	if o.skipTenancy {
		res.Tenancy = nil
	}
	if b.ceiling.ran {
		res.Ceiling = ceiling(b.ceiling)
	}
	if b.createOnly.ran {
		res.CreateOnlyCeiling = ceiling(b.createOnly)
	}
	if res.Tenancy == nil {
		return res
	}
	if b.ceiling.ran {
		res.Ratios["readyTime"] = res.Tenancy.ReadySeconds / res.Ceiling.Seconds
		res.Ratios["cpu"] = res.Tenancy.CPUSeconds / res.Ceiling.CPUSeconds
		res.Ratios["writes"] = res.Tenancy.WritesPerWorkspace / res.Ceiling.WritesPerWorkspace
		if a.delete != nil && b.ceiling.delete != nil {
			res.Ratios["deleteTime"] = a.delete.Seconds / b.ceiling.delete.Seconds
		}
	}
	if b.createOnly.ran {
		res.Ratios["readyTimeVsCreateOnly"] = res.Tenancy.ReadySeconds / res.CreateOnlyCeiling.Seconds
		res.Ratios["cpuVsCreateOnly"] = res.Tenancy.CPUSeconds / res.CreateOnlyCeiling.CPUSeconds
	}
	return res
}

func (c clientRequests) add(d clientRequests) clientRequests {
	out := clientRequests{byMethod: counts{}, byCode: counts{}}
	for _, src := range []clientRequests{c, d} {
		for k, v := range src.byMethod {
			out.byMethod[k] += v
		}
		for k, v := range src.byCode {
			out.byCode[k] += v
		}
	}
	return out
}

func (b *bench) report(res *results) {
	o := b.o
	w := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	defer func() { _ = w.Flush() }()
	n := float64(o.n)
	row := func(k, v string) { fmt.Fprintf(w, "  %s\t%s\n", k, v) }
	perWS := func(d time.Duration) string { return fmt.Sprintf("%.1f ms per workspace", float64(d.Milliseconds())/n) }

	fmt.Fprintf(w, "\nTenancy provisioning benchmark — %s\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %s; etcd fsync %s\n", res.Machine, onOff(!o.unsafeNoFsync))
	if o.binary == "" {
		fmt.Fprintf(w, "controller: built from %s", b.version)
	} else {
		fmt.Fprintf(w, "controller: %s", o.binary)
	}
	fmt.Fprintf(w, ", running as User %s with the ClusterRole of config/rbac; admission policies %s\n", controllerUser, onOff(o.admission))
	fmt.Fprintf(w, "workload: %d workspaces (owner, quota, limit range, network policy, namespace rule; every %dth a cluster rule)\n",
		o.n, o.clusterRulesEvery)
	if !o.skipTenancy && !o.skipCeiling {
		fmt.Fprintf(w, "control planes: %s\n", res.ControlPlanes)
	}
	fmt.Fprintln(w)

	if !o.skipTenancy {
		b.reportTenancy(w, res)
	}

	ceiling := func(title string, p ceilingPhase) {
		if !p.ran {
			return
		}
		fmt.Fprintf(w, "\n%s (%d workspaces in parallel, no client-side QPS limit, controller not running)\n", title, o.concurrency)
		row("all done", fmt.Sprintf("%s  (%.1f workspaces/s)", p.done.Round(time.Millisecond), n/p.done.Seconds()))
		row("requests (all writes)", fmt.Sprintf("%d  (%.2f per workspace)", p.requests, float64(p.requests)/n))
		row("CPU time", fmt.Sprintf("%.1fs = %s (%s)", p.cpu.Total().Seconds(), perWS(p.cpu.Total()), p.cpu))
		if p.requests > 0 {
			row("kube-apiserver CPU per request", fmt.Sprintf("%.2f ms", float64(p.cpu["kube-apiserver"].Microseconds())/1000/float64(p.requests)))
		}
		if d := p.delete; d != nil {
			row("delete all → all gone", fmt.Sprintf("%.1fs, %d objects left behind", d.Seconds, d.LeftBehind))
		}
	}
	ceiling("Ceiling — one client: POST the Workspace, POST its objects, write its status once", b.ceiling)
	ceiling("Create-only ceiling — one client: POST the objects", b.createOnly)
	ceiling("Create-only ceiling with server-side apply", b.apply)

	if len(res.Ratios) > 0 {
		fmt.Fprintf(w, "\nTenancy / ceiling\n")
		for _, k := range []string{"readyTime", "cpu", "writes", "deleteTime", "readyTimeVsCreateOnly", "cpuVsCreateOnly"} {
			if v, ok := res.Ratios[k]; ok {
				row(k, fmt.Sprintf("%.2f×", v))
			}
		}
	}
	fmt.Fprintln(w)
}

// reportTenancy prints the figures of the Tenancy phase.
func (b *bench) reportTenancy(w io.Writer, res *results) {
	o, a := b.o, &b.a
	n := float64(o.n)
	row := func(k, v string) { fmt.Fprintf(w, "  %s\t%s\n", k, v) }
	perWS := func(d time.Duration) string { return fmt.Sprintf("%.1f ms per workspace", float64(d.Milliseconds())/n) }

	memLimit := ""
	if o.gomemlimit != "" {
		memLimit = ", GOMEMLIMIT=" + o.gomemlimit
	}
	fmt.Fprintf(w, "Tenancy controller (--concurrency %d, %d parallel creators%s)\n", o.concurrency, o.creators, memLimit)
	row("create all Workspaces (client side)", a.createAll.Round(time.Millisecond).String())
	row("first create → all Ready", fmt.Sprintf("%s  (%.1f workspaces/s)", a.allReady.Round(time.Millisecond), n/a.allReady.Seconds()))
	if l := a.rec.latencies(tenancyv1.ConditionReady); len(l) > 0 {
		row("create → Ready per workspace", percentiles(l))
	}
	if a.allPodsReady > 0 {
		row("first create → all PodsReady", a.allPodsReady.Round(time.Millisecond).String()+" (their default ServiceAccount made by kube-controller-manager)")
	} else {
		row("first create → all PodsReady", fmt.Sprintf("not reached: %d of %d after %s", a.podsReady, o.n, o.podsReadyTimeout))
	}
	if l := a.rec.latencies(tenancyv1.ConditionPodsReady); len(l) > 0 {
		row("create → PodsReady per workspace", percentiles(l))
	}
	row("controller start-up requests", fmt.Sprintf("%.0f (before the first create: lists and watches)", a.startRequests.total()))
	row("controller requests, first create → all Ready", fmt.Sprintf("%.0f  (%.2f per workspace)", a.requests.total(), a.requests.total()/n))
	for _, m := range a.requests.methods() {
		v := a.requests.byMethod[m]
		label := m
		if m == "GET" {
			label = "GET (incl. LIST and WATCH)"
		}
		row("    "+label, fmt.Sprintf("%.0f  (%.2f per workspace)", v, v/n))
	}
	row("    by status code", strings.Join(a.requests.byCode.lines(), ", "))
	settled := "settled"
	if !a.settled {
		settled = "did NOT settle"
	}
	quiet := "any writes"
	if o.settleScope == "controller" {
		quiet = "controller writes"
	}
	row(fmt.Sprintf("after all Ready, until %s without %s", o.settle, quiet), fmt.Sprintf("%.0f requests, %.0f writes (%s after %s)",
		a.settleRequests.total(), a.settleRequests.writes(), settled, a.settleTook.Round(time.Second)))
	row("    by the API server's count (all clients)", orNone(a.settleClusterWrites.lines()))
	row("writes per workspace to steady state", fmt.Sprintf("%.2f (the Workspace's create + the controller's %.2f)",
		res.Tenancy.WritesPerWorkspace, res.Tenancy.WritesPerWorkspace-1))
	row("CPU time, first create → all Ready", fmt.Sprintf("%.1fs = %s (%s)", a.cpu.Total().Seconds(), perWS(a.cpu.Total()), a.cpu))
	if k := a.clusterRequests.total(); k > 0 {
		row("kube-apiserver CPU per request (all clients)", fmt.Sprintf("%.2f ms (%.0f requests)", float64(a.cpu["kube-apiserver"].Microseconds())/1000/k, k))
	}
	row("controller peak RSS (VmHWM)", fmt.Sprintf("%.1f MiB", float64(a.peakRSS)/(1<<20)))
	row("    after the idle window", a.memNow)
	row("    ", a.goMem)
	verdict := "OK"
	if a.idleRequests.writes() > 0 {
		verdict = "FAIL: must be 0"
	}
	row(fmt.Sprintf("writes in the idle window (%s)", a.idle.Round(time.Second)), fmt.Sprintf("%.0f  %s  (%s)",
		a.idleRequests.writes(), verdict, strings.Join(a.idleRequests.byMethod.lines(), ", ")))
	row("    by the API server's count (all clients)", orNone(a.idleClusterWrites.lines()))
	nChanges, changes := a.idleChanges.summary()
	row("    Workspace updates seen (what changed)", strconv.Itoa(nChanges))
	for _, c := range changes {
		row("", c)
	}
	if r := a.restart; r != nil {
		verdict := "OK"
		if r.Writes > 0 {
			verdict = "FAIL: must be 0"
		}
		row("restart: start → every workspace verified", fmt.Sprintf("%.1fs (%.0f reconciles), %.0f writes %s, peak RSS %.1f MiB",
			r.VerifiedSeconds, r.Reconciles, r.Writes, verdict, float64(r.PeakRSSBytes)/(1<<20)))
	}
	if d := a.delete; d != nil {
		row("delete all → all gone", fmt.Sprintf("%.1fs, %d objects left behind %s", d.Seconds, d.LeftBehind, orNone(a.deleteDetail)))
	}

	fmt.Fprintf(w, "\nRequests by the API server's count, first create → all Ready (all clients: controller, kube-controller-manager, this driver)\n")
	for _, l := range a.clusterRequests.lines() {
		k, v, _ := strings.Cut(l, ": ")
		row(k, v)
	}
}

func percentiles(l []time.Duration) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", pct(l, 50), pct(l, 90), pct(l, 99), pct(l, 100))
}

// pct is the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) string {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(10 * time.Millisecond).String()
}

// drawChart draws Tenancy's Ready and PodsReady curves of res beside its
// ceilings', those replaced by the ceilings of
// the -json file chartWith (a run on a control plane of its own) unless
// that is "".
func drawChart(path string, res *results, chartWith string) error {
	var ss []series
	if t := res.Tenancy; t != nil {
		ss = append(ss, series{name: "Tenancy: Ready", color: "#1f77b4", times: durations(t.ReadyTimes)})
		if len(t.PodsReadyTimes) > 0 {
			ss = append(ss, series{name: "Tenancy: PodsReady (default ServiceAccount)", color: "#1f77b4", dash: true, times: durations(t.PodsReadyTimes)})
		}
	}
	ceiling, createOnly, where := durations(res.Ceiling.DoneSeconds), durations(res.CreateOnlyCeiling.DoneSeconds), ""
	if res.ControlPlanes == separatePlanes {
		where = ", own control plane"
	}
	if chartWith != "" {
		other, err := readResults(chartWith)
		if err != nil {
			return fmt.Errorf("-chart-with: %w", err)
		}
		ceiling, createOnly = durations(other.Ceiling.DoneSeconds), durations(other.CreateOnlyCeiling.DoneSeconds)
		where = ", own control plane"
	}
	if len(ceiling) > 0 {
		ss = append(ss, series{name: "ceiling (Workspace + objects + status)" + where, color: "#d62728", times: ceiling})
	}
	if len(createOnly) > 0 {
		ss = append(ss, series{name: "create-only ceiling (objects)" + where, color: "#2ca02c", dash: true, times: createOnly})
	}
	title := fmt.Sprintf("%d workspaces created at once: ready over time (%s)", res.Workspaces, res.Version)
	return writeSVG(path, title, res.Workspaces, ss)
}
