//go:build unix && !linux

package localcluster

import "syscall"

// childSysProcAttr puts a child in its own process group. Outside Linux there
// is no parent-death signal: a killed parent leaves its children running.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
