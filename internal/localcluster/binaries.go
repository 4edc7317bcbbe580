package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// toolMods holds the go.mod/go.sum of each tools module the binaries are
// built from. They are stored as .txt because a directory holding a real
// go.mod is a separate module and cannot be embedded. See toolmods/update.sh.
//
//go:embed toolmods/*/go.mod.txt toolmods/*/go.sum.txt
var toolMods embed.FS

// Kubectl names the optional kubectl binary for EnsureBinaries.
const Kubectl = "kubectl"

// kubeLDFlags stamp the Kubernetes binaries with their release version,
// as the official build does; without them they report v0.0.0.
func kubeLDFlags(version string) string {
	major, minor, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	var b strings.Builder
	b.WriteString("-s -w")
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		fmt.Fprintf(&b, " -X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s"+
			" -X %[1]s.gitTreeState=clean -X %[1]s.buildDate=2026-01-01T00:00:00Z", pkg, version, major, minor)
	}
	return b.String()
}

// toolModule is one embedded tools module and the binaries built from it.
type toolModule struct {
	name     string            // directory under toolmods/
	module   string            // the module whose version is reported
	binaries map[string]string // binary name → package to build
	optional map[string]bool   // built only when asked for
	ldflags  func(version string) string
}

var toolModules = []toolModule{
	{
		name:   "etcd",
		module: "go.etcd.io/etcd/server/v3",
		binaries: map[string]string{
			"etcd": "go.etcd.io/etcd/server/v3",
		},
		ldflags: func(string) string { return "-s -w" },
	},
	{
		name:   "kubernetes",
		module: "k8s.io/kubernetes",
		binaries: map[string]string{
			"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
			"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
			"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
			Kubectl:                   "k8s.io/kubernetes/cmd/kubectl",
		},
		optional: map[string]bool{Kubectl: true},
		ldflags:  kubeLDFlags,
	},
	{
		name:   "kwok",
		module: "sigs.k8s.io/kwok",
		binaries: map[string]string{
			"kwok": "sigs.k8s.io/kwok/cmd/kwok",
		},
		ldflags: func(string) string { return "-s -w" },
	},
}

// buildEstimates are shown so a person knows a long first build is expected.
var buildEstimates = map[string]string{
	"kubernetes": "~15-25 min",
	"etcd":       "~2 min",
	"kwok":       "~3 min",
}

// DefaultBinDir is where binaries are looked for and built: $TENANCY_BIN_DIR
// if set; else bin/ at the root of the github.com/tenancy-dev/tenancy
// checkout containing the working directory; else the user cache directory
// ($XDG_CACHE_HOME or ~/.cache) + /tenancy/bin.
func DefaultBinDir() string {
	if d := os.Getenv("TENANCY_BIN_DIR"); d != "" {
		return d
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if isTenancyModuleRoot(dir) {
				return filepath.Join(dir, "bin")
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tenancy", "bin")
	}
	return filepath.Join(os.TempDir(), "tenancy", "bin")
}

func isTenancyModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == "github.com/tenancy-dev/tenancy"
		}
	}
	return false
}

