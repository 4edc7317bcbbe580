package controllercmd

import (
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

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
			cmd := NewCommand(genericiooptions.NewTestIOStreamsDiscard())
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			// The options live in the command's closure: read them back
			// through the flags' values.
			o := &Options{}
			o.ctrl.Concurrency = 1
			f := cmd.Flags()
			o.ctrl.LeaseDuration, _ = f.GetDuration("leader-elect-lease-duration")
			o.ctrl.RenewDeadline, _ = f.GetDuration("leader-elect-renew-deadline")
			o.ctrl.RetryPeriod, _ = f.GetDuration("leader-elect-retry-period")
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
