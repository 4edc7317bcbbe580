// Package childproc starts child processes that do not outlive their
// parent: each goes into its own process group, and on Linux the kernel
// kills it (parent-death signal) if the parent dies, however it dies.
package childproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"time"
)

// Spawner starts children from one goroutine locked to its OS thread.
// Pdeathsig fires when the thread that forked the child exits, not the
// process, and Go may retire idle threads (golang/go#27505): so every child
// is forked from a thread that lives as long as the Spawner.
type Spawner struct {
	reqs chan request
	quit chan struct{}
}

type request struct {
	cmd   *exec.Cmd
	reply chan error
}

// NewSpawner starts a Spawner; Close ends it.
func NewSpawner() *Spawner {
	s := &Spawner{reqs: make(chan request), quit: make(chan struct{})}
	go func() {
		// Never unlocked: when this goroutine returns its thread exits too,
		// which is what a parent-death signal wants if a child is somehow
		// still there.
		runtime.LockOSThread()
		for {
			select {
			case r := <-s.reqs:
				r.reply <- r.cmd.Start()
			case <-s.quit:
				return
			}
		}
	}()
	return s
}

// Start starts cmd as Cmd.Start does, with SysProcAttr() unless cmd
// already has one.
func (s *Spawner) Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = SysProcAttr()
	}
	reply := make(chan error, 1)
	select {
	case s.reqs <- request{cmd: cmd, reply: reply}:
		return <-reply
	case <-s.quit:
		return errors.New("childproc: spawner closed")
	}
}

// Close ends the Spawner: its thread exits, and on Linux the children it
// started are killed with it.
func (s *Spawner) Close() { close(s.quit) }

// FreePort returns a TCP port free on 127.0.0.1 now, or 0.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitHTTPOK polls url until it answers 200 OK, giving up when timeout
// passes or exited reports that the child is gone.
func WaitHTTPOK(ctx context.Context, url string, timeout time.Duration, exited func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if exited() {
			return errors.New("the process exited before it was ready")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready at %s: %w", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
