//go:build integration

package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/childproc"
	"github.com/tenancy-dev/tenancy/internal/testenv"
)

// Shape of the run. The workload is paced so that it spans many kills.
const (
	numWorkspaces   = 200
	numDeleted      = 50
	numUpdated      = 30
	creators        = 4
	burst           = 25 // workspaces created at once, then a pause of 1-3s
	controllerConc  = 8
	minKillInterval = 500 * time.Millisecond
	maxKillInterval = 3 * time.Second
	// chaosAfterWork keeps killing after the last delete, while the
	// controller finalizes deleted workspaces and catches up.
	chaosAfterWork  = 3 * time.Second
	convergeTimeout = 5 * time.Minute
	wsPrefix        = "crash-"
	// minInterrupted is how many kills must find work in progress.
	minInterrupted = 5
)

// inProgress counts the workspaces not yet Ready for their generation or
// being deleted.
func inProgress(ctx context.Context, c client.Client) (int, error) {
	list := &tenancyv1.WorkspaceList{}
	if err := c.List(ctx, list); err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		ws := &list.Items[i]
		if !ws.DeletionTimestamp.IsZero() || len(checkReady(ws)) > 0 {
			n++
		}
	}
	return n, nil
}

// watchGone watches the workspaces and, the moment each one is gone,
// checks that nothing of it remains (testenv.Leftovers). The function it
// returns says how many went and what was found.
func watchGone(ctx context.Context, t *testing.T) func() (int, []string) {
	t.Helper()
	wc, err := client.NewWithWatch(env.Cluster.Config(), client.Options{Scheme: env.Admin.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &tenancyv1.WorkspaceList{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var problems []string
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if ev.Type != watch.Deleted {
				continue
			}
			name := ev.Object.(*tenancyv1.Workspace).Name
			left, err := testenv.Leftovers(ctx, env.Admin, name)
			mu.Lock()
			n++
			if err != nil {
				problems = append(problems, name+": "+err.Error())
			} else if len(left) > 0 {
				problems = append(problems, name+": "+strings.Join(left, ", "))
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Stop(); <-done })
	return func() (int, []string) {
		mu.Lock()
		defer mu.Unlock()
		return n, slices.Clone(problems)
	}
}

// plan is what the workload does to each workspace; it is decided up front
// from the seed so that a failure can be replayed (timing aside).
type plan struct {
	clusterRules map[string]bool // the spec has cluster rules (after any update)
	update       []string        // spec changed after creation: quota, and cluster rules toggled
	updated      map[string]bool
	deleteEarly  []string // deleted right after its own creation
	deleteLate   []string // deleted after all creations and updates
}

func (p plan) deleted() map[string]bool {
	out := map[string]bool{}
	for _, n := range append(slices.Clone(p.deleteEarly), p.deleteLate...) {
		out[n] = true
	}
	return out
}

func wsName(i int) string { return fmt.Sprintf("%s%03d", wsPrefix, i) }

func newPlan(rng *rand.Rand) plan {
	p := plan{clusterRules: map[string]bool{}, updated: map[string]bool{}}
	names := make([]string, numWorkspaces)
	for i := range names {
		names[i] = wsName(i)
		p.clusterRules[names[i]] = i%3 == 0
	}
	perm := rng.Perm(numWorkspaces)
	for k, i := range perm[:numDeleted] {
		if k%2 == 0 {
			p.deleteEarly = append(p.deleteEarly, names[i])
		} else {
			p.deleteLate = append(p.deleteLate, names[i])
		}
	}
	// Updates go to some of the late-deleted workspaces and to survivors.
	for k := numDeleted - numDeleted/4; len(p.update) < numUpdated; k++ {
		if k < numDeleted && k%2 == 0 {
			continue // deleted early
		}
		p.update = append(p.update, names[perm[k]])
		p.updated[names[perm[k]]] = true
	}
	return p
}

func newWorkspace(name string, clusterRules bool) *tenancyv1.Workspace {
	ws := &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tenancyv1.WorkspaceSpec{
			Owner: &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "owner-" + strings.TrimPrefix(name, wsPrefix)},
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				corev1.ResourceRequestsCPU:    resource.MustParse("2"),
				corev1.ResourceRequestsMemory: resource.MustParse("4Gi"),
				corev1.ResourcePods:           resource.MustParse("20"),
			}},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}},
		},
	}
	if clusterRules {
		ws.Spec.ClusterRules = nodeReader()
	}
	return ws
}

func nodeReader() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}}}
}

