package procnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenancy-dev/tenancy/internal/localcluster/procnode/shim"
)

// unprivilegedID is the uid and gid pod processes run as when the agent
// runs as root and the pod asks for no other non-root user ("nobody").
const unprivilegedID = 65534

// podWorkDir is the pod's own working directory as its processes see it.
const podWorkDir = "/pod"

// Restart back-off, as the kubelet's: 10s doubling up to 5 minutes.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
)

// podRuntime runs one pod: its volumes, init containers, containers,
// probes and status.
type podRuntime struct {
	n        *Node
	dir      string
	uid, gid int
	setUID   bool

	stopCh   chan struct{} // closed to stop the pod
	stopOnce sync.Once
	done     chan struct{} // closed when every process has exited

	mu          sync.Mutex
	pod         *corev1.Pod // spec and metadata as last given
	grace       time.Duration
	startTime   metav1.Time
	prepared    bool
	initialized bool
	phase       corev1.PodPhase
	reason      string
	message     string
	vols        *volumeSet
	gpus        []int
	containers  []*container // init containers first
}

// container is the state of one (init) container.
type container struct {
	spec    corev1.Container
	init    bool
	gpus    []int
	status  corev1.ContainerStatus
	final   bool // exited and will not be restarted
	running *proc
	ready   bool // the readiness probe passes (or there is none)
	env     []string
}

// proc is one run of a container's command.
type proc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
}

func newPodRuntime(n *Node, pod *corev1.Pod, gpus []int) (*podRuntime, error) {
	p := &podRuntime{
		n:      n,
		dir:    filepath.Join(n.cfg.Dir, "pods", string(pod.UID)),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
		pod:    pod,
		phase:  corev1.PodPending,
		gpus:   gpus,
		grace:  30 * time.Second,
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		p.grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	p.uid, p.gid, p.setUID = podIdentity(pod)
	p.startTime = metav1.Now()
	next := 0
	for _, c := range pod.Spec.InitContainers {
		k := gpuCount(c.Resources)
		p.containers = append(p.containers, &container{spec: c, init: true, gpus: gpus[:min(k, len(gpus))]})
	}
	for _, c := range pod.Spec.Containers {
		k := gpuCount(c.Resources)
		end := min(next+k, len(gpus))
		p.containers = append(p.containers, &container{spec: c, gpus: gpus[next:end]})
		next = end
	}
	for _, c := range p.containers {
		c.status = corev1.ContainerStatus{
			Name:  c.spec.Name,
			Image: c.spec.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		}
		if c.init {
			c.status.State.Waiting.Reason = "PodInitializing"
		}
	}
	return p, nil
}

// podIdentity is the uid and gid the pod's processes run as, and whether
// the shim must switch to them (it runs as root). Pods never run as root:
// as root, a pod asking for uid 0 (or nothing) gets "nobody"; otherwise
// everything runs as the agent's own user, mapped in a user namespace.
func podIdentity(pod *corev1.Pod) (uid, gid int, setUID bool) {
	if os.Geteuid() != 0 {
		return os.Getuid(), os.Getgid(), false
	}
	uid, gid = unprivilegedID, unprivilegedID
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil && *sc.RunAsUser > 0 {
			uid = int(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil && *sc.RunAsGroup > 0 {
			gid = int(*sc.RunAsGroup)
		}
	}
	return uid, gid, true
}

func (p *podRuntime) stopping() bool {
	select {
	case <-p.stopCh:
		return true
	default:
		return false
	}
}

// stop ends the pod: SIGTERM to each container's process group, SIGKILL
// after grace. It returns at once; done closes when all have exited.
func (p *podRuntime) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.grace = grace
		p.mu.Unlock()
		close(p.stopCh)
	})
}

