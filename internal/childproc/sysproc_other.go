//go:build unix && !linux

package childproc

import "syscall"

// SysProcAttr puts a child in its own process group. Outside Linux there is
// no parent-death signal: a killed parent leaves its children running.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
