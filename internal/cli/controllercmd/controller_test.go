package controllercmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// parse is the options the command's flags make of args.
func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	o := &Options{}
	f := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	o.addFlags(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestControllerLeaderElectionFlags: the election durations are parsed and
// must be in order (retry < renew deadline < lease duration).
func TestControllerLeaderElectionFlags(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string // "" for valid
	}{
		"defaults": {nil, ""},
		"short":    {[]string{"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms"}, ""},
		"renew not below lease": {[]string{"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=4s"},
			"--leader-elect-lease-duration (4s) must be longer than --leader-elect-renew-deadline (4s)"},
		"retry not below renew": {[]string{"--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=2s"},
			"--leader-elect-renew-deadline (2s) must be longer than --leader-elect-retry-period (2s)"},
		"zero retry": {[]string{"--leader-elect-retry-period=0s"}, "--leader-elect-retry-period must be positive"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := parse(t, tc.args...)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestControllerKubeconfig: the connection is kubectl's: the kubeconfig
// named by --kubeconfig, its context chosen by --context, and the flags
// over it; a kubeconfig that is not there is an error that names it.
func TestControllerKubeconfig(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://a.example:6443"}
- name: b
  cluster: {server: "https://b.example:6443"}
users:
- name: u
  user: {token: secret-token}
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u}
current-context: a
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args       []string
		host, want string // want: "" for no error, else part of it
	}{
		"current context":  {args: []string{"--kubeconfig", kubeconfig}, host: "https://a.example:6443"},
		"--context":        {args: []string{"--kubeconfig", kubeconfig, "--context", "b"}, host: "https://b.example:6443"},
		"-s over the file": {args: []string{"--kubeconfig", kubeconfig, "-s", "https://c.example:6443"}, host: "https://c.example:6443"},
		"no such context":  {args: []string{"--kubeconfig", kubeconfig, "--context", "nope"}, want: `context "nope" does not exist`},
		"no such file":     {args: []string{"--kubeconfig", filepath.Join(dir, "missing")}, want: filepath.Join(dir, "missing")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := parse(t, tc.args...).restConfig()
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("restConfig = %v, want an error with %q", err, tc.want)
				}
			case err != nil:
				t.Fatalf("restConfig: %v", err)
			case cfg.Host != tc.host || cfg.BearerToken != "secret-token":
				t.Errorf("restConfig: host %q, token %q; want %q and the kubeconfig's token", cfg.Host, cfg.BearerToken, tc.host)
			}
		})
	}
}