// run is the pod's life, from volumes to the last exit.
func (p *podRuntime) run(ctx context.Context) {
	defer close(p.done)
	defer p.n.releaseGPUs(p.pod.UID)
	// Status goes out when it says something new (each write is an API
	// call): the pod is Pending until a container starts.
	if !p.prepare(ctx) {
		p.finish()
		return
	}
	if d := p.pod.Spec.ActiveDeadlineSeconds; d != nil {
		t := time.AfterFunc(time.Until(p.startTime.Add(time.Duration(*d)*time.Second)), func() {
			p.mu.Lock()
			if p.phase != corev1.PodSucceeded && p.phase != corev1.PodFailed {
				p.reason, p.message = "DeadlineExceeded", fmt.Sprintf("Pod was active on the node longer than the specified deadline (%ds)", *d)
			}
			grace := p.grace
			p.mu.Unlock()
			p.stop(grace)
		})
		defer t.Stop()
	}
	go p.refreshTokens(ctx)

	for _, c := range p.containers {
		if !c.init {
			continue
		}
		if !p.runLoop(ctx, c) {
			p.finish()
			return
		}
	}
	p.mu.Lock()
	p.initialized = true
	p.mu.Unlock()
	if len(p.pod.Spec.InitContainers) > 0 {
		p.notify()
	}
	var wg sync.WaitGroup
	for _, c := range p.containers {
		if !c.init {
			wg.Go(func() { p.runLoop(ctx, c) })
		}
	}
	wg.Wait()
	p.finish()
}

// prepare writes the pod's directories and volumes, retrying while a
// source is missing. It reports false if the pod ends before it is ready.
func (p *podRuntime) prepare(ctx context.Context) bool {
	for _, d := range []string{"volumes", "logs", "tmp", "work"} {
		if err := os.MkdirAll(filepath.Join(p.dir, d), 0o755); err != nil {
			p.fail("CreatePodSandboxError", err.Error())
			return false
		}
	}
	_ = os.Chmod(filepath.Join(p.dir, "tmp"), 0o1777)
	if err := os.Chown(filepath.Join(p.dir, "work"), p.uid, p.gid); err != nil {
		p.fail("CreatePodSandboxError", err.Error())
		return false
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", p.n.cfg.IP, p.hostname())
	if err := os.WriteFile(filepath.Join(p.dir, "hosts"), []byte(hosts), 0o644); err != nil {
		p.fail("CreatePodSandboxError", err.Error())
		return false
	}
	for {
		p.mu.Lock()
		pod := p.pod.DeepCopy() // metadata may change meanwhile (UpdatePod)
		p.mu.Unlock()
		pod.Status.PodIP = p.n.cfg.IP.String()
		vs, err := prepareVolumes(ctx, p.n.cfg.Client, pod, filepath.Join(p.dir, "volumes"), p.uid, p.gid)
		if err == nil {
			p.mu.Lock()
			p.vols, p.prepared = vs, true
			p.mu.Unlock()
			return true
		}
		if !errors.Is(err, errVolumeNotReady) {
			p.fail("VolumeError", err.Error())
			return false
		}
		p.setWaitingMessage(err.Error())
		select {
		case <-p.stopCh:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(2 * time.Second):
		}
	}
}

func (p *podRuntime) hostname() string {
	if p.pod.Spec.Hostname != "" {
		return p.pod.Spec.Hostname
	}
	return p.pod.Name
}

func (p *podRuntime) fail(reason, msg string) {
	p.mu.Lock()
	p.reason, p.message = reason, msg
	p.phase = corev1.PodFailed
	p.mu.Unlock()
}

func (p *podRuntime) setWaitingMessage(msg string) {
	p.mu.Lock()
	changed := false
	for _, c := range p.containers {
		if w := c.status.State.Waiting; w != nil && w.Message != msg {
			w.Message = msg
			changed = true
		}
	}
	p.mu.Unlock()
	if changed {
		p.notify()
	}
}

// runLoop runs container c until it need not run again (true: it
// succeeded or exited for good without failing the pod) or the pod stops.
func (p *podRuntime) runLoop(ctx context.Context, c *container) bool {
	policy := p.pod.Spec.RestartPolicy
	backoff := backoffInitial
	for {
		if p.stopping() || ctx.Err() != nil {
			p.markFinal(c)
			return false
		}
		code := p.runOnce(ctx, c)
		restart := false
		switch policy {
		case corev1.RestartPolicyAlways:
			restart = !c.init || code != 0
		case corev1.RestartPolicyOnFailure:
			restart = code != 0
		}
		if !restart || p.stopping() {
			p.markFinal(c)
			return code == 0
		}
		p.mu.Lock()
		c.status.RestartCount++
		c.status.LastTerminationState = c.status.State
		c.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", backoff, c.spec.Name, p.pod.Name),
		}}
		p.mu.Unlock()
		p.notify()
		select {
		case <-p.stopCh:
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, backoffMax)
	}
}

