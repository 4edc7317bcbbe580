// Package shim is the first thing a container's process runs: a
// re-executed copy of the node agent's binary that sets up the container's
// root and identity, then executes the container's command. It imports
// almost nothing, so that Go initializes it before the heavy packages the
// rest of the binary carries (initialization picks, among the packages
// whose imports are done, the first by import path), and a container
// starts in milliseconds.
package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Env carries the shim's spec (JSON) to a re-executed copy of the
// running binary. When it is set, init turns the process into the shim
// before anything else runs: the shim sets up the pod's mount and UTS
// namespaces (it is started in new ones), drops privileges and executes the
// container's command, which keeps the shim's process id.
const Env = "LOCALCLUSTER_PROCNODE_SHIM"

// StartErrFD is the descriptor on which the shim reports why it could not
// start the command. It is closed on exec, so the agent reading its other
// end sees EOF and nothing else when the command has started.
const StartErrFD = 3

// Spec is what the shim needs to start one container.
type Spec struct {
	// Root is an empty directory on which the shim mounts a tmpfs that
	// becomes the container's root: the host's top-level directories are
	// bound into it, except /proc (a new one, for the new PID namespace),
	// /run (a new tmpfs) and /tmp (Tmp).
	Root     string  `json:"root"`
	Tmp      string  `json:"tmp"`
	Hostname string  `json:"hostname"`
	Mounts   []Mount `json:"mounts"`
	Dir      string  `json:"dir"` // working directory, inside
	// SetUID: switch to UID/GID before exec (the shim runs as root).
	// Without it the shim already runs as the unprivileged user (mapped
	// in a user namespace).
	SetUID bool     `json:"setUID"`
	UID    int      `json:"uid"`
	GID    int      `json:"gid"`
	Argv   []string `json:"argv"`
	Env    []string `json:"env"`
}

// Mount binds Source (a host path) at Target (inside).
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

func init() {
	spec, ok := os.LookupEnv(Env)
	if !ok {
		return
	}
	// Never returns: the command replaces this process, or it exits.
	err := runShim(spec)
	f := os.NewFile(StartErrFD, "start-error")
	if f != nil {
		_, _ = fmt.Fprint(f, err.Error())
	}
	fmt.Fprintln(os.Stderr, "procnode:", err)
	os.Exit(128)
}

func runShim(data string) error {
	runtime.LockOSThread() // the parent-death signal and exec happen on this thread
	var s Spec
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		return fmt.Errorf("decode shim spec: %w", err)
	}
	unix.CloseOnExec(StartErrFD)
	if err := setUpRoot(&s); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if err := os.Chdir(s.Dir); err != nil {
		return fmt.Errorf("working directory %s: %w", s.Dir, err)
	}
	if s.SetUID {
		if err := syscall.Setgroups([]int{s.GID}); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setgid(s.GID); err != nil {
			return fmt.Errorf("setgid %d: %w", s.GID, err)
		}
		if err := syscall.Setuid(s.UID); err != nil {
			return fmt.Errorf("setuid %d: %w", s.UID, err)
		}
	}
	// Changing credentials clears the parent-death signal: set it again,
	// so the command dies with the node agent. As PID 1 of its PID
	// namespace, its death takes every process of the container with it.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	if len(s.Argv) == 0 {
		return errors.New("no command")
	}
	path, err := lookPath(s.Argv[0], s.Env)
	if err != nil {
		return err
	}
	if err := syscall.Exec(path, s.Argv, s.Env); err != nil {
		return fmt.Errorf("exec %s: %w", s.Argv[0], err)
	}
	return nil
}

// setUpRoot builds the container's root and pivots into it.
func setUpRoot(s *Spec) error {
	// Nothing done here may reach the host's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := s.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		target := filepath.Join(root, name)
		switch {
		case name == "proc" || name == "run" || name == "tmp":
			continue
		case e.Type()&os.ModeSymlink != 0:
			dest, err := os.Readlink("/" + name)
			if err != nil {
				return err
			}
			if err := os.Symlink(dest, target); err != nil {
				return err
			}
		case e.IsDir():
			if err := bindMount("/"+name, target, false); err != nil {
				return err
			}
		}
	}
	if err := os.Mkdir(filepath.Join(root, "proc"), 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := os.Mkdir(filepath.Join(root, "run"), 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", filepath.Join(root, "run"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount /run: %w", err)
	}
	if err := bindMount(s.Tmp, filepath.Join(root, "tmp"), false); err != nil {
		return err
	}
	for _, m := range s.Mounts {
		target, err := resolveInRoot(root, m.Target)
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		if err := bindMount(m.Source, target, m.ReadOnly); err != nil {
			return err
		}
	}
	old := filepath.Join(root, ".oldroot")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return os.Remove("/.oldroot")
}

// resolveInRoot resolves path as if root were "/": symlinks met on the
// way (such as /var/run -> /run) resolve inside root, never to the host's
// directories. Missing components stay as they are (the mount creates
// them).
func resolveInRoot(root, path string) (string, error) {
	parts := strings.Split(filepath.Clean("/"+path), "/")[1:]
	cur := "/"
	for hops := 0; len(parts) > 0; {
		name := parts[0]
		parts = parts[1:]
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", errors.New("too many symbolic links")
		}
		dest, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(cur, dest)
		}
		parts = append(strings.Split(filepath.Clean(dest), "/")[1:], parts...)
		cur = "/"
	}
	return filepath.Join(root, cur), nil
}

// bindMount binds source at target, creating target (a directory or an
// empty file, like source) if missing.
func bindMount(source, target string, readOnly bool) error {
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("volume source: %w", err)
	}
	if fi.IsDir() {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", target, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", target, err)
		}
		if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("mount point %s: %w", target, err)
			}
			_ = f.Close()
		}
	}
	if err := unix.Mount(source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", source, target, err)
	}
	if readOnly {
		// Keep the flags the source has: in a user namespace they are
		// locked, and a remount that drops them is refused.
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		var st unix.Statfs_t
		if err := unix.Statfs(target, &st); err == nil {
			for stFlag, msFlag := range map[int64]uintptr{
				unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV, unix.ST_NOEXEC: unix.MS_NOEXEC,
				unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME,
			} {
				if st.Flags&stFlag != 0 {
					flags |= msFlag
				}
			}
		}
		if err := unix.Mount("", target, "", flags, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", target, err)
		}
	}
	return nil
}

// lookPath finds argv0 in the PATH of env, as the command's shell would.
func lookPath(argv0 string, env []string) (string, error) {
	if strings.Contains(argv0, "/") {
		return argv0, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, argv0)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in PATH %s", argv0, path)
}

// DefaultPath is the PATH of a container that sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
