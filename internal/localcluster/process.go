package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tenancy-dev/tenancy/internal/childproc"
)

// process is one running component.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited and been reaped
	err     error         // exit status; read after done is closed
	killed  atomic.Bool   // the grace period ran out and it was SIGKILLed
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// failure describes an unexpected exit (or other failure) of the process,
// with the end of its log.
func (p *process) failure(what string) error {
	if p.exited() && what == "" {
		what = fmt.Sprintf("exited: %v", p.err)
	}
	return fmt.Errorf("%s %s; last lines of %s:\n%s", p.name, what, p.logPath, tailFile(p.logPath, 20))
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs
// the group, and waits for the process to be reaped.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	_ = signalGroup(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.killed.Store(true)
		_ = signalGroup(pid, syscall.SIGKILL)
		<-p.done
	}
}

// startProcess starts bin with args, output appended to logPath.
func startProcess(s *childproc.Spawner, name, bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // the child has its own descriptor
	fmt.Fprintf(logFile, "\n==== %s %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	if err := s.Start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// tailFile returns the last n lines of a file, or a note why it cannot.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	const maxTail = 64 << 10
	if len(data) > maxTail {
		data = data[len(data)-maxTail:]
	}
	return lastLines(string(data), n)
}
