//go:build integration

package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

type jobItem struct {
	Name, State, Reason, SubmittedBy, Namespace string
	Tasks                                       int
	Created                                     time.Time
	Command                                     []string
	DryRun                                      bool
	TaskStatus                                  []struct {
		Index int
		State string
	}
}

func listJobs(t *testing.T, s *testServer, tok, query string) []jobItem {
	t.Helper()
	var out struct{ Items []jobItem }
	s.call(t, "GET", "/api/v1/workspaces/jr-alex/jobs"+query, tok, nil).want(t, 200).json(t, &out)
	return out.Items
}

// TestJobsREST drives /api/v1/workspaces/{ws}/jobs as people do, with no
// nodes (jobs stay Queued): what RBAC lets each one do, the shapes, the
// errors. test/e2e/jobs runs them on nodes.
func TestJobsREST(t *testing.T) {
	s := srv(t)
	alexPW, tomPW, evePW := addUser(t, "jr-alex"), addUser(t, "jr-tom"), addUser(t, "jr-eve")
	workspace(t, "jr-alex", "jr-alex", tenancyv1.Contributor{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "jr-tom"}, Role: tenancyv1.RoleView})
	alex, tom, eve := s.login(t, "jr-alex", alexPW), s.login(t, "jr-tom", tomPW), s.login(t, "jr-eve", evePW)
	const base = "/api/v1/workspaces/jr-alex/jobs"

	var sub jobItem
	r := s.call(t, "POST", base, alex, map[string]any{"name": "train", "command": []string{"python", "train.py"}, "tasks": 2, "resources": map[string]any{"cpu": "1", "gpu": 1}, "timeLimit": "1h"}).want(t, 201)
	r.json(t, &sub)
	if sub.Name != "train" || sub.State != "Queued" || sub.SubmittedBy != "jr-alex" || sub.Tasks != 2 || strings.Join(sub.Command, " ") != "python train.py" || sub.Created.IsZero() {
		t.Errorf("submitted %+v", sub)
	}
	if r.Header.Get("Location") != base+"/train" {
		t.Errorf("Location %q", r.Header.Get("Location"))
	}
	job := &batchv1.Job{}
	if err := env.Admin.Get(t.Context(), client.ObjectKey{Namespace: "jr-alex", Name: "train"}, job); err != nil {
		t.Fatal(err)
	}
	if job.Annotations[tenancyv1.AnnotationSubmittedBy] != "jr-alex" || *job.Spec.ActiveDeadlineSeconds != 3600 || *job.Spec.Completions != 2 {
		t.Errorf("the Job: %+v %+v", job.Annotations, job.Spec)
	}

	t.Run("a generated name, and a dry run creates nothing", func(t *testing.T) {
		var gen jobItem
		s.call(t, "POST", base, alex, map[string]any{"script": "echo hi"}).want(t, 201).json(t, &gen)
		if !strings.HasPrefix(gen.Name, "job-") {
			t.Errorf("generated name %q", gen.Name)
		}
		var dry jobItem
		s.call(t, "POST", base+"?dryRun=true", alex, map[string]any{"name": "dry", "script": "echo hi"}).want(t, 200).json(t, &dry)
		if !dry.DryRun || dry.Name != "dry" {
			t.Errorf("dry run %+v", dry)
		}
		if err := env.Admin.Get(t.Context(), client.ObjectKey{Namespace: "jr-alex", Name: "dry"}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
			t.Errorf("the dry run made a Job: %v", err)
		}
	})

	t.Run("bad input and what can never fit", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"script":"x","resources":{"gpu":3}}`:             "requests.nvidia.com/gpu: 1 task(s) × 3 = 3 is more than the workspace's quota of 2",
			`{"script":"x","tasks":5,"resources":{"cpu":"4"}}`: "requests.cpu: 5 task(s) × 4 = 20 is more than the workspace's quota of 16",
		} {
			r := s.call(t, "POST", base, alex, body).want(t, 422)
			if code, msg := r.errBody(t); code != "exceeds_quota" || !strings.Contains(msg, want) {
				t.Errorf("%s: %s %q, want %q", body, code, msg, want)
			}
		}
		for body, want := range map[string]string{
			`{}`: "command: give the command to run",
			`{"script":"x","resources":{"cpu":"ten"}}`: `resources.cpu: "ten" is not a quantity`,
			`{"script":"x","timeLimit":"soon"}`:        `timeLimit: "soon" is not a duration`,
			`{"script":"x","name":"Bad_Name"}`:         `name: "Bad_Name" is not a valid job name`,
			`{"script":"x","nodes":3}`:                 `unknown field "nodes"`,
		} {
			r := s.call(t, "POST", base, alex, body).want(t, 400)
			if _, msg := r.errBody(t); !strings.Contains(msg, want) {
				t.Errorf("%s: %q, want %q", body, msg, want)
			}
		}
		r := s.call(t, "POST", base, alex, map[string]any{"name": "train", "script": "x"}).want(t, 409)
		if _, msg := r.errBody(t); !strings.Contains(msg, "already exists") {
			t.Errorf("the same name twice: %s", msg)
		}
		if _, msg := s.call(t, "GET", base+"?state=done", alex, nil).want(t, 400).errBody(t); !strings.Contains(msg, "use one of Queued, Running, Succeeded, Failed, Cancelled") {
			t.Errorf("?state=done: %s", msg)
		}
	})

	t.Run("list, filters, get", func(t *testing.T) {
		items := listJobs(t, s, alex, "")
		if len(items) != 2 || items[0].Created.Before(items[1].Created) {
			t.Fatalf("alex's list %+v", items)
		}
		if got := listJobs(t, s, alex, "?mine=true&state=queued"); len(got) != 2 {
			t.Errorf("mine, queued: %+v", got)
		}
		if got := listJobs(t, s, tom, "?mine=true"); len(got) != 0 {
			t.Errorf("tom's own: %+v", got)
		}
		if got := listJobs(t, s, alex, "?state=Running"); len(got) != 0 {
			t.Errorf("running: %+v", got)
		}
		var d jobItem
		s.call(t, "GET", base+"/train", tom, nil).want(t, 200).json(t, &d)
		if d.Name != "train" || len(d.TaskStatus) != 2 || d.TaskStatus[1].Index != 1 {
			t.Errorf("tom reads %+v", d)
		}
		if _, msg := s.call(t, "GET", base+"/nope", alex, nil).want(t, 404).errBody(t); !strings.Contains(msg, "job nope not found in jr-alex") {
			t.Errorf("no such job: %s", msg)
		}
		if _, msg := s.call(t, "GET", base+"/train/logs?task=2", alex, nil).want(t, 400).errBody(t); !strings.Contains(msg, "its tasks are 0 to 1") {
			t.Errorf("logs of task 2 of 2: %s", msg)
		}
		r := s.call(t, "GET", base+"/train/logs", tom, nil).want(t, 200)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || len(r.Body) != 0 {
			t.Errorf("logs of a queued job: %s %q", ct, r.Body)
		}
	})

	t.Run("a view contributor reads but may not submit, cancel or delete", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"POST", base}, {"POST", base + "/train/cancel"}, {"DELETE", base + "/train"},
		} {
			var body any
			if c.path == base {
				body = map[string]any{"script": "x"}
			}
			if code, _ := s.call(t, c.method, c.path, tom, body).want(t, 403).errBody(t); code != "forbidden" {
				t.Errorf("%s %s as tom: %s", c.method, c.path, code)
			}
		}
	})

	t.Run("nobody else sees a thing", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", base}, {"GET", base + "/train"}, {"GET", base + "/train/logs"}, {"POST", base + "/train/cancel"},
			{"DELETE", base + "/train"}, {"POST", base},
		} {
			var body any
			if c.path == base && c.method == "POST" {
				body = map[string]any{"script": "x"}
			}
			r := s.call(t, c.method, c.path, eve, body)
			if r.Status != 403 && r.Status != 404 {
				t.Errorf("%s %s as eve: %d %s", c.method, c.path, r.Status, r.Body)
			}
		}
		if r := s.call(t, "GET", "/api/v1/workspaces/no-such/jobs", alex, nil); r.Status != 403 && r.Status != 404 {
			t.Errorf("jobs of a workspace that does not exist: %d", r.Status)
		}
		s.call(t, "GET", base, "", nil).want(t, 401)
	})

	t.Run("cancel keeps it listed, then delete", func(t *testing.T) {
		var c jobItem
		s.call(t, "POST", base+"/train/cancel", alex, nil).want(t, 200).json(t, &c)
		if c.State != "Cancelled" || c.Reason != "cancelled by jr-alex" {
			t.Errorf("cancelled %+v", c)
		}
		got := listJobs(t, s, tom, "?state=Cancelled")
		if len(got) != 1 || got[0].Name != "train" {
			t.Errorf("cancelled list %+v", got)
		}
		eventually(t, time.Minute, "the cancelled job ends", func() (bool, string) {
			j := &batchv1.Job{}
			if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: "jr-alex", Name: "train"}, j); err != nil {
				return false, err.Error()
			}
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobFailed && c.Status == "True" {
					return true, ""
				}
			}
			return false, "not Failed yet"
		})
		s.call(t, "DELETE", base+"/train", alex, nil).want(t, 204)
		s.call(t, "GET", base+"/train", alex, nil).want(t, 404)
	})
}