// EnsureBinaries makes sure etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok (plus any of extra, e.g. Kubectl) are in binDir,
// building them with the go command from the embedded tools modules when they
// are missing or were built from other module versions. Binaries present
// without a version stamp (put there by hand) are adopted as they are.
// Safe to call from several processes at once: they serialise on
// binDir/.lock. Progress lines go to progress (may be nil).
func EnsureBinaries(ctx context.Context, binDir string, progress io.Writer, extra ...string) error {
	if progress == nil {
		progress = io.Discard
	}
	if binDir == "" {
		binDir = DefaultBinDir()
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, e := range extra {
		if !knownBinary(e) {
			return fmt.Errorf("unknown binary %q (known: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, kubectl)", e)
		}
		want[e] = true
	}
	// Fast path without the lock: everything present and stamped.
	if plans, err := planBuilds(binDir, want); err == nil && len(plans) == 0 {
		return nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("create bin dir: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(binDir, ".lock"), func() {
		fmt.Fprintf(progress, "waiting for another process building binaries in %s…\n", binDir)
	})
	if err != nil {
		return fmt.Errorf("lock %s: %w", binDir, err)
	}
	defer unlock()
	plans, err := planBuilds(binDir, want)
	if err != nil {
		return err
	}
	for _, p := range plans {
		if err := p.run(ctx, binDir, progress); err != nil {
			return err
		}
	}
	return nil
}

func knownBinary(name string) bool {
	for _, m := range toolModules {
		if _, ok := m.binaries[name]; ok {
			return true
		}
	}
	return false
}

// buildPlan is the work for one tools module: binaries to build (if any) and
// the stamp to write.
type buildPlan struct {
	mod       toolModule
	version   string
	stamp     string
	gomod     []byte
	gosum     []byte
	build     []string // binary names, sorted
	stampOnly bool     // binaries present but unstamped: adopt them
	stale     bool     // built from another version of the module
}

func planBuilds(binDir string, want map[string]bool) ([]buildPlan, error) {
	var plans []buildPlan
	for _, m := range toolModules {
		gomod, err := toolMods.ReadFile("toolmods/" + m.name + "/go.mod.txt")
		if err != nil {
			return nil, err
		}
		gosum, err := toolMods.ReadFile("toolmods/" + m.name + "/go.sum.txt")
		if err != nil {
			return nil, err
		}
		version := moduleVersion(gomod, m.module)
		ld := m.ldflags(version)
		sum := sha256.New()
		for _, b := range [][]byte{gomod, gosum, []byte(ld)} {
			sum.Write(b)
			sum.Write([]byte{0})
		}
		stamp := m.module + " " + version + " " + hex.EncodeToString(sum.Sum(nil))[:16]
		old, _ := os.ReadFile(stampPath(binDir, m.name))
		stale := len(old) > 0 && strings.TrimSpace(string(old)) != stamp
		p := buildPlan{mod: m, version: version, stamp: stamp, gomod: gomod, gosum: gosum, stale: stale}
		for _, bin := range slices.Sorted(maps.Keys(m.binaries)) {
			present := fileExists(filepath.Join(binDir, bin))
			needed := !m.optional[bin] || want[bin]
			if needed && (!present || stale) {
				p.build = append(p.build, bin)
			}
		}
		switch {
		case len(p.build) > 0:
			plans = append(plans, p)
		case len(old) == 0:
			p.stampOnly = true
			plans = append(plans, p)
		}
	}
	return plans, nil
}

func (p buildPlan) run(ctx context.Context, binDir string, progress io.Writer) error {
	if p.stampOnly {
		return writeFileAtomic(stampPath(binDir, p.mod.name), []byte(p.stamp+"\n"), 0o644)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("%s missing from %s: Go (https://go.dev/dl) is needed once to build them from %s %s, "+
			"or put prebuilt binaries in %s (or set TENANCY_BIN_DIR)", strings.Join(p.build, ", "), binDir, p.mod.module, p.version, binDir)
	}
	if p.stale {
		// Optional binaries not asked for now must not outlive the stamp
		// of their version.
		for b := range p.mod.binaries {
			if !slices.Contains(p.build, b) {
				_ = os.Remove(filepath.Join(binDir, b))
			}
		}
	}
	dir := filepath.Join(binDir, ".build", p.mod.name)
	out := filepath.Join(dir, "out")
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), p.gomod, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), p.gosum, 0o644); err != nil {
		return err
	}
	est := buildEstimates[p.mod.name]
	fmt.Fprintf(progress, "building %s from %s %s (first time only, %s)…\n", strings.Join(p.build, ", "), p.mod.module, p.version, est)
	start := time.Now()
	args := []string{"build", "-trimpath", "-ldflags", p.mod.ldflags(p.version), "-o", out + string(filepath.Separator)}
	for _, b := range p.build {
		args = append(args, p.mod.binaries[b])
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", strings.Join(p.build, " "), dir, err, lastLines(stderr.String(), 30))
	}
	for _, b := range p.build {
		src := filepath.Join(out, goBinaryName(p.mod.binaries[b]))
		if err := os.Rename(src, filepath.Join(binDir, b)); err != nil {
			return fmt.Errorf("install %s: %w", b, err)
		}
	}
	_ = os.RemoveAll(out)
	if err := writeFileAtomic(stampPath(binDir, p.mod.name), []byte(p.stamp+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(progress, "built %s in %s\n", strings.Join(p.build, ", "), time.Since(start).Round(time.Second))
	return nil
}

func stampPath(binDir, name string) string {
	return filepath.Join(binDir, ".build", name+".stamp")
}

// moduleVersion returns the version of mod required in a go.mod file.
func moduleVersion(gomod []byte, mod string) string {
	for line := range strings.SplitSeq(string(gomod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == mod {
			return f[1]
		}
	}
	return "(unknown version)"
}

// goBinaryName is the name go build gives the binary of package pkg: its
// last path element, or the one before a major version suffix ("/v3").
func goBinaryName(pkg string) string {
	elems := strings.Split(pkg, "/")
	last := elems[len(elems)-1]
	if len(elems) > 1 && len(last) > 1 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
		return elems[len(elems)-2]
	}
	return last
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), perm)); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
