package cli

import (
	"errors"
	"testing"
)

func TestInvocationOf(t *testing.T) {
	onPath := func(p string) func(string) (string, error) {
		return func(string) (string, error) {
			if p == "" {
				return "", errors.New("not found")
			}
			return p, nil
		}
	}
	tests := map[string]struct {
		arg0, exe, tmp string
		path           string
		want           string
	}{
		"kubectl plugin":       {arg0: "/usr/local/bin/kubectl-tenancy", exe: "/usr/local/bin/tenancy", want: "kubectl tenancy"},
		"go run":               {arg0: "/tmp/go-build123/b001/exe/tenancy", exe: "/tmp/go-build123/b001/exe/tenancy", tmp: "/tmp", want: "go run ./cmd/tenancy"},
		"on PATH":              {arg0: "tenancy", exe: "/usr/local/bin/tenancy", tmp: "/tmp", path: "/usr/local/bin/tenancy", want: "tenancy"},
		"another one on PATH":  {arg0: "./bin/tenancy", exe: "/src/bin/tenancy", tmp: "/tmp", path: "/usr/local/bin/tenancy", want: "/src/bin/tenancy"},
		"not on PATH, spaces":  {arg0: "./tenancy", exe: "/home/a b/tenancy", tmp: "/tmp", want: "'/home/a b/tenancy'"},
		"no executable at all": {arg0: "tenancy", want: "tenancy"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := invocationOf(tc.arg0, tc.exe, tc.tmp, onPath(tc.path)); got != tc.want {
				t.Errorf("invocationOf() = %q, want %q", got, tc.want)
			}
		})
	}
}
