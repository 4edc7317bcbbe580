// Package procstat reads the CPU time and memory of processes from /proc,
// for the benchmarks.
package procstat

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU time (user+system) used so far by each process of
// the control plane and by the controller, by process name.
type CPU map[string]time.Duration

// clockTick is USER_HZ, which is 100 on every Linux platform Go supports.
const clockTick = 10 * time.Millisecond

// TakeCPU reads /proc for the processes whose command line mentions dir
// (the control plane's data directory: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) and for extra pids (the
// controller, whose binary may be in dir too: counted once, by its name in
// extra).
func TakeCPU(dir string, extra map[string]int) CPU {
	out := CPU{}
	counted := map[int]bool{}
	for _, pid := range extra {
		counted[pid] = true
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || counted[pid] {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir+string(filepath.Separator)) {
			continue
		}
		if name, t, err := procCPU(pid); err == nil {
			out[name] += t
		}
	}
	for name, pid := range extra {
		if _, t, err := procCPU(pid); err == nil {
			out[name] = t
		}
	}
	return out
}

// procCPU returns a process's name and CPU time (utime+stime).
func procCPU(pid int) (string, time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, err
	}
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	name := s[open+1 : closing]
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return "", 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	// Fields after the name start at field 3 (state); utime is 14, stime 15.
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	return name, time.Duration(utime+stime) * clockTick, nil
}

// Sub is s - before, per process.
func (s CPU) Sub(before CPU) CPU {
	out := CPU{}
	for k, v := range s {
		out[k] = v - before[k]
	}
	return out
}

// Total is the CPU time of all the processes.
func (s CPU) Total() time.Duration {
	var t time.Duration
	for _, v := range s {
		t += v
	}
	return t
}

// String lists the processes, busiest first.
func (s CPU) String() string {
	names := make([]string, 0, len(s))
	for k := range s {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return int(s[b] - s[a]) })
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1fs", n, s[n].Seconds()))
	}
	return strings.Join(parts, ", ")
}

// PeakRSS is the process's high-water resident set size (VmHWM), in bytes.
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/" + strconv.Itoa(pid) + "/status")
}

// MemDetail describes a process's memory now: resident anonymous and
// file-backed (the binary's pages) memory, from /proc/<pid>/status.
func MemDetail(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "?"
	}
	var parts []string
	for line := range strings.SplitSeq(string(data), "\n") {
		for _, k := range []string{"VmRSS:", "RssAnon:", "RssFile:"} {
			if rest, ok := strings.CutPrefix(line, k); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				parts = append(parts, fmt.Sprintf("%s %.1f MiB", strings.TrimSuffix(k, ":"), float64(kb)/1024))
			}
		}
	}
	return strings.Join(parts, ", ")
}
