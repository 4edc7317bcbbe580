// Command pods measures process nodes: how long a pod takes from create to
// Running, with N pods created at once, and how much memory the node
// agent (which runs in this process, as in `tenancy up`) takes per pod.
//
//	go run ./bench/pods -n 50
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pods:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pods", flag.ContinueOnError)
	n := fs.Int("n", 50, "pods created at once")
	cpuNodes := fs.Int("cpu-nodes", 2, "CPU process nodes")
	creators := fs.Int("creators", 10, "parallel clients creating pods")
	keep := fs.Bool("keep", false, "keep the data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *cpuNodes < 1 || *creators < 1 {
		return errors.New("-n, -cpu-nodes and -creators must be at least 1")
	}
	dir, err := os.MkdirTemp("", "bench-pods-")
	if err != nil {
		return err
	}
	if !*keep {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	ctx := context.Background()
	c, err := localcluster.Start(ctx, localcluster.Options{
		DataDir: dir, Progress: stderr, ProcessNodes: localcluster.DefaultNodes(*cpuNodes, 0),
		NodeIPPrefix: "127.0.9.", StopGracePeriod: 2 * time.Second,
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		return err
	}
	const ns = "default"
	if err := waitSA(ctx, cs, ns); err != nil {
		return err
	}
	before := memory()

	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "bench=pods"})
	if err != nil {
		return err
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	running := map[string]time.Duration{}
	start := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan int)
	errc := make(chan error, *n)
	for range *creators {
		wg.Go(func() {
			for i := range jobs {
				name := "p" + strconv.Itoa(i)
				t := time.Now()
				mu.Lock()
				created[name] = t
				mu.Unlock()
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
					errc <- err
				}
			}
		})
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("create: %w", err)
	}
	timeout := time.After(5 * time.Minute)
	for len(running) < *n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return errors.New("watch ended")
			}
			if ev.Type == watch.Error {
				return fmt.Errorf("watch: %v", ev.Object)
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || pod.Status.Phase != corev1.PodRunning {
				continue
			}
			mu.Lock()
			if _, seen := running[pod.Name]; !seen {
				running[pod.Name] = time.Since(created[pod.Name])
			}
			mu.Unlock()
		case <-timeout:
			return fmt.Errorf("%d of %d pods Running after 5 minutes", len(running), *n)
		}
	}
	all := time.Since(start)
	if got := c.ProcessNodePods(); got != *n {
		return fmt.Errorf("the nodes run %d pods, want %d", got, *n)
	}
	after := memory()

	lat := make([]time.Duration, 0, len(running))
	for _, d := range running {
		lat = append(lat, d)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(stdout, "pods: %d created at once by %d clients on %d CPU process nodes (%d CPUs here)\n", *n, *creators, *cpuNodes, runtime.NumCPU())
	fmt.Fprintf(stdout, "create → Running: p50 %s  p90 %s  p99 %s  max %s;  all Running after %s\n",
		r(pct(0.5)), r(pct(0.9)), r(pct(0.99)), r(lat[len(lat)-1]), r(all))
	fmt.Fprintf(stdout, "node agent memory (this process, after GC): heap in use %s → %s, RSS %s → %s\n",
		mib(before.heap), mib(after.heap), mib(before.rss), mib(after.rss))
	fmt.Fprintf(stdout, "per pod: heap %s, RSS %s\n",
		kib((after.heap-before.heap)/int64(*n)), kib((after.rss-before.rss)/int64(*n)))
	return nil
}

func r(d time.Duration) string { return d.Round(time.Millisecond).String() }
func mib(b int64) string       { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func kib(b int64) string       { return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10)) }

func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "pods"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers:                    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"sleep", "3600"}}},
		},
	}
}

func waitSA(ctx context.Context, cs kubernetes.Interface, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("no default ServiceAccount after a minute")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type mem struct{ heap, rss int64 }

// memory is this process's Go heap in use and resident set after a GC.
func memory() mem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{heap: int64(ms.HeapInuse)}
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.rss = kb << 10
			}
		}
	}
	return m
}
