package grant

import (
	"strings"
	"testing"

	"github.com/tenancy-dev/tenancy/internal/testutil"
)

func TestGrantValidate(t *testing.T) {
	tests := map[string]struct {
		o       Options
		wantErr string
	}{
		"user":          {o: Options{User: "jane", Classes: []string{"gpu"}}},
		"group, all":    {o: Options{Group: "ml", AllClasses: true}},
		"nobody":        {o: Options{}, wantErr: "name who: --user USER or --group GROUP"},
		"both":          {o: Options{User: "jane", Group: "ml"}, wantErr: "--user and --group are exclusive"},
		"class and all": {o: Options{User: "jane", Classes: []string{"gpu"}, AllClasses: true}, wantErr: "--class and --all-classes are exclusive"},
		"system user":   {o: Options{User: "system:admin"}, wantErr: `--user "system:admin": a name may not contain`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestGrantNames(t *testing.T) {
	creator, classes := Names(testutil.User("jane@example.com"))
	if creator != "tenancy:create-workspaces:user:jane@example.com" || classes != creator+":classes" {
		t.Errorf("got %q, %q", creator, classes)
	}
}