func (p *podRuntime) markFinal(c *container) {
	p.mu.Lock()
	c.final = true
	if c.status.State.Terminated == nil {
		// Never ran (the pod stopped first).
		c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 137, Reason: "ContainerStatusUnknown", Message: "The container could not be started: the pod stopped first",
			FinishedAt: metav1.Now(),
		}}
		if c.status.LastTerminationState.Terminated != nil {
			c.status.State = c.status.LastTerminationState
		}
	}
	p.mu.Unlock()
	p.notify()
}

// logPath is where run number n (the restart count) of a container logs.
func (p *podRuntime) logPath(name string, n int32) string {
	return filepath.Join(p.dir, "logs", name, strconv.Itoa(int(n))+".log")
}

// runOnce runs the container's command once and returns its exit code.
func (p *podRuntime) runOnce(ctx context.Context, c *container) int {
	p.mu.Lock()
	restarts := c.status.RestartCount
	p.mu.Unlock()
	started := metav1.Now()
	terminate := func(code int, reason, msg string) int {
		p.mu.Lock()
		c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, Message: msg, StartedAt: started, FinishedAt: metav1.Now(),
			ContainerID: c.status.ContainerID,
		}}
		c.running, c.ready = nil, false
		c.status.Ready = false
		c.status.Started = new(false)
		p.mu.Unlock()
		p.notify()
		return code
	}
	env, err := p.containerEnv(ctx, c)
	if err != nil {
		return terminate(128, "CreateContainerConfigError", err.Error())
	}
	argv := make([]string, 0, len(c.spec.Command)+len(c.spec.Args))
	em := envMap(env)
	for _, a := range append(append([]string(nil), c.spec.Command...), c.spec.Args...) {
		argv = append(argv, expand(a, em))
	}
	// With args only (kubectl run NAME --image=X -- CMD ARGS), the image's
	// entrypoint would run them; here the first is the command.
	if len(argv) == 0 {
		return terminate(128, "StartError", fmt.Sprintf("container %q has no command: process nodes run command and args as a local process and cannot run image %q's entrypoint", c.spec.Name, c.spec.Image))
	}
	logPath := p.logPath(c.spec.Name, restarts)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return terminate(128, "StartError", err.Error())
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return terminate(128, "StartError", err.Error())
	}
	defer func() { _ = logFile.Close() }()

	spec, err := p.shimSpec(c, argv, env)
	if err != nil {
		return terminate(128, "StartError", err.Error())
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return terminate(128, "StartError", err.Error())
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return terminate(128, "StartError", err.Error())
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = []string{shim.Env + "=" + string(data)}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{errW}
	cmd.SysProcAttr = p.n.sysProcAttr(p.uid, p.gid)
	started = metav1.Now()
	err = p.n.cfg.Spawner.Start(cmd)
	_ = errW.Close()
	if err != nil {
		_ = errR.Close()
		msg := fmt.Sprintf("start the container's shim: %v", err)
		if os.Geteuid() != 0 {
			msg += " (not running as root, process nodes need unprivileged user namespaces: is kernel.unprivileged_userns_clone or user.max_user_namespaces 0?)"
		}
		return terminate(128, "StartError", msg)
	}
	startErr, _ := io.ReadAll(io.LimitReader(errR, 64<<10))
	_ = errR.Close()
	pr := &proc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(pr.done)
	}()
	if len(startErr) > 0 {
		<-pr.done
		return terminate(128, "StartError", string(startErr))
	}

	p.mu.Lock()
	c.running = pr
	c.env = env
	c.status.ContainerID = fmt.Sprintf("process://%s/%d", p.n.cfg.Name, pr.pid)
	c.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	c.status.Started = new(true)
	c.ready = c.spec.ReadinessProbe == nil
	c.status.Ready = c.ready
	p.mu.Unlock()
	p.notify()

	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	if c.spec.ReadinessProbe != nil {
		go p.probeLoop(probeCtx, c, pr, c.spec.ReadinessProbe, false)
	}
	if c.spec.LivenessProbe != nil {
		go p.probeLoop(probeCtx, c, pr, c.spec.LivenessProbe, true)
	}

	select {
	case <-pr.done:
	case <-p.stopCh:
		p.mu.Lock()
		grace := p.grace
		p.mu.Unlock()
		killGroup(pr, grace)
	case <-ctx.Done():
		killGroup(pr, 0)
	}
	<-pr.done
	stopProbes()
	code, reason := exitCode(cmd.ProcessState, waitErr)
	msg := ""
	if code != 0 && c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		msg = tailLines(logPath, 80)
	}
	return terminate(code, reason, msg)
}

