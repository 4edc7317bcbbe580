package shim

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveInRootKeepsSymlinksInside(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"run", "var", "etc/real"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, dest := range map[string]string{"var/run": "/run", "etc/rel": "real", "loop": "/loop"} {
		if err := os.Symlink(dest, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[string]string{
		"/var/run/secrets/x": "/run/secrets/x",
		"/etc/rel/f":         "/etc/real/f",
		"/data/f":            "/data/f",
		"/../../etc/rel":     "/etc/real",
	} {
		got, err := resolveInRoot(root, in)
		if err != nil || got != filepath.Join(root, want) {
			t.Errorf("resolveInRoot(%q) = %q, %v; want %q", in, got, err, filepath.Join(root, want))
		}
	}
	if _, err := resolveInRoot(root, "/loop/x"); err == nil {
		t.Error("a symlink loop resolved")
	}
}

func TestLookPath(t *testing.T) {
	if p, err := lookPath("sh", []string{"PATH=/nonexistent:/bin:/usr/bin"}); err != nil || filepath.Base(p) != "sh" {
		t.Errorf("lookPath(sh) = %q, %v", p, err)
	}
	if _, err := lookPath("no-such-command-here", []string{"PATH=/bin"}); err == nil {
		t.Error("found a command that does not exist")
	}
	if p, _ := lookPath("./x", nil); p != "./x" {
		t.Errorf("a path with a slash is taken as is, got %q", p)
	}
}
