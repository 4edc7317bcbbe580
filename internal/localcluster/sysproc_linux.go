package localcluster

import "syscall"

// childSysProcAttr puts a child in its own process group (so Stop can signal
// it and anything it spawns) and has the kernel kill it if the thread that
// started it dies, so nothing outlives a crashed or killed parent. Children
// are started from a goroutine locked to its thread (see spawner).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
