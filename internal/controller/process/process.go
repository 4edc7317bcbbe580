// Package process runs `tenancy controller` as a child process that can be
// stopped, SIGKILLed and started again, for the crash tests and the
// provisioning benchmark: one plumbing for both, so that what the benchmark
// measures is the controller the crash tests kill.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tenancy-dev/tenancy/internal/childproc"
)

// Controller is one `tenancy controller` child. Its output (human-readable
// logs) is appended to LogPath across restarts, each start and kill marked
// by a header line. Set the exported fields, then Start.
type Controller struct {
	// Binary is a tenancy binary (run as `tenancy controller`) or a
	// tenancy-controller one (cmd/tenancy-controller, the command alone).
	Binary, Kubeconfig, LogPath string
	Concurrency                 int
	// Metrics serves /metrics on a free loopback port (MetricsURL);
	// otherwise metrics are off.
	Metrics bool
	// Args are added to the command line (e.g. leader election flags).
	Args []string
	// Env is added to the environment (e.g. GOMEMLIMIT).
	Env []string
	// Spawn forks the child; it outlives restarts (see childproc).
	Spawn *childproc.Spawner

	cmd         *exec.Cmd
	done        chan struct{}
	probeAddr   string
	metricsAddr string
	started     time.Time
}

// Start starts the controller; it must not be running.
func (p *Controller) Start() error {
	if p.cmd != nil {
		return errors.New("controller already started")
	}
	p.probeAddr = "127.0.0.1:" + strconv.Itoa(childproc.FreePort())
	p.metricsAddr = "0"
	if p.Metrics {
		p.metricsAddr = "127.0.0.1:" + strconv.Itoa(childproc.FreePort())
	}
	log, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }() // the child has its own descriptor
	var args []string
	if filepath.Base(p.Binary) != "tenancy-controller" {
		args = append(args, "controller")
	}
	args = append(args,
		"--kubeconfig", p.Kubeconfig,
		"--concurrency", strconv.Itoa(p.Concurrency),
		"--metrics-bind-address", p.metricsAddr,
		"--health-probe-bind-address", p.probeAddr,
		"--dev-logs",
	)
	args = append(args, p.Args...)
	fmt.Fprintf(log, "\n==== %s start: %s %v\n", time.Now().Format(time.RFC3339Nano), p.Binary, args)
	cmd := exec.Command(p.Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if len(p.Env) > 0 {
		cmd.Env = append(os.Environ(), p.Env...)
	}
	// If the parent dies, so does the controller.
	if err := p.Spawn.Start(cmd); err != nil {
		return fmt.Errorf("start controller: %w", err)
	}
	p.cmd, p.done, p.started = cmd, make(chan struct{}), time.Now()
	done := p.done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

// Running says whether the controller was started and not yet killed or
// stopped (it may have exited by itself: see Exited).
func (p *Controller) Running() bool { return p.cmd != nil }

// PID is the running controller's process id.
func (p *Controller) PID() int { return p.cmd.Process.Pid }

// MetricsURL is the running controller's /metrics (with Metrics set).
func (p *Controller) MetricsURL() string { return "http://" + p.metricsAddr + "/metrics" }

// Kill SIGKILLs the controller and waits until it has been reaped. It
// returns how long the process had run.
func (p *Controller) Kill() (time.Duration, error) {
	return p.end(syscall.SIGKILL, 0)
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (p *Controller) Stop(grace time.Duration) (time.Duration, error) {
	return p.end(syscall.SIGTERM, grace)
}

func (p *Controller) end(sig syscall.Signal, grace time.Duration) (time.Duration, error) {
	if p.cmd == nil {
		return 0, errors.New("controller not started")
	}
	ran := time.Since(p.started)
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return ran, err
	}
	if sig != syscall.SIGKILL {
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			sig = syscall.SIGKILL
		}
	}
	<-p.done
	if log, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(log, "==== %s %s after %s\n", time.Now().Format(time.RFC3339Nano), signalName(sig), ran.Round(time.Millisecond))
		_ = log.Close()
	}
	p.cmd = nil
	return ran, nil
}

func signalName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// Exited reports whether the controller has exited by itself.
func (p *Controller) Exited() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitReady polls /readyz until it answers 200.
func (p *Controller) WaitReady(ctx context.Context, timeout time.Duration) error {
	if err := childproc.WaitHTTPOK(ctx, "http://"+p.probeAddr+"/readyz", timeout, p.Exited); err != nil {
		return fmt.Errorf("controller: %w; see %s", err, p.LogPath)
	}
	return nil
}
