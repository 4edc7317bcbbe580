//go:build integration

package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/jobs"
	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/testenv"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{ProcessNodes: localcluster.DefaultNodes(1, 1)}, func(e *testenv.Env) { env = e }))
}

const wait = 2 * time.Minute

// as is a jobs.Client acting as user, with a client certificate of the
// cluster's CA: only RBAC's rights. Defaults are read as the admin, as the
// server reads them with its own identity.
func as(t *testing.T, user string) *jobs.Client {
	t.Helper()
	cfg, err := env.Cluster.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := client.New(cfg, client.Options{Scheme: env.Admin.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &jobs.Client{Kube: kube, Clientset: cs, Defaults: func(ctx context.Context, ns string) (jobs.Defaults, error) {
		return jobs.WorkspaceDefaults(ctx, env.Admin, ns)
	}}
}

// workspace makes a Ready workspace of a class with a volume, 5 GPUs of
// quota and a TTL for jobs, owned by owner, tom a view contributor.
func workspace(t *testing.T, name, owner string) {
	t.Helper()
	ctx := t.Context()
	class := &tenancyv1.WorkspaceClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tenancyv1.WorkspaceClassSpec{
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				"requests.nvidia.com/gpu": resource.MustParse("5"), "requests.cpu": resource.MustParse("4"),
			}},
			Storage: &tenancyv1.StorageSpec{Size: resource.MustParse("1Gi")},
			Jobs:    &tenancyv1.JobDefaults{Image: "python:3.12", TTLSecondsAfterFinished: ptr.To[int32](3600)},
		},
	}
	if err := env.Admin.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	ws := testutil.Workspace(name).Owner(owner).Class(name).Contributor(testutil.User("tom"), tenancyv1.RoleView).Obj()
	if err := env.Admin.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, wait, "workspace "+name+" Ready", func(ctx context.Context) error {
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
			return err
		}
		if c := ws.Condition(tenancyv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("not Ready: %+v", ws.Status.Conditions)
		}
		return nil
	})
	// The default ServiceAccount comes from kube-controller-manager.
	testenv.Eventually(t, wait, "ServiceAccount default", func(ctx context.Context) error {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
	})
}

func waitState(t *testing.T, c *jobs.Client, ns, name string, want jobs.State) *jobs.Detail {
	t.Helper()
	var d *jobs.Detail
	testenv.Eventually(t, wait, "job "+name+" "+string(want), func(ctx context.Context) error {
		var err error
		if d, err = c.Get(ctx, ns, name); err != nil {
			return err
		}
		if d.State != want {
			return fmt.Errorf("%s (%s)", d.State, d.Reason)
		}
		return nil
	})
	return d
}

func logs(t *testing.T, c *jobs.Client, ns, name string, o jobs.LogOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Logs(t.Context(), ns, name, o, &b); err != nil {
		t.Fatalf("Logs(%s, %+v): %v", name, o, err)
	}
	return b.String()
}

