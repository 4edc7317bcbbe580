package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tenancy-dev/tenancy/internal/jobs"
)

func TestSubmitRequest(t *testing.T) {
	tests := map[string]struct {
		req     submitRequest
		want    func(jobs.Submission) bool
		wantErr string
	}{
		"quantities and a duration": {
			req: submitRequest{Script: "x", Resources: resourcesRequest{CPU: "500m", Memory: "2Gi", GPU: 1}, TimeLimit: "90m"},
			want: func(s jobs.Submission) bool {
				return s.Resources.CPU.String() == "500m" && s.Resources.Memory.String() == "2Gi" && s.TimeLimit == 90*time.Minute
			},
		},
		"seconds":       {req: submitRequest{Script: "x", TimeLimit: "120"}, want: func(s jobs.Submission) bool { return s.TimeLimit == 2*time.Minute }},
		"bad cpu":       {req: submitRequest{Script: "x", Resources: resourcesRequest{CPU: "ten"}}, wantErr: `resources.cpu: "ten" is not a quantity (e.g. "2" or "500m")`},
		"bad memory":    {req: submitRequest{Script: "x", Resources: resourcesRequest{Memory: "lots"}}, wantErr: `resources.memory: "lots" is not a quantity`},
		"bad duration":  {req: submitRequest{Script: "x", TimeLimit: "soon"}, wantErr: `timeLimit: "soon" is not a duration`},
		"no quantities": {req: submitRequest{Command: []string{"true"}}, want: func(s jobs.Submission) bool { return s.Resources.CPU == nil && s.Resources.Memory == nil }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := tc.req.submission()
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			case !tc.want(s):
				t.Errorf("submission %+v", s)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	for in, want := range map[string]jobs.State{"": "", "running": jobs.Running, "Cancelled": jobs.Cancelled, "QUEUED": jobs.Queued} {
		if got, err := parseState(in); err != nil || got != want {
			t.Errorf("parseState(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseState("done"); err == nil || !strings.Contains(err.Error(), "use one of Queued, Running, Succeeded, Failed, Cancelled") {
		t.Errorf("parseState(done) = %v", err)
	}
}

func TestJobsError(t *testing.T) {
	two := resource.MustParse("2")
	tests := []struct {
		err  error
		code string
	}{
		{&jobs.FieldError{Field: "tasks", Message: "no"}, CodeInvalid},
		{&jobs.NeverFitsError{Shortfalls: []jobs.Shortfall{{Resource: "requests.cpu", Tasks: 1, PerTask: two, Need: two, Hard: resource.MustParse("1")}}}, CodeExceedsQuota},
		{fmt.Errorf("wrapped: %w", &jobs.NotFoundError{Namespace: "ml", Name: "x"}), CodeNotFound},
		{fmt.Errorf("cancel: %w", jobs.ErrFinished), CodeConflict},
	}
	for _, tc := range tests {
		var e *Error
		if !errors.As(jobsError(tc.err), &e) || e.Code != tc.code {
			t.Errorf("jobsError(%v) = %v, want code %s", tc.err, jobsError(tc.err), tc.code)
		}
	}
	if e := jobsError(&jobs.NeverFitsError{Shortfalls: []jobs.Shortfall{{Resource: "requests.cpu", Tasks: 1, PerTask: two, Need: two, Hard: resource.MustParse("1")}}}).(*Error); e.Status() != 422 ||
		!strings.Contains(e.Message, "requests.cpu: 1 task(s) × 2 = 2 is more than the workspace's quota of 1") {
		t.Errorf("never fits: %d %s", e.Status(), e.Message)
	}
}

func TestJobForm(t *testing.T) {
	s, err := jobForm{Command: " python  train.py ", Tasks: "4", GPU: "1", Env: "A=1\n\nB = x=y\n"}.submission()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Command, "|") != "python|train.py" || s.Tasks != 4 || s.Resources.GPU != 1 || s.Env["A"] != "1" || s.Env["B"] != " x=y" {
		t.Errorf("submission %+v", s)
	}
	for f, want := range map[jobForm]string{
		{Script: "x", Tasks: "two"}:   `tasks: "two" is not a whole number`,
		{Script: "x", Env: "NOVALUE"}: `env: "NOVALUE" is not NAME=value`,
		{Script: "x", GPU: "-1"}:      `resources.gpu: "-1" is not a whole number`,
	} {
		if _, err := f.submission(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", f, err, want)
		}
	}
}