// TestControllerSurvivesSIGKILL creates 200 workspaces, updates 30 and
// deletes 50 while the controller process is SIGKILLed every 0.5-3s and
// started again; then, with the controller left running, every surviving
// workspace must be Ready for its current generation with exactly its
// objects, and nothing may remain of the deleted ones.
func TestControllerSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and runs for minutes")
	}
	ctx := t.Context()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TENANCY_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TENANCY_CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (replay the same choices with TENANCY_CRASH_SEED=%d)", seed, seed)
	workRNG := rand.New(rand.NewPCG(seed, 1))
	chaosRNG := rand.New(rand.NewPCG(seed, 2))
	p := newPlan(workRNG)

	c := env.Admin

	logDir, err := os.MkdirTemp("", "tenancy-crash-logs-")
	if err != nil {
		t.Fatal(err)
	}
	// The controller-only binary, as installed; the leader election test
	// runs `tenancy controller`.
	proc := &controllerProcess{
		Binary:      env.Controller(),
		Kubeconfig:  controllerKubeconfig(ctx, t),
		LogPath:     filepath.Join(logDir, "controller.log"),
		Concurrency: controllerConc,
		Spawn:       childproc.NewSpawner(),
	}
	t.Cleanup(func() {
		if proc.Running() {
			_, _ = proc.Kill()
		}
		proc.Spawn.Close()
		if t.Failed() || os.Getenv("TENANCY_KEEP_CLUSTER") == "1" {
			t.Logf("controller log kept in %s (control plane logs in %s)", proc.LogPath, env.Cluster.LogDir())
			return
		}
		_ = os.RemoveAll(logDir)
	})
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	// Each deleted workspace is checked the moment it disappears.
	gone := watchGone(ctx, t)

	// Chaos: kill and restart until the workload is done, then a while more.
	stopChaos := make(chan struct{})
	chaosDone := make(chan error, 1)
	var kills []time.Duration
	interrupted := 0 // kills that found work in progress
	go func() {
		for {
			wait := minKillInterval + time.Duration(chaosRNG.Int64N(int64(maxKillInterval-minKillInterval)))
			select {
			case <-stopChaos:
				chaosDone <- nil
				return
			case <-time.After(wait):
			}
			if proc.Exited() {
				chaosDone <- fmt.Errorf("controller exited by itself; see %s", proc.LogPath)
				return
			}
			if n, err := inProgress(ctx, c); err == nil && n > 0 {
				interrupted++
			}
			ran, err := proc.Kill()
			if err != nil {
				chaosDone <- err
				return
			}
			kills = append(kills, ran)
			if err := proc.Start(); err != nil {
				chaosDone <- err
				return
			}
		}
	}()

	started := time.Now()
	if err := runWorkload(ctx, t, c, p, workRNG); err != nil {
		close(stopChaos)
		if chaosErr := <-chaosDone; chaosErr != nil {
			t.Errorf("chaos: %v", chaosErr)
		}
		t.Fatalf("workload: %v", err)
	}
	t.Logf("workload done in %s", time.Since(started).Round(100*time.Millisecond))
	time.Sleep(chaosAfterWork) // chaos goes on meanwhile
	close(stopChaos)
	if err := <-chaosDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("controller SIGKILLed %d times, %d of them with workspaces not yet Ready or being deleted; ran %s between kills", len(kills), interrupted, durations(kills))
	// Kills that found nothing to do would prove nothing.
	if interrupted < minInterrupted {
		t.Fatalf("only %d of %d kills interrupted work in progress, want at least %d: the run proves too little", interrupted, len(kills), minInterrupted)
	}

	// A final clean restart, as after the last crash in real life.
	if _, err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	if err := proc.WaitReady(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}

	converging := time.Now()
	var problems []string
	deadline := time.Now().Add(convergeTimeout)
	lastLog := time.Now()
	for {
		problems, err = audit(ctx, c, p)
		if err != nil {
			t.Logf("audit: %v", err) // a passing API error: try again
		} else if len(problems) == 0 {
			break
		}
		if time.Since(lastLog) >= 20*time.Second {
			t.Logf("after %s, %d things not yet as they must be%s", time.Since(converging).Round(time.Second), len(problems), sample(problems))
			lastLog = time.Now()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if len(problems) > 0 {
		const show = 40
		more := ""
		if len(problems) > show {
			more = fmt.Sprintf("\n… and %d more", len(problems)-show)
			problems = problems[:show]
		}
		t.Fatalf("not converged %s after the last restart (%d problems):\n%s%s",
			convergeTimeout, len(problems), strings.Join(problems, "\n"), more)
	}
	checkAuditSeesOrphan(ctx, t, c, p)
	if n, problems := gone(); n != numDeleted || len(problems) > 0 {
		t.Errorf("%d of %d deleted workspaces seen to go; at the moment they went: %s", n, numDeleted, strings.Join(problems, "; "))
	}
	t.Logf("converged %s after the last restart: %d workspaces Ready with exactly their objects, %d deleted without a trace",
		time.Since(converging).Round(100*time.Millisecond), numWorkspaces-numDeleted, numDeleted)
}

// runWorkload creates the workspaces in bursts (so that the controller is
// busy when killed), deleting the early ones shortly after their creation,
// then updates some, then deletes the late ones in two bursts.
func runWorkload(ctx context.Context, t *testing.T, c client.Client, p plan, rng *rand.Rand) error {
	early := map[string]bool{}
	for _, n := range p.deleteEarly {
		early[n] = true
	}
	// Random delays, decided here so that the RNG is not shared.
	earlyDelay := make([]time.Duration, numWorkspaces)
	for i := range earlyDelay {
		earlyDelay[i] = time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
	}
	pause := func() time.Duration { return time.Second + time.Duration(rng.Int64N(int64(2*time.Second))) }

	errs := make(chan error, 2*numWorkspaces)
	var wg, deletes sync.WaitGroup
	for first := 0; first < numWorkspaces; first += burst {
		todo := make(chan int)
		for range creators {
			wg.Go(func() {
				for i := range todo {
					name := wsName(i)
					if err := c.Create(ctx, newWorkspace(name, p.clusterRules[name] != p.updated[name])); err != nil {
						errs <- fmt.Errorf("create workspace %s: %w", name, err)
						continue
					}
					if early[name] {
						// Some before the controller has seen it, some while
						// it reconciles.
						deletes.Go(func() {
							time.Sleep(earlyDelay[i])
							if err := deleteWorkspace(ctx, c, name); err != nil {
								errs <- err
							}
						})
					}
				}
			})
		}
		for i := first; i < min(first+burst, numWorkspaces); i++ {
			todo <- i
		}
		close(todo)
		wg.Wait()
		time.Sleep(pause())
	}
	deletes.Wait()
	t.Logf("created %d workspaces in bursts of %d, deleted %d of them right after", numWorkspaces, burst, len(p.deleteEarly))

	for _, name := range p.update {
		wg.Go(func() {
			if err := updateWorkspace(ctx, c, name, p.clusterRules[name]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	t.Logf("updated %d workspaces (quota, cluster rules toggled)", len(p.update))
	time.Sleep(pause())

	half := len(p.deleteLate) / 2
	for _, names := range [][]string{p.deleteLate[:half], p.deleteLate[half:]} {
		for _, name := range names {
			wg.Go(func() {
				if err := deleteWorkspace(ctx, c, name); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		time.Sleep(pause())
	}
	t.Logf("deleted %d more workspaces", len(p.deleteLate))
	close(errs)
	var all []string
	for err := range errs {
		all = append(all, err.Error())
	}
	if len(all) > 0 {
		return fmt.Errorf("%d errors:\n%s", len(all), strings.Join(all, "\n"))
	}
	return nil
}

// updateWorkspace changes the quota and sets the cluster rules as wanted
// (toggling them relative to creation), bumping the generation.
func updateWorkspace(ctx context.Context, c client.Client, name string, clusterRules bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ws := &tenancyv1.Workspace{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
			return err
		}
		ws.Spec.ResourceQuota.Hard[corev1.ResourceRequestsCPU] = resource.MustParse("3")
		ws.Spec.ClusterRules = nil
		if clusterRules {
			ws.Spec.ClusterRules = nodeReader()
		}
		if err := c.Update(ctx, ws); err != nil {
			return fmt.Errorf("update workspace %s: %w", name, err)
		}
		return nil
	})
}

func deleteWorkspace(ctx context.Context, c client.Client, name string) error {
	ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Delete(ctx, ws); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete workspace %s: %w", name, err)
	}
	return nil
}

// managedKinds are every kind the controller creates, as the audit lists
// them (metadata only).
var managedKinds = []struct {
	gvk        schema.GroupVersionKind
	namespaced bool
}{
	{corev1.SchemeGroupVersion.WithKind("NamespaceList"), false},
	{corev1.SchemeGroupVersion.WithKind("ServiceAccountList"), true},
	{corev1.SchemeGroupVersion.WithKind("ResourceQuotaList"), true},
	{corev1.SchemeGroupVersion.WithKind("LimitRangeList"), true},
	{corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaimList"), true},
	{rbacv1.SchemeGroupVersion.WithKind("RoleList"), true},
	{rbacv1.SchemeGroupVersion.WithKind("RoleBindingList"), true},
	{rbacv1.SchemeGroupVersion.WithKind("ClusterRoleList"), false},
	{rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBindingList"), false},
	{schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicyList"}, true},
}

func kindName(gvk schema.GroupVersionKind) string { return strings.TrimSuffix(gvk.Kind, "List") }

// expectedObjects is what one surviving workspace must have, per kind, as
// "namespace/name" (or "name" for cluster-scoped kinds).
func expectedObjects(ws string, clusterRules bool) map[string][]string {
	in := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = ws + "/" + n
		}
		slices.Sort(out)
		return out
	}
	exp := map[string][]string{
		"Namespace":      {ws},
		"ServiceAccount": in("default-editor", "default-viewer"),
		"ResourceQuota":  in("tenancy"),
		"LimitRange":     in("tenancy"),
		"Role":           in("tenancy:owner-rules"),
		"RoleBinding": in("tenancy:default-editor", "tenancy:default-viewer",
			"tenancy:owner", "tenancy:owner-rules"),
		"NetworkPolicy": in("tenancy-isolation"),
	}
	// The owner, the only member, reads and changes its Workspace: one
	// role for both.
	cluster := []string{"tenancy:workspace:" + ws + ":member"}
	if clusterRules {
		cluster = append(cluster, "tenancy:workspace:"+ws+":owner")
	}
	slices.Sort(cluster)
	exp["ClusterRole"] = cluster
	exp["ClusterRoleBinding"] = cluster
	return exp
}

// audit lists everything and returns what is not as it must be; an error
// means the audit itself could not run.
func audit(ctx context.Context, c client.Client, p plan) ([]string, error) {
	var problems []string
	deleted := p.deleted()

	wsList := &tenancyv1.WorkspaceList{}
	if err := c.List(ctx, wsList); err != nil {
		return nil, err
	}
	live := map[string]*tenancyv1.Workspace{}
	for i := range wsList.Items {
		ws := &wsList.Items[i]
		live[ws.Name] = ws
	}
	for i := range numWorkspaces {
		name := wsName(i)
		ws := live[name]
		switch {
		case deleted[name] && ws != nil:
			problems = append(problems, fmt.Sprintf("workspace %s: deleted but still there (deletionTimestamp %v, finalizers %v)",
				name, ws.DeletionTimestamp, ws.Finalizers))
		case deleted[name]:
		case ws == nil:
			problems = append(problems, fmt.Sprintf("workspace %s: missing", name))
		default:
			problems = append(problems, checkReady(ws)...)
			if got, want := len(ws.Spec.ClusterRules) > 0, p.clusterRules[name]; got != want {
				problems = append(problems, fmt.Sprintf("workspace %s: test bug: spec has cluster rules %v, plan says %v", name, got, want))
			}
		}
	}

	// Every managed object, grouped by the workspace its label names.
	got := map[string]map[string][]string{} // workspace → kind → names
	for _, k := range managedKinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(k.gvk)
		if err := c.List(ctx, list, client.MatchingLabels{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}); err != nil {
			return nil, fmt.Errorf("list %s: %w", k.gvk.Kind, err)
		}
		kind := kindName(k.gvk)
		for _, o := range list.Items {
			key := o.Name
			if k.namespaced {
				key = o.Namespace + "/" + o.Name
			}
			if o.Labels[tenancyv1.LabelComponent] == tenancyv1.ComponentInstall {
				continue // tenancy install's own, of no workspace
			}
			wsLabel, ok := o.Labels[tenancyv1.LabelWorkspace]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s %s: managed by tenancy but has no %s label", kind, key, tenancyv1.LabelWorkspace))
				continue
			}
			ws := live[wsLabel]
			switch {
			case ws == nil:
				problems = append(problems, fmt.Sprintf("%s %s: orphan: its workspace %q does not exist (deletionTimestamp %v)", kind, key, wsLabel, o.DeletionTimestamp))
			case k.namespaced && o.Namespace != wsLabel:
				problems = append(problems, fmt.Sprintf("%s %s: labelled for workspace %s but in another namespace", kind, key, wsLabel))
			case !ownedBy(o.OwnerReferences, ws):
				problems = append(problems, fmt.Sprintf("%s %s: controller owner reference is not workspace %s uid %s: %v", kind, key, ws.Name, ws.UID, o.OwnerReferences))
			}
			if got[wsLabel] == nil {
				got[wsLabel] = map[string][]string{}
			}
			got[wsLabel][kind] = append(got[wsLabel][kind], key)
		}
	}
	for i := range numWorkspaces {
		name := wsName(i)
		if deleted[name] {
			for kind, keys := range got[name] {
				problems = append(problems, fmt.Sprintf("workspace %s (deleted): %d %s left: %v", name, len(keys), kind, keys))
			}
			continue
		}
		exp := expectedObjects(name, p.clusterRules[name])
		for _, k := range managedKinds {
			kind := kindName(k.gvk)
			have := got[name][kind]
			slices.Sort(have)
			if !slices.Equal(have, exp[kind]) {
				problems = append(problems, fmt.Sprintf("workspace %s: %s: have %d %v, want %d %v", name, kind, len(have), have, len(exp[kind]), exp[kind]))
			}
		}
	}

	// The namespaces of deleted workspaces are gone, labelled or not.
	nsList := &metav1.PartialObjectMetadataList{}
	nsList.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := c.List(ctx, nsList); err != nil {
		return nil, err
	}
	for _, ns := range nsList.Items {
		if deleted[ns.Name] {
			problems = append(problems, fmt.Sprintf("namespace %s of deleted workspace still exists (deletionTimestamp %v, labels %v)", ns.Name, ns.DeletionTimestamp, ns.Labels))
		}
	}
	slices.Sort(problems)
	return problems, nil
}

// checkAuditSeesOrphan makes sure the audit is not vacuous: a managed
// object naming a workspace that does not exist must be reported.
func checkAuditSeesOrphan(ctx context.Context, t *testing.T, c client.Client, p plan) {
	t.Helper()
	var ns string
	deleted := p.deleted()
	for i := range numWorkspaces {
		if !deleted[wsName(i)] {
			ns = wsName(i)
			break
		}
	}
	decoy := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: "audit-decoy", Namespace: ns,
		Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: wsPrefix + "gone"},
	}}
	if err := c.Create(ctx, decoy); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Delete(ctx, decoy); err != nil {
			t.Error(err)
		}
	}()
	problems, err := audit(ctx, c, p)
	if err != nil {
		t.Fatal(err)
	}
	want := "ServiceAccount " + ns + "/audit-decoy: orphan"
	if len(problems) != 1 || !strings.HasPrefix(problems[0], want) {
		t.Fatalf("audit with a decoy orphan reported %q, want one problem starting %q", problems, want)
	}
}