func TestJobs(t *testing.T) {
	const ns = "jobs-alex"
	workspace(t, ns, "alex")
	alex, tom := as(t, "alex"), as(t, "tom")
	ctx := t.Context()

	t.Run("multi-task: each task its index, output kept apart, also on the volume", func(t *testing.T) {
		sum, err := alex.Submit(ctx, ns, "alex", jobs.Submission{Name: "multi", Script: `echo "task $JOB_COMPLETION_INDEX"; echo "bye $JOB_COMPLETION_INDEX"`, Tasks: 3}, false)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Name != "multi" || sum.Tasks != 3 || sum.SubmittedBy != "alex" || sum.Image != "python:3.12" || sum.OutputPath != "/workspace/.tenancy/jobs/multi" {
			t.Errorf("summary = %+v", sum)
		}
		d := waitState(t, alex, ns, "multi", jobs.Succeeded)
		if len(d.TaskStatus) != 3 || d.TaskStatus[2].State != jobs.Succeeded {
			t.Errorf("tasks = %+v", d.TaskStatus)
		}
		job := &batchv1.Job{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "multi"}, job); err != nil || ptr.Deref(job.Spec.TTLSecondsAfterFinished, 0) != 3600 {
			t.Errorf("ttlSecondsAfterFinished of the class: %v %v", job.Spec.TTLSecondsAfterFinished, err)
		}
		if got, want := logs(t, alex, ns, "multi", jobs.LogOptions{}), "task 0\nbye 0\ntask 1\nbye 1\ntask 2\nbye 2\n"; got != want {
			t.Errorf("all logs = %q, want %q", got, want)
		}
		if got, want := logs(t, alex, ns, "multi", jobs.LogOptions{Task: ptr.To(1), Prefix: true}), "[task 1] task 1\n[task 1] bye 1\n"; got != want {
			t.Errorf("task 1 = %q, want %q", got, want)
		}
		if got, want := logs(t, alex, ns, "multi", jobs.LogOptions{Prefix: true, Tail: ptr.To[int64](1)}), "[task 0] bye 0\n[task 1] bye 1\n[task 2] bye 2\n"; got != want {
			t.Errorf("tail 1 = %q, want %q", got, want)
		}
		if err := alex.Logs(ctx, ns, "multi", jobs.LogOptions{Task: ptr.To(3)}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "tasks are 0 to 2") {
			t.Errorf("task 3 of 3: %v", err)
		}
		// Another job reads the first one's output from the volume.
		if _, err := alex.Submit(ctx, ns, "alex", jobs.Submission{Name: "reader", Command: []string{"cat", "/workspace/.tenancy/jobs/multi/task-2.log"}}, false); err != nil {
			t.Fatal(err)
		}
		waitState(t, alex, ns, "reader", jobs.Succeeded)
		if got := logs(t, alex, ns, "reader", jobs.LogOptions{}); got != "task 2\nbye 2\n" {
			t.Errorf("task-2.log on the volume = %q", got)
		}
	})

	t.Run("follow streams until the job ends", func(t *testing.T) {
		if _, err := alex.Submit(ctx, ns, "alex", jobs.Submission{Name: "slow", Script: "for i in 1 2 3; do echo line $i; sleep 1; done; exit 4"}, false); err != nil {
			t.Fatal(err)
		}
		fctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		var b bytes.Buffer
		if err := alex.Logs(fctx, ns, "slow", jobs.LogOptions{Follow: true}, &b); err != nil {
			t.Fatal(err)
		}
		if b.String() != "line 1\nline 2\nline 3\n" {
			t.Errorf("followed = %q", b.String())
		}
		d := waitState(t, alex, ns, "slow", jobs.Failed)
		if d.ExitCode == nil || *d.ExitCode != 4 || !strings.Contains(d.Reason, "exited with code 4") {
			t.Errorf("failed job: exit %v reason %q", d.ExitCode, d.Reason)
		}
	})

	t.Run("never fits: refused at once with the figures", func(t *testing.T) {
		_, err := alex.Submit(ctx, ns, "alex", jobs.Submission{Name: "huge", Script: "true", Resources: jobs.Resources{GPU: 6}}, false)
		var nf *jobs.NeverFitsError
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), "requests.nvidia.com/gpu: 1 task(s) × 6 = 6 is more than the workspace's quota of 5") {
			t.Fatalf("6 GPUs of 5: %v", err)
		}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "huge"}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
			t.Errorf("the refused job exists: %v", err)
		}
	})

	t.Run("dry run creates nothing", func(t *testing.T) {
		if _, err := alex.Submit(ctx, ns, "alex", jobs.Submission{Name: "dry", Script: "true"}, true); err != nil {
			t.Fatal(err)
		}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dry"}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
			t.Errorf("a dry run created the job: %v", err)
		}
		if _, err := alex.Submit(ctx, ns, "bob", jobs.Submission{Name: "dry", Script: "true"}, true); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "must name you") {
			t.Errorf("a dry run as alex submitted by bob: %v", err)
		}
	})

	t.Run("GPU job, then one waiting for quota, then cancel", func(t *testing.T) {
		if _, err := alex.Submit(ctx, ns, "alex", jobs.Submission{Name: "gpus", Script: `echo "gpus=$NVIDIA_VISIBLE_DEVICES"; sleep 600`, Resources: jobs.Resources{GPU: 4}}, false); err != nil {
			t.Fatal(err)
		}
		waitState(t, alex, ns, "gpus", jobs.Running)
		testenv.Eventually(t, wait, "the GPU job's output", func(ctx context.Context) error {
			var b bytes.Buffer
			if err := alex.Logs(ctx, ns, "gpus", jobs.LogOptions{}, &b); err != nil {
				return err
			}
			if !strings.HasPrefix(b.String(), "gpus=") || len(strings.Split(strings.TrimSpace(strings.TrimPrefix(b.String(), "gpus=")), ",")) != 4 {
				return fmt.Errorf("output %q: want 4 devices", b.String())
			}
			return nil
		})
		if _, err := alex.Submit(ctx, ns, "alex", jobs.Submission{Name: "waits", Script: "true", Resources: jobs.Resources{GPU: 2}}, false); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, wait, "job waits queued for quota", func(ctx context.Context) error {
			d, err := alex.Get(ctx, ns, "waits")
			if err != nil {
				return err
			}
			if want := "waiting for quota to free up: requests.nvidia.com/gpu used 4 of 5, a task needs 2"; d.State != jobs.Queued || d.Reason != want {
				return fmt.Errorf("%s %q, want Queued %q", d.State, d.Reason, want)
			}
			list, err := alex.List(ctx, ns, jobs.Filter{State: jobs.Queued})
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].Name != "waits" || list[0].Reason != d.Reason {
				return fmt.Errorf("queued list = %+v", list)
			}
			return nil
		})

		// tom may read but not cancel.
		if _, err := tom.Get(ctx, ns, "gpus"); err != nil {
			t.Errorf("view contributor tom may not read: %v", err)
		}
		if _, err := tom.Cancel(ctx, ns, "gpus", "tom"); !apierrors.IsForbidden(err) {
			t.Errorf("view contributor tom cancels: %v", err)
		}
		if _, err := tom.Submit(ctx, ns, "tom", jobs.Submission{Script: "true"}, false); !apierrors.IsForbidden(err) {
			t.Errorf("view contributor tom submits: %v", err)
		}

		sum, err := alex.Cancel(ctx, ns, "gpus", "alex")
		if err != nil {
			t.Fatal(err)
		}
		if sum.State != jobs.Cancelled || sum.Reason != "cancelled by alex" {
			t.Errorf("after cancel: %+v", sum)
		}
		testenv.Eventually(t, wait, "the cancelled job's pods stopped, it ended", func(ctx context.Context) error {
			job := &batchv1.Job{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpus"}, job); err != nil {
				return err
			}
			if job.Status.Active != 0 || job.Status.CompletionTime == nil && !hasCond(job, batchv1.JobFailed) {
				return fmt.Errorf("active %d, conditions %+v", job.Status.Active, job.Status.Conditions)
			}
			return nil
		})
		d := waitState(t, alex, ns, "gpus", jobs.Cancelled)
		if d.Finished == nil {
			t.Errorf("a cancelled job has no end time: %+v", d.Summary)
		}
		if _, err := alex.Cancel(ctx, ns, "gpus", "alex"); err != nil {
			t.Errorf("cancel twice: %v", err)
		}
		// Quota freed: the waiting job runs and succeeds.
		waitState(t, alex, ns, "waits", jobs.Succeeded)
		if _, err := alex.Cancel(ctx, ns, "waits", "alex"); !errors.Is(err, jobs.ErrFinished) {
			t.Errorf("cancel a finished job: %v", err)
		}
		all, err := tom.List(ctx, ns, jobs.Filter{State: jobs.Cancelled})
		if err != nil || len(all) != 1 || all[0].Name != "gpus" {
			t.Errorf("tom lists the cancelled: %+v %v", all, err)
		}
	})

	t.Run("delete takes the pods", func(t *testing.T) {
		if err := alex.Delete(ctx, ns, "multi"); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, wait, "job multi and its pods gone", func(ctx context.Context) error {
			pods := &corev1.PodList{}
			if err := env.Admin.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"batch.kubernetes.io/job-name": "multi"}); err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("%d pods left", len(pods.Items))
			}
			return nil
		})
		var nf *jobs.NotFoundError
		if _, err := alex.Get(ctx, ns, "multi"); !errors.As(err, &nf) {
			t.Errorf("get a deleted job: %v", err)
		}
	})

	t.Run("the submitter is who the API server says", func(t *testing.T) {
		who, err := jobs.Submitter(ctx, alex.Clientset)
		if err != nil || who != "alex" {
			t.Fatalf("Submitter() = %q, %v", who, err)
		}
		// A Tenancy token user: the ServiceAccount tenancy-system/user-sam
		// submits as sam.
		if err := env.Admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenancy-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if err := env.Admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "tenancy-system", Name: "user-sam"}}); err != nil {
			t.Fatal(err)
		}
		tr, err := env.AdminCS.CoreV1().ServiceAccounts("tenancy-system").CreateToken(ctx, "user-sam", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.AnonymousClientConfig(env.Cluster.Config())
		cfg.BearerToken = tr.Status.Token
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if who, err := jobs.Submitter(ctx, cs); err != nil || who != "sam" {
			t.Errorf("Submitter() for a token ServiceAccount = %q, %v", who, err)
		}
	})

	t.Run("mine and isolation", func(t *testing.T) {
		mine, err := alex.List(ctx, ns, jobs.Filter{SubmittedBy: "alex"})
		if err != nil || len(mine) == 0 {
			t.Errorf("alex's own: %d %v", len(mine), err)
		}
		none, err := alex.List(ctx, ns, jobs.Filter{SubmittedBy: "tom"})
		if err != nil || len(none) != 0 {
			t.Errorf("tom's in alex's workspace: %+v %v", none, err)
		}
		bob := as(t, "bob")
		if _, err := bob.List(ctx, ns, jobs.Filter{}); !apierrors.IsForbidden(err) {
			t.Errorf("bob lists alex's jobs: %v", err)
		}
		if _, err := bob.Get(ctx, ns, "slow"); !apierrors.IsForbidden(err) {
			t.Errorf("bob reads alex's job: %v", err)
		}
		if err := bob.Logs(ctx, ns, "slow", jobs.LogOptions{}, &bytes.Buffer{}); !apierrors.IsForbidden(err) {
			t.Errorf("bob reads alex's output: %v", err)
		}
		if _, err := bob.Cancel(ctx, ns, "slow", "bob"); !apierrors.IsForbidden(err) {
			t.Errorf("bob cancels alex's job: %v", err)
		}
		if err := bob.Delete(ctx, ns, "slow"); !apierrors.IsForbidden(err) {
			t.Errorf("bob deletes alex's job: %v", err)
		}
	})
}

func hasCond(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
