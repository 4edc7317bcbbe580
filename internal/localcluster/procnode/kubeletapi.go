package procnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	utilexec "k8s.io/utils/exec"
)

func newServeMux() *http.ServeMux { return http.NewServeMux() }

func newLogger(w io.Writer, node string) vklog.Logger {
	return vkslog.FromSlog(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", node))
}

// findContainer returns pod ns/name's container (the only one, if name is
// empty and there is one).
func (n *Node) container(ns, name, ctr string) (*podRuntime, *container, error) {
	p := n.lookup(ns, name)
	if p == nil {
		return nil, nil, errdefs.NotFoundf("pod %s/%s is not on node %s", ns, name, n.cfg.Name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var main []*container
	for _, c := range p.containers {
		if c.spec.Name == ctr {
			return p, c, nil
		}
		if !c.init {
			main = append(main, c)
		}
	}
	if ctr == "" && len(main) == 1 {
		return p, main[0], nil
	}
	return nil, nil, errdefs.NotFoundf("pod %s/%s has no container %q", ns, name, ctr)
}

// GetContainerLogs returns a container's output: of its current (or last)
// run, or with Previous the run before; Tail lines; with Follow, until the
// run ends.
func (n *Node) GetContainerLogs(ctx context.Context, ns, name, ctr string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	p, c, err := n.container(ns, name, ctr)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	run := c.status.RestartCount
	if _, err := os.Stat(p.logPath(c.spec.Name, run)); err != nil && run > 0 {
		run-- // waiting to restart: the last run is the one before
	}
	pr := c.running
	p.mu.Unlock()
	if opts.Previous {
		if run == 0 {
			return nil, errdefs.InvalidInputf("previous terminated container %q in pod %q not found", c.spec.Name, name)
		}
		run--
		pr = nil
	}
	f, err := os.Open(p.logPath(c.spec.Name, run))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.InvalidInputf("container %q in pod %q is waiting to start", c.spec.Name, name)
	}
	if err != nil {
		return nil, err
	}
	if opts.Tail > 0 {
		if err := seekTail(f, opts.Tail); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	var r io.ReadCloser = f
	if opts.Follow && pr != nil {
		r = &follower{ctx: ctx, f: f, done: pr.done}
	}
	if opts.LimitBytes > 0 {
		r = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(r, int64(opts.LimitBytes)), r}
	}
	return r, nil
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	const chunk = 8192
	lines := 0
	pos := size
	buf := make([]byte, chunk)
	for pos > 0 {
		step := min(int64(chunk), pos)
		pos -= step
		if _, err := f.ReadAt(buf[:step], pos); err != nil {
			return err
		}
		for i := int(step) - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+int64(i) == size-1 {
				continue
			}
			lines++
			if lines == n {
				_, err := f.Seek(pos+int64(i)+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

// follower reads a log file as it grows, until the run ends (then to the
// end of the file) or ctx ends.
type follower struct {
	ctx  context.Context
	f    *os.File
	done <-chan struct{}
	last bool
}

func (fl *follower) Read(b []byte) (int, error) {
	for {
		n, err := fl.f.Read(b)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		if fl.last {
			return 0, io.EOF
		}
		select {
		case <-fl.ctx.Done():
			return 0, io.EOF
		case <-fl.done:
			fl.last = true // read what was written before the exit
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (fl *follower) Close() error { return fl.f.Close() }

// nsenterArgs enters the namespaces of a container's PID 1 as the pod's
// user, in its working directory.
func (n *Node) nsenterArgs(p *podRuntime, pid int, argv []string) []string {
	args := []string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--pid"}
	if os.Geteuid() != 0 {
		args = append(args, "--user", "--preserve-credentials")
	} else {
		args = append(args, "--setuid", strconv.Itoa(p.uid), "--setgid", strconv.Itoa(p.gid))
	}
	// The root and working directory of the container's PID 1 (nsenter
	// opens them before it enters the namespaces).
	args = append(args, "--root", "--wd", "--")
	return append(args, argv...)
}

// execIn runs argv in container c of pod p, for a probe: output
// discarded, an error for a non-zero exit.
func (n *Node) execIn(ctx context.Context, p *podRuntime, c *container, argv []string, out io.Writer) error {
	p.mu.Lock()
	pr, env := c.running, c.env
	p.mu.Unlock()
	if pr == nil {
		return errors.New("container is not running")
	}
	cmd := exec.Command("nsenter", n.nsenterArgs(p, pr.pid, argv)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := n.cfg.Spawner.Start(cmd); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err := <-done; err != nil && ctx.Err() == nil {
			return err
		}
		return ctx.Err() // killed: the timeout is the error
	}
}

// RunInContainer runs cmd in a running container (kubectl exec, and the
// tar of kubectl cp), with a terminal if asked for.
func (n *Node) RunInContainer(ctx context.Context, ns, name, ctr string, argv []string, attach api.AttachIO) error {
	p, c, err := n.container(ns, name, ctr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	pr, env := c.running, c.env
	p.mu.Unlock()
	if pr == nil {
		return errdefs.InvalidInputf("container %q in pod %q is not running", c.spec.Name, name)
	}
	cmd := exec.Command("nsenter", n.nsenterArgs(p, pr.pid, argv)...)
	cmd.Env = env
	if os.Geteuid() != 0 {
		// Root inside a user namespace that maps one uid: a tar that
		// restores owners (kubectl cp) would fail on every other uid.
		cmd.Env = append(append([]string(nil), env...), "TAR_OPTIONS=--no-same-owner")
	}
	var tty *os.File
	var ptmx *os.File
	if attach.TTY() {
		ptmx, tty, err = pty.Open()
		if err != nil {
			return fmt.Errorf("open a terminal: %w", err)
		}
		defer func() { _ = ptmx.Close() }()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	} else {
		if attach.Stdout() != nil {
			cmd.Stdout = attach.Stdout()
		}
		if attach.Stderr() != nil {
			cmd.Stderr = attach.Stderr()
		}
	}
	var stdin io.WriteCloser
	if attach.Stdin() != nil && !attach.TTY() {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return err
		}
	}
	if err := n.cfg.Spawner.Start(cmd); err != nil {
		return fmt.Errorf("exec in %s/%s: %w", name, c.spec.Name, err)
	}
	var wg sync.WaitGroup
	if tty != nil {
		_ = tty.Close()
		if in := attach.Stdin(); in != nil {
			go func() { _, _ = io.Copy(ptmx, in) }()
		}
		if out := attach.Stdout(); out != nil {
			wg.Go(func() { _, _ = io.Copy(out, ptmx) })
		}
		go func() {
			for {
				select {
				case s, ok := <-attach.Resize():
					if !ok {
						return
					}
					_ = pty.Setsize(ptmx, &pty.Winsize{Rows: s.Height, Cols: s.Width})
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if stdin != nil {
		go func() {
			_, _ = io.Copy(stdin, attach.Stdin())
			_ = stdin.Close()
		}()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	case <-pr.done:
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	if ptmx != nil {
		_ = ptmx.Close()
		wg.Wait()
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

// PortForward connects stream to port on the pod's address.
func (n *Node) PortForward(ctx context.Context, ns, name string, port int32, stream io.ReadWriteCloser) error {
	if n.lookup(ns, name) == nil {
		return errdefs.NotFoundf("pod %s/%s is not on node %s", ns, name, n.cfg.Name)
	}
	defer func() { _ = stream.Close() }()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(n.cfg.IP.String(), strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("pod %s/%s: nothing listens on port %d: %w", ns, name, port, err)
	}
	defer func() { _ = conn.Close() }()
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		errc <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		errc <- err
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if err == nil {
			err = <-errc
		}
		return err
	}
}
