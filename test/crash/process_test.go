//go:build integration

package crash

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/tenancy-dev/tenancy/internal/childproc"
)

// controllerProcess runs `tenancy controller` as a child process that can be
// SIGKILLed and started again. Its output (human-readable logs) is appended
// to one file across restarts, each start marked by a header line.
type controllerProcess struct {
	binary, kubeconfig, logPath string
	concurrency                 int
	spawn                       *childproc.Spawner
	// args are added to the command line (e.g. leader election flags).
	args []string

	cmd       *exec.Cmd
	done      chan struct{}
	probeAddr string
	started   time.Time
}

// start starts the controller; it must not be running.
func (p *controllerProcess) start() error {
	p.probeAddr = "127.0.0.1:" + strconv.Itoa(childproc.FreePort())
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }() // the child has its own descriptor
	args := []string{"controller",
		"--kubeconfig", p.kubeconfig,
		"--concurrency", strconv.Itoa(p.concurrency),
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", p.probeAddr,
		"--dev-logs",
	}
	args = append(args, p.args...)
	fmt.Fprintf(log, "\n==== %s start: %s %v\n", time.Now().Format(time.RFC3339Nano), p.binary, args)
	cmd := exec.Command(p.binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// If the test binary dies, so does the controller.
	if err := p.spawn.Start(cmd); err != nil {
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

// kill SIGKILLs the controller and waits until it has been reaped. It
// returns how long the process had run.
func (p *controllerProcess) kill() (time.Duration, error) {
	if p.cmd == nil {
		return 0, errors.New("controller not started")
	}
	ran := time.Since(p.started)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return ran, err
	}
	<-p.done
	if log, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(log, "==== %s SIGKILL after %s\n", time.Now().Format(time.RFC3339Nano), ran.Round(time.Millisecond))
		_ = log.Close()
	}
	p.cmd = nil
	return ran, nil
}

// exited reports whether the controller has exited by itself.
func (p *controllerProcess) exited() bool {
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

// waitReady polls /readyz until it answers 200.
func (p *controllerProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	if err := childproc.WaitHTTPOK(ctx, "http://"+p.probeAddr+"/readyz", timeout, p.exited); err != nil {
		return fmt.Errorf("controller: %w; see %s", err, p.logPath)
	}
	return nil
}
