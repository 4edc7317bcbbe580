//go:build integration

package crash

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/childproc"
	"github.com/tenancy-dev/tenancy/internal/controller"
)

// Short leader election durations, so that a takeover takes seconds.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
	leaderPrefix  = "lead-"
	// What the processes log (client-go's leader election, controller-runtime).
	acquiredLog = "Successfully acquired lease"
	workersLog  = "Starting workers"
)

// TestLeaderElectionHandover runs two controller processes with
// --leader-elect under the controller's shipped RBAC only: one leads and
// works while the other waits and writes nothing; the leader is SIGKILLed
// while workspaces are being created; the other takes over within a lease
// duration, and every workspace, created before, during and after the
// handover, becomes Ready with exactly its objects.
func TestLeaderElectionHandover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and two controller processes")
	}
	ctx := t.Context()
	c := env.Admin
	kubeconfig := controllerKubeconfig(ctx, t)
	logDir, err := os.MkdirTemp("", "tenancy-leader-logs-")
	if err != nil {
		t.Fatal(err)
	}
	spawn := childproc.NewSpawner()
	procs := make([]*controllerProcess, 2)
	for i := range procs {
		procs[i] = &controllerProcess{
			Binary: env.Tenancy(), Kubeconfig: kubeconfig, Concurrency: 4, Spawn: spawn,
			LogPath: filepath.Join(logDir, fmt.Sprintf("controller-%d.log", i)),
			Args: []string{"--leader-elect", "--leader-election-namespace", "kube-system",
				"--leader-elect-lease-duration", leaseDuration.String(),
				"--leader-elect-renew-deadline", renewDeadline.String(),
				"--leader-elect-retry-period", retryPeriod.String()},
		}
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p.Running() {
				_, _ = p.Kill()
			}
		}
		spawn.Close()
		if t.Failed() {
			t.Logf("controller logs kept in %s", logDir)
			return
		}
		_ = os.RemoveAll(logDir)
	})
	for _, p := range procs {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitReady(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	// One leads; the other waits and has started no workers.
	var leader, follower *controllerProcess
	waitFor(t, time.Minute, "one controller acquires the lease", func() error {
		var leading []*controllerProcess
		for _, p := range procs {
			if logHas(t, p, acquiredLog) {
				leading = append(leading, p)
			}
		}
		if len(leading) != 1 {
			return fmt.Errorf("%d controllers hold the lease", len(leading))
		}
		leader = leading[0]
		return nil
	})
	follower = procs[0]
	if follower == leader {
		follower = procs[1]
	}
	holder := leaseHolder(ctx, t)
	t.Logf("lease held by %s (%s)", holder, filepath.Base(leader.LogPath))

	var names []string
	create := func(i int) error {
		name := fmt.Sprintf("%s%03d", leaderPrefix, i)
		if err := c.Create(ctx, newWorkspace(name, i%2 == 0)); err != nil {
			return fmt.Errorf("create workspace %s: %w", name, err)
		}
		names = append(names, name)
		return nil
	}
	for i := range 10 {
		if err := create(i); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Minute, "the first workspaces are Ready under the leader", func() error {
		return problemsOf(auditWorkspaces(ctx, c, names))
	})
	if logHas(t, follower, workersLog) {
		t.Fatalf("the follower started workers while the leader held the lease; see %s", follower.LogPath)
	}

	// Workspaces keep coming while the leader is killed.
	var mu sync.Mutex
	var createErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 10; i < 40; i++ {
			mu.Lock()
			err := create(i)
			mu.Unlock()
			if err != nil {
				createErr = err
				return
			}
			time.Sleep(100 * time.Millisecond) // pacing, not an assertion
		}
	}()
	time.Sleep(time.Second) // pacing: kill in the middle of the creations
	ran, err := leader.Kill()
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("leader SIGKILLed after %s", ran.Round(time.Millisecond))
	waitFor(t, leaseDuration+30*time.Second, "the follower acquires the lease", func() error {
		if !logHas(t, follower, acquiredLog) {
			return fmt.Errorf("no %q in %s", acquiredLog, follower.LogPath)
		}
		return nil
	})
	took := time.Since(killed)
	t.Logf("follower took over %s after the kill", took.Round(10*time.Millisecond))
	if h := leaseHolder(ctx, t); h == holder {
		t.Errorf("lease still held by the killed leader %s", h)
	}
	<-done
	if createErr != nil {
		t.Fatal(createErr)
	}

	waitFor(t, 2*time.Minute, "every workspace is Ready with exactly its objects under the new leader", func() error {
		return problemsOf(auditWorkspaces(ctx, c, names))
	})
	// The follower started working only once it led.
	data, err := os.ReadFile(follower.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if a, w := strings.Index(log, acquiredLog), strings.Index(log, workersLog); w < a {
		t.Errorf("the follower started workers (offset %d) before it acquired the lease (offset %d)", w, a)
	}
	t.Logf("%d workspaces Ready with exactly their objects; %d created during the handover", len(names), 30)
}

// waitFor polls f every 200ms until it returns nil.
func waitFor(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s: %v", what, timeout, last)
	}
}

func logHas(t *testing.T, p *controllerProcess, s string) bool {
	t.Helper()
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(data), s)
}

// leaseHolder is the holder of the controller's leader election Lease.
func leaseHolder(ctx context.Context, t *testing.T) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: controller.LeaderElectionID}, l); err != nil {
		t.Fatalf("read the leader election Lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func problemsOf(problems []string, err error) error {
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems%s", len(problems), sample(problems))
	}
	return nil
}

// auditWorkspaces says what is not as it must be for the named workspaces:
// each Ready for its generation with exactly the objects of its spec, none
// missing and none extra.
func auditWorkspaces(ctx context.Context, c client.Client, names []string) ([]string, error) {
	var problems []string
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
		ws := &tenancyv1.Workspace{}
		if err := c.Get(ctx, client.ObjectKey{Name: n}, ws); err != nil {
			return nil, err
		}
		problems = append(problems, checkReady(ws)...)
	}
	got := map[string]map[string][]string{}
	for _, k := range managedKinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(k.gvk)
		if err := c.List(ctx, list, client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}); err != nil {
			return nil, err
		}
		kind := kindName(k.gvk)
		for _, o := range list.Items {
			ws := o.Labels[tenancyv1.LabelWorkspace]
			if !want[ws] {
				continue
			}
			key := o.Name
			if k.namespaced {
				key = o.Namespace + "/" + o.Name
			}
			if got[ws] == nil {
				got[ws] = map[string][]string{}
			}
			got[ws][kind] = append(got[ws][kind], key)
		}
	}
	for i, n := range names {
		exp := expectedObjects(n, i%2 == 0)
		for _, k := range managedKinds {
			kind := kindName(k.gvk)
			have := got[n][kind]
			slices.Sort(have)
			if !slices.Equal(have, exp[kind]) {
				problems = append(problems, fmt.Sprintf("workspace %s: %s: have %v, want %v", n, kind, have, exp[kind]))
			}
		}
	}
	return problems, nil
}
