package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func osArg0() string {
	if len(os.Args) == 0 {
		return ""
	}
	return os.Args[0]
}

// invocation is how a person runs this binary again, for hints they can
// paste as they stand: "kubectl tenancy" as the kubectl plugin, "go run
// ./cmd/tenancy" when `go run` built it (into a temporary directory that is
// gone when it exits), "tenancy" when that is this binary on PATH, else
// its absolute path.
func invocation() string {
	exe, _ := os.Executable()
	return invocationOf(osArg0(), exe, os.TempDir(), exec.LookPath)
}

func invocationOf(arg0, exe, tmp string, lookPath func(string) (string, error)) string {
	if strings.HasPrefix(filepath.Base(arg0), "kubectl-") {
		return "kubectl tenancy"
	}
	if exe == "" {
		return "tenancy"
	}
	if strings.HasPrefix(exe, filepath.Clean(tmp)+string(filepath.Separator)) && strings.Contains(exe, "go-build") {
		return "go run ./cmd/tenancy"
	}
	if p, err := lookPath("tenancy"); err == nil && sameFile(p, exe) {
		return "tenancy"
	}
	return shellQuote(exe)
}

func sameFile(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@=,", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
