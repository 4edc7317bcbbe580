package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/rest"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// apiserverRequests reads the API server's own apiserver_request_total
// counter, summed by "VERB group/resource[/subresource]". Unlike the
// controller's client-side counter it tells LIST and WATCH from GET and
// APPLY (server-side apply) from other PATCHes, and names the resource;
// but it counts every client (kube-controller-manager, this driver…).
func apiserverRequests(ctx context.Context, rc rest.Interface) (map[string]float64, error) {
	body, err := rc.Get().AbsPath("/metrics").Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape API server metrics: %w", err)
	}
	defer func() { _ = body.Close() }()
	out := map[string]float64{}
	s := bufio.NewScanner(body)
	s.Buffer(make([]byte, 0, 64<<10), 4<<20)
	const name = "apiserver_request_total{"
	for s.Scan() {
		line, ok := strings.CutPrefix(s.Text(), name)
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(line, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			continue
		}
		l := parseLabels(labelText)
		res := l["resource"]
		if g := l["group"]; g != "" {
			res = g + "/" + res
		}
		if sub := l["subresource"]; sub != "" {
			res += "/" + sub
		}
		out[l["verb"]+" "+res] += v
	}
	return out, s.Err()
}

// mutatingDelta is after - before for writes only, as sorted lines.
func mutatingDelta(before, after map[string]float64) []string {
	var out []string
	for k, v := range after {
		verb, _, _ := strings.Cut(k, " ")
		switch verb {
		case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION", "CREATE", "UPDATE":
		default:
			continue
		}
		if d := v - before[k]; d > 0 {
			out = append(out, fmt.Sprintf("%s: %.0f", k, d))
		}
	}
	slices.Sort(out)
	return out
}

// allDelta is after - before for every verb and resource that changed,
// as sorted lines.
func allDelta(before, after map[string]float64) []string {
	var out []string
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out = append(out, fmt.Sprintf("%s: %.0f", k, d))
		}
	}
	slices.Sort(out)
	return out
}

// clusterWrites are the writes between two scrapes, leases and events
// aside (the API server renews its own lease every few seconds).
func clusterWrites(before, after map[string]float64) []string {
	var out []string
	for _, l := range mutatingDelta(before, after) {
		if strings.Contains(l, " coordination.k8s.io/leases") || strings.Contains(l, " events") || strings.Contains(l, " events.k8s.io/events") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// workspaceChanges tallies, while active, what changed in Workspace update
// events: which part of the object, and a few examples.
type workspaceChanges struct {
	active   atomic.Bool
	mu       sync.Mutex
	parts    map[string]int
	examples []string
}

func (w *workspaceChanges) observe(oldObj, newObj any) {
	if !w.active.Load() {
		return
	}
	o, ok1 := oldObj.(*tenancyv1.Workspace)
	n, ok2 := newObj.(*tenancyv1.Workspace)
	if !ok1 || !ok2 || o.ResourceVersion == n.ResourceVersion {
		return
	}
	var parts []string
	if o.Generation != n.Generation {
		parts = append(parts, "spec")
	}
	if !equality.Semantic.DeepEqual(o.Labels, n.Labels) || !equality.Semantic.DeepEqual(o.Annotations, n.Annotations) ||
		!slices.Equal(o.Finalizers, n.Finalizers) {
		parts = append(parts, "metadata")
	}
	if !equality.Semantic.DeepEqual(o.Status.Quota, n.Status.Quota) {
		parts = append(parts, "status.quota")
	}
	if !equality.Semantic.DeepEqual(o.Status.Conditions, n.Status.Conditions) {
		parts = append(parts, "status.conditions")
	}
	if o.Status.GPUs != n.Status.GPUs {
		parts = append(parts, "status.gpus")
	}
	if len(parts) == 0 {
		parts = append(parts, "other (managedFields or status fields not compared)")
	}
	key := strings.Join(parts, "+")
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.parts == nil {
		w.parts = map[string]int{}
	}
	w.parts[key]++
	if len(w.examples) < 5 {
		w.examples = append(w.examples, fmt.Sprintf("%s: %s: quota %s → %s", n.Name, key, quotaSummary(o), quotaSummary(n)))
	}
}

func quotaSummary(ws *tenancyv1.Workspace) string {
	q := ws.Status.Quota
	if q == nil {
		return "none"
	}
	return fmt.Sprintf("hard %d entries, used %d entries", len(q.Hard), len(q.Used))
}

func (w *workspaceChanges) summary() (total int, lines []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range w.parts {
		total += v
		lines = append(lines, fmt.Sprintf("%s: %d", k, v))
	}
	slices.Sort(lines)
	return total, append(lines, w.examples...)
}

// cpuSnapshot is the CPU time (user+system) used so far by each process of
// the control plane and by the controller, by process name.
type cpuSnapshot map[string]time.Duration

// clockTick is USER_HZ, which is 100 on every Linux platform Go supports.
const clockTick = 10 * time.Millisecond

// takeCPU reads /proc for the processes whose command line mentions dir
// (the control plane's data directory: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) and for extra pids.
func takeCPU(dir string, extra map[string]int) cpuSnapshot {
	out := cpuSnapshot{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir+string(filepath.Separator)) {
			continue
		}
		name, t, err := procCPU(pid)
		if err == nil && name != "tenancy" {
			out[name] += t
		}
	}
	for name, pid := range extra {
		if _, t, err := procCPU(pid); err == nil {
			out[name] = t
		}
	}
	return out
}

// procCPU returns a process's name and CPU time (utime+stime).
func procCPU(pid int) (string, time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, err
	}
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	name := s[open+1 : closing]
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return "", 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	// Fields after the name start at field 3 (state); utime is 14, stime 15.
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	return name, time.Duration(utime+stime) * clockTick, nil
}

// sub is s - before, per process.
func (s cpuSnapshot) sub(before cpuSnapshot) cpuSnapshot {
	out := cpuSnapshot{}
	for k, v := range s {
		out[k] = v - before[k]
	}
	return out
}

func (s cpuSnapshot) total() time.Duration {
	var t time.Duration
	for _, v := range s {
		t += v
	}
	return t
}

// String lists the processes, busiest first.
func (s cpuSnapshot) String() string {
	names := make([]string, 0, len(s))
	for k := range s {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return int(s[b] - s[a]) })
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1fs", n, s[n].Seconds()))
	}
	return strings.Join(parts, ", ")
}
