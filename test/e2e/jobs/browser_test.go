//go:build integration

package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testenv"
	"github.com/tenancy-dev/tenancy/internal/testutil/browsertest"
)

// The journeys run in real headless Chromium (see browsertest).
var (
	browser    = browsertest.Browser
	run        = browsertest.Run
	text       = browsertest.Text
	screenshot = browsertest.Screenshot
)

type CSS = chromedp.CSS

// A job submitted with the form runs on the nodes, and its page follows
// its output as it is written, without a reload.
func TestBrowserFollowsAJob(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	class := &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "ui-volume"},
		Spec: tenancyv1.WorkspaceClassSpec{
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				"requests.cpu": resource.MustParse("8"), "requests.memory": resource.MustParse("16Gi"), "requests.nvidia.com/gpu": resource.MustParse("4"),
			}},
			Storage: &tenancyv1.StorageSpec{Size: resource.MustParse("1Gi")},
		},
	}
	if err := env.Admin.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ui.yaml"), []byte("class: ui-volume\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := addUser(t, dir, "ui-alex", "--config", "ui.yaml")
	base := serve(t, dir)
	alex := signIn(t, base, "ui-alex", pw)
	const api = "/api/v1/workspaces/ui-alex/jobs"
	// Some history for the table.
	testenv.Eventually(t, wait, "the first job is accepted", func(context.Context) error {
		if r := alex.do("POST", api, map[string]any{"name": "prepare-data", "script": "echo prepared"}); r.status != 201 {
			return &textError{string(r.body)}
		}
		return nil
	})
	alex.do("POST", api, map[string]any{"name": "broken-run", "script": "echo oops >&2; exit 2", "resources": map[string]any{"cpu": "500m"}}).want(201)
	alex.do("POST", api, map[string]any{"name": "long-sweep", "command": []string{"sleep", "600"}, "resources": map[string]any{"gpu": 1}}).want(201)
	alex.waitState("ui-alex", "long-sweep", "Running")
	alex.do("POST", api+"/long-sweep/cancel", nil).want(200)
	alex.waitState("ui-alex", "broken-run", "Failed")
	alex.waitState("ui-alex", "prepare-data", "Succeeded")

	b := browser(t)
	run(b, t,
		chromedp.Navigate(base+"/workspaces/ui-alex/jobs/new"),
		chromedp.WaitVisible(CSS(`input[name="username"]`)),
		chromedp.SendKeys(CSS(`input[name="username"]`), "ui-alex"),
		chromedp.SendKeys(CSS(`input[name="password"]`), pw),
		chromedp.Click(CSS(`#sign-in`)),
		chromedp.WaitVisible(CSS(`#job-form`)),
		chromedp.SendKeys(CSS(`textarea[name="script"]`), `for i in 1 2 3 4 5 6 7 8 9 10; do echo "shard $JOB_COMPLETION_INDEX epoch $i"; sleep 1; done`),
		chromedp.SendKeys(CSS(`input[name="name"]`), "train-resnet"),
		chromedp.SendKeys(CSS(`input[name="cpu"]`), "1"),
	)
	for name, v := range map[string]string{"tasks": "2", "gpu": "1"} {
		js := `(() => { const el = document.querySelector('[name="` + name + `"]'); el.value = "` + v + `"; el.dispatchEvent(new Event("input", {bubbles: true})); return true })()`
		if _, err := chromedp.Run(b, chromedp.Evaluate[any](js)); err != nil {
			t.Fatal(err)
		}
	}
	run(b, t, chromedp.Click(CSS(`#submit-job`)), chromedp.WaitVisible(CSS(`#job-log`)))

	// The output arrives while the page stays: no reload, the first lines
	// while the job still runs.
	testenv.Eventually(t, wait, "the page shows the output as it is written", func(context.Context) error {
		if log := text(b, t, "#job-log"); !strings.Contains(log, "[task 0] shard 0 epoch 2") {
			return &textError{log}
		}
		return nil
	})
	if j := alex.job("ui-alex", "train-resnet"); j.State != "Running" {
		t.Errorf("the output came only after the job: %s", j.State)
	}
	testenv.Eventually(t, wait, "the state follows to Running", func(context.Context) error {
		if st := text(b, t, "#job-state"); st != "Running" {
			return &textError{st}
		}
		return nil
	})
	screenshot(b, t, "job")
	testenv.Eventually(t, wait, "every task's output, followed to the end", func(context.Context) error {
		if log := text(b, t, "#job-log"); !strings.Contains(log, "[task 0] shard 0 epoch 10") || !strings.Contains(log, "[task 1] shard 1 epoch 10") {
			return &textError{log}
		}
		return nil
	})
	testenv.Eventually(t, wait, "the state follows to Succeeded", func(context.Context) error {
		if st := text(b, t, "#job-state"); st != "Succeeded" {
			return &textError{st}
		}
		return nil
	})
	run(b, t, chromedp.Navigate(base+"/workspaces/ui-alex/jobs"), chromedp.WaitVisible(CSS(`[data-job="train-resnet"]`)))
	for name, state := range map[string]string{"train-resnet": "Succeeded", "broken-run": "Failed", "long-sweep": "Cancelled", "prepare-data": "Succeeded"} {
		if row := text(b, t, `[data-job="`+name+`"]`); !strings.Contains(row, state) {
			t.Errorf("row %s: %q, want %s", name, row, state)
		}
	}
	screenshot(b, t, "jobs")
}

type textError struct{ s string }

func (e *textError) Error() string { return e.s }
