//go:build integration

// Package up_test runs `tenancy up` as a person would and checks what it
// leaves behind when it dies, and what it says when a part of it does.
package up_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

var tenancyBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("up: -short: skipping tests that run tenancy up")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "tenancy-up-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := testenv.BuildTenancy(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := localcluster.EnsureBinaries(context.Background(), localcluster.DefaultBinDir(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tenancyBin = filepath.Join(dir, "tenancy")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// up is a running `tenancy up`.
type up struct {
	cmd     *exec.Cmd
	dataDir string
	mu      sync.Mutex
	out     bytes.Buffer
	exited  chan struct{}
	err     error
}

func (u *up) output() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.out.String()
}

type lockedWriter struct{ u *up }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.u.mu.Lock()
	defer w.u.mu.Unlock()
	return w.u.out.Write(b)
}

// startUp runs tenancy up with one CPU process node and waits until it says
// it is up.
func startUp(t *testing.T) *up {
	t.Helper()
	u := &up{dataDir: t.TempDir(), exited: make(chan struct{})}
	u.cmd = exec.Command(tenancyBin, "up", "--data-dir", u.dataDir, "--port", "0", "--no-demo",
		"--cpu-nodes", "1", "--gpu-nodes", "0", "--bin-dir", localcluster.DefaultBinDir())
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	u.cmd.Env = env
	u.cmd.Stdout, u.cmd.Stderr = lockedWriter{u}, lockedWriter{u}
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		u.err = u.cmd.Wait()
		close(u.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(u.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-u.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-u.cmd.Process.Pid, syscall.SIGKILL)
			<-u.exited
		}
	})
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(u.output(), "Tenancy is up") {
		select {
		case <-u.exited:
			t.Fatalf("tenancy up exited (%v):\n%s", u.err, u.output())
		case <-deadline:
			t.Fatalf("tenancy up not up in 3 minutes:\n%s", u.output())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return u
}

func (u *up) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(u.dataDir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// proc is a process, told apart from a later one with the same pid by its
// start time.
type proc struct {
	pid   int
	ppid  int
	start string
	comm  string
}

func readProc(pid int) (proc, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < 0 {
		return proc{}, false
	}
	f := strings.Fields(s[end+2:])
	ppid, _ := strconv.Atoi(f[1])
	return proc{pid: pid, ppid: ppid, start: f[19], comm: s[open+1 : end]}, true
}

func allProcs() []proc {
	entries, _ := os.ReadDir("/proc")
	var ps []proc
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if p, ok := readProc(pid); ok {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// descendants are every process below root.
func descendants(root int) []proc {
	ps := allProcs()
	in := map[int]bool{root: true}
	var out []proc
	for changed := true; changed; {
		changed = false
		for _, p := range ps {
			if in[p.ppid] && !in[p.pid] {
				in[p.pid] = true
				out = append(out, p)
				changed = true
			}
		}
	}
	return out
}

func alive(p proc) bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start
}

func waitGone(t *testing.T, ps []proc, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, p := range ps {
			if alive(p) {
				left = append(left, fmt.Sprintf("%d(%s)", p.pid, p.comm))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running %s after tenancy up died: %s", timeout, strings.Join(left, " "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runPodTree starts a pod whose container starts more processes and waits
// until they run.
func runPodTree(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for {
		if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no default ServiceAccount")
		case <-time.After(200 * time.Millisecond):
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tree"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "busybox", Command: []string{"sh", "-c", "sleep 1000 & (sleep 1000 &); echo started; wait"},
		}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := cs.CoreV1().Pods("default").Get(ctx, "tree", metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodRunning {
			data, _ := cs.CoreV1().Pods("default").GetLogs("tree", &corev1.PodLogOptions{}).DoRaw(ctx)
			if strings.Contains(string(data), "started") {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod tree not running: %v %+v", err, got)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestNoProcessSurvivesUp(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			u := startUp(t)
			runPodTree(t, u.client(t))
			tree := descendants(u.cmd.Process.Pid)
			sleeps := 0
			for _, p := range tree {
				if p.comm == "sleep" {
					sleeps++
				}
			}
			if sleeps != 2 {
				t.Fatalf("want the pod's 2 sleeps among tenancy up's processes, got %+v", tree)
			}
			// The one orphaned inside the container is reparented to
			// the container's PID 1, still below tenancy up.
			if err := syscall.Kill(u.cmd.Process.Pid, sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-u.exited:
			case <-time.After(time.Minute):
				t.Fatalf("tenancy up did not exit within a minute of %s", sig)
			}
			waitGone(t, tree, 15*time.Second)
		})
	}
}

func TestUpExitsNamingTheComponentThatDied(t *testing.T) {
	for _, victim := range []string{"etcd", "kube-apiserver"} {
		t.Run(victim, func(t *testing.T) {
			u := startUp(t)
			killed := false
			for _, p := range descendants(u.cmd.Process.Pid) {
				if p.comm == victim && p.ppid == u.cmd.Process.Pid {
					killed = syscall.Kill(p.pid, syscall.SIGKILL) == nil
				}
			}
			if !killed {
				t.Fatalf("no %s child of tenancy up to kill", victim)
			}
			select {
			case <-u.exited:
			case <-time.After(time.Minute):
				t.Fatalf("tenancy up still runs a minute after %s died:\n%s", victim, u.output())
			}
			if u.err == nil {
				t.Errorf("tenancy up exited 0 after %s died", victim)
			}
			out := u.output()
			last := lastLines(out, 30)
			log := filepath.Join(u.dataDir, "logs", victim+".log")
			if !strings.Contains(last, victim+" exited unexpectedly") || !strings.Contains(last, log) {
				t.Errorf("tenancy up's last words do not name %s and %s:\n%s", victim, log, last)
			}
		})
	}
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
