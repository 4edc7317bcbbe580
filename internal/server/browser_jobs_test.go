//go:build integration

package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// nodes counts the elements sel matches.
func nodes(ctx context.Context, t *testing.T, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		t.Fatalf("find %s: %v", sel, err)
	}
	return len(n)
}

// liveText reads sel's text on a page whose [data-live] parts are
// replaced every few seconds: a read that raced a replacement is tried
// again.
func liveText(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	var last error
	for range 20 {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := chromedp.Run(tctx, chromedp.Text(CSS(sel)))
		cancel()
		if err == nil {
			return s
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("read %s: %v", sel, last)
	return ""
}

// setField types value into the form field name, as a person would (the
// page's input handlers run).
func setField(ctx context.Context, t *testing.T, name, value string) {
	t.Helper()
	eval(ctx, t, `(() => { const el = document.querySelector('[name="`+name+`"]'); el.value = `+strconv.Quote(value)+`; el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
}

func eval(ctx context.Context, t *testing.T, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](js)); err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
}

// The jobs pages, with no nodes (jobs stay Queued; test/e2e/jobs runs
// them): the submit form with the quota left, refusing early what can
// never fit and showing the server's refusal, the job page, the live
// table, and Cancel only for who may.
func TestBrowserJobs(t *testing.T) {
	s := srv(t)
	alexPW, tomPW := addUser(t, "bj-alex"), addUser(t, "bj-tom")
	workspace(t, "bj-alex", "bj-alex", tenancyv1.Contributor{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "bj-tom"}, Role: tenancyv1.RoleView})
	usePods(t, "bj-alex", "2", "1Gi", "1")
	alex := browser(t)
	signIn(alex, t, s.URL, "bj-alex", alexPW)

	run(alex, t, chromedp.Navigate(s.URL+"/workspaces/bj-alex"), chromedp.Click(CSS(`#workspace-jobs`)), chromedp.WaitVisible(CSS(`#no-jobs`)))
	run(alex, t, chromedp.Click(CSS(`#new-job`)), chromedp.WaitVisible(CSS(`#job-form`)))
	eventually(t, 30*time.Second, "the quota left counts the pod", func() (bool, string) {
		run(alex, t, chromedp.Reload(), chromedp.WaitVisible(CSS(`#quota-left`)))
		gpu := liveText(alex, t, `[data-quota="gpu"]`)
		return strings.Contains(gpu, "1") && strings.Contains(gpu, "2"), gpu
	})
	if cpu := liveText(alex, t, `[data-quota="cpu"]`); !strings.Contains(cpu, "14") || !strings.Contains(cpu, "16") {
		t.Errorf("CPU left: %q", cpu)
	}

	// Typing what can never fit is refused at once, before any request.
	run(alex, t, chromedp.SendKeys(CSS(`textarea[name="script"]`), `echo "hello from $JOB_COMPLETION_INDEX"`))
	setField(alex, t, "tasks", "3")
	setField(alex, t, "gpu", "1")
	run(alex, t, chromedp.WaitVisible(CSS(`#fit-warning`)))
	if w := liveText(alex, t, "#fit-warning"); !strings.Contains(w, "3 task(s) × 1 GPUs is more than the workspace's quota of 2 GPUs") {
		t.Errorf("warning %q", w)
	}
	if nodes(alex, t, `#submit-job[disabled]`) != 1 {
		t.Error("Submit is not disabled for a job that can never fit")
	}
	screenshot(alex, t, "job-submit")
	// Past the browser's check, the server refuses it too, keeping the form.
	eval(alex, t, `document.getElementById("submit-job").disabled = false; document.getElementById("job-form").submit(); true`)
	run(alex, t, chromedp.WaitVisible(CSS(`#error`)))
	if e := liveText(alex, t, "#error"); !strings.Contains(e, "requests.nvidia.com/gpu: 3 task(s) × 1 = 3 is more than the workspace's quota of 2") {
		t.Errorf("server refusal %q", e)
	}
	if v, _ := chromedp.Run(alex, chromedp.Value(CSS(`input[name="tasks"]`))); v != "3" {
		t.Errorf("the form forgot the tasks: %q", v)
	}

	// A job that fits.
	setField(alex, t, "tasks", "2")
	setField(alex, t, "name", "bj-train")
	if nodes(alex, t, `#submit-job[disabled]`) != 0 || nodes(alex, t, `#fit-warning[hidden]`) != 1 {
		t.Error("a job that fits is still refused by the page")
	}
	run(alex, t, chromedp.Click(CSS(`#submit-job`)), chromedp.WaitVisible(CSS(`#job-state`)))
	if loc := location(alex, t); !strings.Contains(loc, "/workspaces/bj-alex/jobs/bj-train") {
		t.Fatalf("after submit: %s", loc)
	}
	if st := liveText(alex, t, "#job-state"); st != "Queued" {
		t.Errorf("state %q", st)
	}
	if n := nodes(alex, t, `#tasks [data-task]`); n != 2 {
		t.Errorf("%d task rows, want 2", n)
	}
	if nodes(alex, t, "#cancel-job") != 1 || nodes(alex, t, "#delete-job") != 1 {
		t.Error("the owner is not offered Cancel and Delete")
	}

	// The table follows new jobs live, without a reload.
	run(alex, t, chromedp.Navigate(s.URL+"/workspaces/bj-alex/jobs"), chromedp.WaitVisible(CSS(`[data-job="bj-train"]`)))
	tok := s.login(t, "bj-alex", alexPW)
	s.call(t, "POST", "/api/v1/workspaces/bj-alex/jobs", tok, map[string]any{"name": "bj-later", "command": []string{"sleep", "1"}}).want(t, 201)
	eventually(t, 15*time.Second, "the new job shows up by itself", func() (bool, string) {
		return nodes(alex, t, `[data-job="bj-later"]`) == 1, liveText(alex, t, "#jobs-table")
	})
	run(alex, t, chromedp.Click(CSS(`#filter-mine`)), chromedp.WaitVisible(CSS(`[data-job="bj-train"]`)))
	setField(alex, t, "state", "Running")
	run(alex, t, chromedp.WaitVisible(CSS(`#no-jobs`)))
	if loc := location(alex, t); !strings.Contains(loc, "state=Running") || !strings.Contains(loc, "mine=true") {
		t.Errorf("filters in the address: %s", loc)
	}

	// tom, a view contributor, reads but is offered neither submit nor cancel.
	tom := browser(t)
	signIn(tom, t, s.URL, "bj-tom", tomPW)
	run(tom, t, chromedp.Navigate(s.URL+"/workspaces/bj-alex/jobs"), chromedp.WaitVisible(CSS(`[data-job="bj-train"]`)))
	if nodes(tom, t, "#new-job") != 0 {
		t.Error("tom is offered to submit")
	}
	run(tom, t, chromedp.Navigate(s.URL+"/workspaces/bj-alex/jobs/bj-train"), chromedp.WaitVisible(CSS(`#job-state`)))
	if nodes(tom, t, "#cancel-job") != 0 || nodes(tom, t, "#delete-job") != 0 {
		t.Error("tom is offered Cancel or Delete")
	}
	// Posting the form anyway is refused by RBAC.
	eval(tom, t, `const f = document.createElement("form"); f.method = "post"; f.action = location.pathname + "/cancel"; document.body.append(f); f.submit(); true`)
	run(tom, t, chromedp.WaitVisible(CSS(`#error`)))
	if e := liveText(tom, t, "#error"); !strings.Contains(e, "forbidden") && !strings.Contains(e, "cannot patch") {
		t.Errorf("tom's cancel: %q", e)
	}

	// alex cancels: it stays, Cancelled, and Cancel is gone.
	run(alex, t, chromedp.Navigate(s.URL+"/workspaces/bj-alex/jobs/bj-train"), chromedp.WaitVisible(CSS(`#cancel-job`)))
	eval(alex, t, `window.confirm = () => true; true`)
	run(alex, t, chromedp.Click(CSS(`#cancel-job`)), chromedp.WaitVisible(CSS(`.notice`)))
	if st := liveText(alex, t, "#job-state"); st != "Cancelled" {
		t.Errorf("after cancel: %q", st)
	}
	if r := liveText(alex, t, "#job-reason"); r != "cancelled by bj-alex" {
		t.Errorf("reason %q", r)
	}
	if nodes(alex, t, "#cancel-job") != 0 {
		t.Error("Cancel is still offered")
	}

	// Others see nothing.
	eve := browser(t)
	signIn(eve, t, s.URL, "bj-eve", addUser(t, "bj-eve"))
	run(eve, t, chromedp.Navigate(s.URL+"/workspaces/bj-alex/jobs/bj-train"), chromedp.WaitVisible(CSS(`main`)))
	if body := liveText(eve, t, "main"); strings.Contains(body, "bj-train") && strings.Contains(body, "Queued") || !strings.Contains(body, "forbidden") && !strings.Contains(body, "not found") {
		t.Errorf("eve's view of alex's job:\n%s", body)
	}
}