// checkReady says what is wrong with a workspace that must be Ready.
func checkReady(ws *tenancyv1.Workspace) []string {
	var out []string
	if ws.DeletionTimestamp != nil {
		out = append(out, fmt.Sprintf("workspace %s: being deleted", ws.Name))
	}
	if ws.Status.ObservedGeneration != ws.Generation {
		out = append(out, fmt.Sprintf("workspace %s: status.observedGeneration %d, generation %d", ws.Name, ws.Status.ObservedGeneration, ws.Generation))
	}
	ready := ws.Condition(tenancyv1.ConditionReady)
	switch {
	case ready == nil:
		out = append(out, fmt.Sprintf("workspace %s: no Ready condition", ws.Name))
	case ready.Status != metav1.ConditionTrue:
		out = append(out, fmt.Sprintf("workspace %s: Ready=%s %s: %s", ws.Name, ready.Status, ready.Reason, ready.Message))
	case ready.ObservedGeneration != ws.Generation:
		out = append(out, fmt.Sprintf("workspace %s: Ready for generation %d, generation is %d", ws.Name, ready.ObservedGeneration, ws.Generation))
	}
	if !slices.Contains(ws.Finalizers, tenancyv1.Finalizer) {
		out = append(out, fmt.Sprintf("workspace %s: no finalizer %s", ws.Name, tenancyv1.Finalizer))
	}
	return out
}

func ownedBy(refs []metav1.OwnerReference, ws *tenancyv1.Workspace) bool {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.Kind == "Workspace" && r.Name == ws.Name && r.UID == ws.UID
		}
	}
	return false
}

// durations summarises how long the controller ran between kills.
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("min %s, median %s, max %s", s[0].Round(10*time.Millisecond),
		s[len(s)/2].Round(10*time.Millisecond), s[len(s)-1].Round(10*time.Millisecond))
}

// sample quotes the first few problems.
func sample(problems []string) string {
	const n = 3
	if len(problems) == 0 {
		return ""
	}
	out := ", e.g.:\n\t" + strings.Join(problems[:min(n, len(problems))], "\n\t")
	if len(problems) > n {
		out += "\n\t…"
	}
	return out
}
