//go:build integration

package jobs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

const wait = 2 * time.Minute

type job struct {
	Name, State, Reason, SubmittedBy, OutputPath string
	Tasks                                        int
	ExitCode                                     *int
	Created                                      time.Time
	TaskStatus                                   []struct {
		Index int
		State string
	}
}

// The Arena guide's users, as files for `tenancy user add --config`.
const (
	alexFile = "class: shared-volume\n"
	bobFile  = `quota:
  limits.cpu: "10"
  requests.cpu: "5"
  requests.memory: "10Gi"
  limits.memory: "20Gi"
clusterRoles:
  - apiGroups: [batch]
    resources: [jobs]
    verbs: [list]
`
	tomFile = `quota:
  requests.nvidia.com/gpu: 5
roles:
  - apiGroups: [batch]
    resources: [jobs]
    verbs: [list]
`
)

func (a *api) job(ws, name string) job {
	a.t.Helper()
	var j job
	a.do("GET", "/api/v1/workspaces/"+ws+"/jobs/"+name, nil).want(200).json(&j)
	return j
}

func (a *api) waitState(ws, name, state string) job {
	a.t.Helper()
	var j job
	testenv.Eventually(a.t, wait, "job "+ws+"/"+name+" "+state, func(context.Context) error {
		r := a.do("GET", "/api/v1/workspaces/"+ws+"/jobs/"+name, nil)
		if r.status != 200 {
			return fmt.Errorf("%d %s", r.status, r.body)
		}
		r.json(&j)
		if j.State != state {
			return fmt.Errorf("%s (%s)", j.State, j.Reason)
		}
		return nil
	})
	return j
}

func (a *api) list(ws, query string) []job {
	a.t.Helper()
	var out struct{ Items []job }
	a.do("GET", "/api/v1/workspaces/"+ws+"/jobs"+query, nil).want(200).json(&out)
	return out.Items
}

func (a *api) logs(ws, name, query string) string {
	a.t.Helper()
	r := a.do("GET", "/api/v1/workspaces/"+ws+"/jobs/"+name+"/logs"+query, nil).want(200)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		a.t.Fatalf("logs Content-Type %q", ct)
	}
	return string(r.body)
}

func names(jobs []job) string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return strings.Join(out, ",")
}