// killGroup sends SIGTERM to the process group, then SIGKILL after grace.
// The command is PID 1 of its PID namespace: its death ends every process
// of the container.
func killGroup(pr *proc, grace time.Duration) {
	if grace > 0 {
		_ = syscall.Kill(-pr.pid, syscall.SIGTERM)
		select {
		case <-pr.done:
			return
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-pr.pid, syscall.SIGKILL)
	_ = syscall.Kill(pr.pid, syscall.SIGKILL)
}

func exitCode(ps *os.ProcessState, err error) (int, string) {
	if ps == nil {
		return 128, "Error"
	}
	code := ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if code == 0 && err == nil {
		return 0, "Completed"
	}
	return code, "Error"
}

func tailLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if len(s) > 4096 {
		s = s[len(s)-4096:]
	}
	return s
}

// containerEnv is the environment of c: the spec's, the kubelet's
// additions and the GPUs allotted.
func (p *podRuntime) containerEnv(ctx context.Context, c *container) ([]string, error) {
	p.mu.Lock()
	pod := p.pod.DeepCopy()
	p.mu.Unlock()
	pod.Status.PodIP = p.n.cfg.IP.String()
	host, port := p.n.cfg.APIServerHost, strconv.Itoa(p.n.cfg.APIServerPort)
	extra := map[string]string{
		"HOSTNAME":                      p.hostname(),
		"HOME":                          podWorkDir,
		"KUBERNETES_SERVICE_HOST":       host,
		"KUBERNETES_SERVICE_PORT":       port,
		"KUBERNETES_SERVICE_PORT_HTTPS": port,
		"KUBERNETES_PORT":               "tcp://" + host + ":" + port,
	}
	if len(c.gpus) > 0 {
		ids := make([]string, len(c.gpus))
		for i, g := range c.gpus {
			ids[i] = strconv.Itoa(g)
		}
		extra["NVIDIA_VISIBLE_DEVICES"] = strings.Join(ids, ",")
		extra["CUDA_VISIBLE_DEVICES"] = strings.Join(ids, ",")
	}
	return containerEnv(ctx, p.n.cfg.Client, pod, &c.spec, extra)
}

