package childproc

import "syscall"

// SysProcAttr puts a child in its own process group (so it and anything it
// spawns can be signalled together) and has the kernel kill it if the
// thread that started it dies (see Spawner).
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