func TestJobsThroughREST(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	class := &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "shared-volume"},
		Spec: tenancyv1.WorkspaceClassSpec{
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				"requests.cpu": resource.MustParse("8"), "requests.memory": resource.MustParse("16Gi"), "requests.nvidia.com/gpu": resource.MustParse("2"),
			}},
			Storage: &tenancyv1.StorageSpec{Size: resource.MustParse("1Gi")},
			Jobs:    &tenancyv1.JobDefaults{TTLSecondsAfterFinished: ptr.To[int32](3600)},
		},
	}
	if err := env.Admin.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"alex.yaml": alexFile, "bob.yaml": bobFile, "tom.yaml": tomFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	alexPW := addUser(t, dir, "alex", "--namespace", "workplace1", "--config", "alex.yaml")
	bobPW := addUser(t, dir, "bob", "--namespace", "workplace2", "--config", "bob.yaml")
	tomPW := addUser(t, dir, "tom", "--namespace", "workplace3", "--config", "tom.yaml", "--credential", "token")
	vicPW := addUser(t, dir, "vic", "--namespace", "workplace4")
	tenancy(t, dir, "workspace", "share", "workplace1", "--user", "vic", "--role", "view")
	// The default ServiceAccounts come from kube-controller-manager.
	for _, ns := range []string{"workplace1", "workplace3"} {
		testenv.Eventually(t, wait, "ServiceAccount default in "+ns, func(ctx context.Context) error {
			return env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
		})
	}

	base := serve(t, dir)
	alex, bob, tom, vic := signIn(t, base, "alex", alexPW), signIn(t, base, "bob", bobPW), signIn(t, base, "tom", tomPW), signIn(t, base, "vic", vicPW)
	const w1 = "/api/v1/workspaces/workplace1/jobs"

	t.Run("multi-task: each task its index, output kept apart and on the volume", func(t *testing.T) {
		alex := alex.on(t)
		var j job
		alex.do("POST", w1, map[string]any{"name": "multi", "tasks": 3, "script": `echo "task $JOB_COMPLETION_INDEX of 3"; echo "done $JOB_COMPLETION_INDEX"`}).want(201).json(&j)
		if j.Name != "multi" || j.SubmittedBy != "alex" || j.Tasks != 3 || j.State != "Queued" || j.OutputPath != "/workspace/.tenancy/jobs/multi" {
			t.Errorf("submitted %+v", j)
		}
		// Following from the start streams every task in order until the end.
		fctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		resp := alex.stream(fctx, w1+"/multi/logs?follow=true&prefix=true")
		var lines []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		_ = resp.Body.Close()
		want := "[task 0] task 0 of 3\n[task 0] done 0\n[task 1] task 1 of 3\n[task 1] done 1\n[task 2] task 2 of 3\n[task 2] done 2"
		if got := strings.Join(lines, "\n"); got != want {
			t.Errorf("followed:\n%s\nwant:\n%s", got, want)
		}
		d := alex.waitState("workplace1", "multi", "Succeeded")
		if len(d.TaskStatus) != 3 || d.TaskStatus[2].State != "Succeeded" {
			t.Errorf("tasks %+v", d.TaskStatus)
		}
		if got := alex.logs("workplace1", "multi", "?task=1"); got != "task 1 of 3\ndone 1\n" {
			t.Errorf("task 1: %q", got)
		}
		if got := alex.logs("workplace1", "multi", "?tail=1"); got != "done 0\ndone 1\ndone 2\n" {
			t.Errorf("tail 1: %q", got)
		}
		if r := alex.do("GET", w1+"/multi/logs?task=3", nil).want(400); !strings.Contains(r.message(), "its tasks are 0 to 2") {
			t.Errorf("task 3 of 3: %s", r.message())
		}
		// The output outlives the pods: another job reads it off the volume.
		alex.do("POST", w1, map[string]any{"name": "read-back", "command": []string{"cat", "/workspace/.tenancy/jobs/multi/task-1.log"}}).want(201)
		alex.waitState("workplace1", "read-back", "Succeeded")
		if got := alex.logs("workplace1", "read-back", ""); got != "task 1 of 3\ndone 1\n" {
			t.Errorf("task-1.log on the volume: %q", got)
		}
		// kubectl sees the same Job, submitted by alex and with the class's TTL.
		kj := &batchv1.Job{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: "workplace1", Name: "multi"}, kj); err != nil {
			t.Fatal(err)
		}
		if kj.Annotations[tenancyv1.AnnotationSubmittedBy] != "alex" || ptr.Deref(kj.Spec.TTLSecondsAfterFinished, 0) != 3600 || kj.Labels[tenancyv1.LabelManagedBy] != "tenancy" {
			t.Errorf("the Job: %v %v %v", kj.Annotations, kj.Spec.TTLSecondsAfterFinished, kj.Labels)
		}
	})

	t.Run("follow streams lines as they are written", func(t *testing.T) {
		alex := alex.on(t)
		alex.do("POST", w1, map[string]any{"name": "slow", "script": "echo first; sleep 4; echo second; exit 3"}).want(201)
		fctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		resp := alex.stream(fctx, w1+"/slow/logs?follow=true")
		defer func() { _ = resp.Body.Close() }()
		rd := bufio.NewReader(resp.Body)
		first, err := rd.ReadString('\n')
		if err != nil || first != "first\n" {
			t.Fatalf("first line %q, %v", first, err)
		}
		// The job is still running when its first line arrives.
		if j := alex.job("workplace1", "slow"); j.State != "Running" {
			t.Errorf("while following: %s", j.State)
		}
		rest, _ := rd.ReadString(0)
		if rest != "second\n" {
			t.Errorf("the rest %q", rest)
		}
		j := alex.waitState("workplace1", "slow", "Failed")
		if j.ExitCode == nil || *j.ExitCode != 3 || j.Reason != "task 0 exited with code 3" {
			t.Errorf("failed: %+v", j)
		}
	})

	t.Run("cancel stops the pods, the job stays as Cancelled; delete removes it", func(t *testing.T) {
		alex, vic := alex.on(t), vic.on(t)
		alex.do("POST", w1, map[string]any{"name": "sleeper", "command": []string{"sleep", "600"}}).want(201)
		alex.waitState("workplace1", "sleeper", "Running")
		vic.do("POST", w1+"/sleeper/cancel", nil).want(403)
		var c job
		alex.do("POST", w1+"/sleeper/cancel", nil).want(200).json(&c)
		if c.State != "Cancelled" || c.Reason != "cancelled by alex" {
			t.Errorf("cancel: %+v", c)
		}
		testenv.Eventually(t, wait, "the sleeper's pod gone", func(ctx context.Context) error {
			pods := &corev1.PodList{}
			if err := env.Admin.List(ctx, pods, client.InNamespace("workplace1"), client.MatchingLabels{"batch.kubernetes.io/job-name": "sleeper"}); err != nil {
				return err
			}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending {
					return fmt.Errorf("pod %s %s", p.Name, p.Status.Phase)
				}
			}
			return nil
		})
		if got := names(alex.list("workplace1", "?state=Cancelled")); got != "sleeper" {
			t.Errorf("cancelled: %s", got)
		}
		if r := alex.do("POST", w1+"/multi/cancel", nil).want(409); !strings.Contains(r.message(), "already finished") {
			t.Errorf("cancel a finished job: %s", r.message())
		}
		vic.do("DELETE", w1+"/sleeper", nil).want(403)
		alex.do("DELETE", w1+"/sleeper", nil).want(204)
		alex.do("GET", w1+"/sleeper", nil).want(404)
	})

	t.Run("GPUs, never-fits, and waiting for quota", func(t *testing.T) {
		tom := tom.on(t)
		const w3 = "/api/v1/workspaces/workplace3/jobs"
		r := tom.do("POST", w3, map[string]any{"name": "six", "script": "true", "resources": map[string]any{"gpu": 6}}).want(422)
		if !strings.Contains(r.message(), "requests.nvidia.com/gpu: 1 task(s) × 6 = 6 is more than the workspace's quota of 5") {
			t.Errorf("6 GPUs of 5: %s", r.message())
		}
		tom.do("POST", w3+"?dryRun=true", map[string]any{"name": "dry", "script": "true", "resources": map[string]any{"gpu": 5}}).want(200)
		tom.do("GET", w3+"/dry", nil).want(404)

		var j job
		tom.do("POST", w3, map[string]any{"name": "four", "script": `echo "devices=$NVIDIA_VISIBLE_DEVICES"; sleep 600`, "resources": map[string]any{"gpu": 4}}).want(201).json(&j)
		if j.SubmittedBy != "tom" {
			t.Errorf("tom, on a token credential, submits as %q", j.SubmittedBy)
		}
		tom.waitState("workplace3", "four", "Running")
		testenv.Eventually(t, wait, "the GPU job's devices", func(context.Context) error {
			out := tom.logs("workplace3", "four", "")
			devs, ok := strings.CutPrefix(strings.TrimSpace(out), "devices=")
			if !ok || len(strings.Split(devs, ",")) != 4 {
				return fmt.Errorf("output %q: want 4 devices", out)
			}
			return nil
		})
		tom.do("POST", w3, map[string]any{"name": "two", "script": "echo ran", "resources": map[string]any{"gpu": 2}}).want(201)
		testenv.Eventually(t, wait, "two waits for quota", func(context.Context) error {
			j := tom.job("workplace3", "two")
			if want := "waiting for quota to free up: requests.nvidia.com/gpu used 4 of 5, a task needs 2"; j.State != "Queued" || j.Reason != want {
				return fmt.Errorf("%s %q, want Queued %q", j.State, j.Reason, want)
			}
			return nil
		})
		tom.do("POST", w3+"/four/cancel", nil).want(200)
		tom.waitState("workplace3", "two", "Succeeded")
		if got := tom.logs("workplace3", "two", ""); got != "ran\n" {
			t.Errorf("two: %q", got)
		}
	})

	t.Run("isolation: tom cannot list, read or cancel alex's jobs", func(t *testing.T) {
		alex, tom := alex.on(t), tom.on(t)
		for _, c := range []struct{ method, path string }{
			{"GET", w1}, {"GET", w1 + "/multi"}, {"GET", w1 + "/multi/logs"}, {"GET", w1 + "/multi/logs?follow=true"},
			{"POST", w1 + "/multi/cancel"}, {"DELETE", w1 + "/multi"},
		} {
			if r := tom.do(c.method, c.path, nil); r.status != 403 && r.status != 404 {
				t.Errorf("tom %s %s: %d %s", c.method, c.path, r.status, r.body)
			}
		}
		if r := tom.do("POST", w1, map[string]any{"script": "true"}); r.status != 403 && r.status != 404 {
			t.Errorf("tom submits into alex's workspace: %d %s", r.status, r.body)
		}
		if got := alex.list("workplace1", "?mine=true"); len(got) == 0 {
			t.Error("alex's own jobs: none")
		}
		if got := tom.list("workplace3", ""); names(got) != "two,four" && names(got) != "four,two" {
			t.Errorf("tom's jobs: %s", names(got))
		}
	})

	t.Run("a view contributor lists and reads, but may not submit or cancel", func(t *testing.T) {
		vic := vic.on(t)
		if got := vic.list("workplace1", "?state=Succeeded"); !strings.Contains(names(got), "multi") {
			t.Errorf("vic's list: %s", names(got))
		}
		if vic.job("workplace1", "multi").SubmittedBy != "alex" {
			t.Error("vic reads the job")
		}
		if got := vic.logs("workplace1", "multi", "?task=0"); got != "task 0 of 3\ndone 0\n" {
			t.Errorf("vic reads the output: %q", got)
		}
		vic.do("POST", w1, map[string]any{"script": "true"}).want(403)
		if got := vic.list("workplace1", "?mine=true"); len(got) != 0 {
			t.Errorf("vic's own: %s", names(got))
		}
	})

	t.Run("bob may list jobs everywhere (the Arena guide), and only list", func(t *testing.T) {
		bob := bob.on(t)
		if got := bob.list("workplace1", ""); !strings.Contains(names(got), "multi") {
			t.Errorf("bob's list of workplace1: %s", names(got))
		}
		if got := bob.list("workplace3", ""); !strings.Contains(names(got), "four") {
			t.Errorf("bob's list of workplace3: %s", names(got))
		}
		bob.do("GET", w1+"/multi", nil).want(403)
		bob.do("GET", w1+"/multi/logs", nil).want(403)
		bob.do("POST", w1+"/multi/cancel", nil).want(403)
		bob.do("POST", w1, map[string]any{"script": "true"}).want(403)
	})
}