// shimSpec describes how the shim starts c: its root, mounts and user.
func (p *podRuntime) shimSpec(c *container, argv, env []string) (*shim.Spec, error) {
	root := filepath.Join(p.dir, "root-"+c.spec.Name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	s := &shim.Spec{
		Root:     root,
		Tmp:      filepath.Join(p.dir, "tmp"),
		Hostname: p.hostname(),
		Dir:      podWorkDir,
		SetUID:   p.setUID,
		UID:      p.uid,
		GID:      p.gid,
		Argv:     argv,
		Env:      env,
	}
	if c.spec.WorkingDir != "" {
		s.Dir = c.spec.WorkingDir
	}
	s.Mounts = append(s.Mounts,
		shim.Mount{Source: filepath.Join(p.dir, "work"), Target: podWorkDir},
		shim.Mount{Source: filepath.Join(p.dir, "hosts"), Target: "/etc/hosts", ReadOnly: true},
	)
	p.mu.Lock()
	paths := p.vols.paths
	p.mu.Unlock()
	for _, m := range c.spec.VolumeMounts {
		src, ok := paths[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: the pod has no such volume", m.Name)
		}
		if m.SubPath != "" {
			clean := filepath.Clean(m.SubPath)
			if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, fmt.Errorf("volumeMount %q: subPath %q leaves the volume", m.Name, m.SubPath)
			}
			src = filepath.Join(src, clean)
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
				_ = os.Chown(src, p.uid, p.gid)
			}
		}
		if !filepath.IsAbs(m.MountPath) {
			return nil, fmt.Errorf("volumeMount %q: mountPath %q is not absolute", m.Name, m.MountPath)
		}
		s.Mounts = append(s.Mounts, shim.Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return s, nil
}

// finish sets the pod's final phase once no container will run again.
func (p *podRuntime) finish() {
	p.mu.Lock()
	if p.phase != corev1.PodFailed {
		p.phase = corev1.PodSucceeded
		for _, c := range p.containers {
			t := c.status.State.Terminated
			if t == nil || t.ExitCode != 0 || (c.init && !p.initialized) {
				p.phase = corev1.PodFailed
			}
		}
		if p.reason == "DeadlineExceeded" {
			p.phase = corev1.PodFailed
		}
	}
	p.mu.Unlock()
	p.notify()
}

// notify hands the current status to the node (and on to the API server).
func (p *podRuntime) notify() {
	p.n.notify(p.snapshot())
}

// snapshot is the pod with its current status.
func (p *podRuntime) snapshot() *corev1.Pod {
	p.mu.Lock()
	defer p.mu.Unlock()
	pod := p.pod.DeepCopy()
	pod.Status = p.statusLocked()
	return pod
}

func (p *podRuntime) statusLocked() corev1.PodStatus {
	ip := p.n.cfg.IP.String()
	st := corev1.PodStatus{
		Phase:     p.phase,
		Reason:    p.reason,
		Message:   p.message,
		HostIP:    ip,
		HostIPs:   []corev1.HostIP{{IP: ip}},
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &p.startTime,
		QOSClass:  p.pod.Status.QOSClass,
	}
	anyRunning, allReady := false, true
	for _, c := range p.containers {
		cs := c.status
		cs.State = *c.status.State.DeepCopy()
		cs.LastTerminationState = *c.status.LastTerminationState.DeepCopy()
		cs.Ready = c.running != nil && c.ready
		if c.init {
			st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
			continue
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if c.running != nil || !c.final {
			if p.initialized && (c.running != nil || c.status.RestartCount > 0 || c.status.State.Terminated != nil) {
				anyRunning = true
			}
		}
		if !cs.Ready {
			allReady = false
		}
	}
	if st.Phase == corev1.PodPending && anyRunning {
		st.Phase = corev1.PodRunning
	}
	done := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: p.startTime}
		if ok {
			c.Status = corev1.ConditionTrue
		} else {
			c.Reason = reason
		}
		return c
	}
	ready := allReady && p.initialized && !done
	notReadyReason := "ContainersNotReady"
	if done {
		notReadyReason = "PodCompleted"
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, p.prepared, ""),
		cond(corev1.PodInitialized, p.initialized, "ContainersNotInitialized"),
		cond(corev1.ContainersReady, ready, notReadyReason),
		cond(corev1.PodReady, ready, notReadyReason),
		cond(corev1.PodScheduled, true, ""),
	}
	// Keep transition times stable: they change only with the status.
	for i, c := range st.Conditions {
		for _, old := range p.pod.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				st.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
		if st.Conditions[i].LastTransitionTime.IsZero() {
			st.Conditions[i].LastTransitionTime = metav1.Now()
		}
	}
	return st
}

// refreshTokens renews the projected service-account tokens at 80% of
// their lifetime, as the kubelet does.
func (p *podRuntime) refreshTokens(ctx context.Context) {
	p.mu.Lock()
	vs := p.vols
	p.mu.Unlock()
	if vs == nil || len(vs.tokens) == 0 {
		return
	}
	for {
		next := time.Now().Add(time.Hour)
		for _, t := range vs.tokens {
			at := t.expires.Add(-time.Duration(float64(t.seconds)*0.2) * time.Second)
			if at.Before(next) {
				next = at
			}
		}
		select {
		case <-p.stopCh:
			return
		case <-ctx.Done():
			return
		case <-time.After(max(time.Until(next), 10*time.Second)):
		}
		for i := range vs.tokens {
			if time.Until(vs.tokens[i].expires) < time.Duration(float64(vs.tokens[i].seconds)*0.2)*time.Second {
				_ = vs.tokens[i].refresh(ctx, p.n.cfg.Client, p.pod)
			}
		}
	}
}
