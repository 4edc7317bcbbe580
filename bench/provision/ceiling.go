package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/bench/internal/procstat"
	"github.com/tenancy-dev/tenancy/internal/controller"
)

type ceilingKind int

const (
	ceilingHonest     ceilingKind = iota // Workspace + objects + one status write
	ceilingCreateOnly                    // the objects, one POST each
	ceilingApply                         // the objects, one server-side apply each
)

type ceilingPhase struct {
	ran      bool
	done     time.Duration
	requests int
	cpu      procstat.CPU
	times    []time.Duration // when each workspace was done, since the start
	delete   *deleteResults
}

// runCeiling writes every workspace's objects, o.concurrency workspaces at
// a time (the shape of the controller's work), in namespaces prefix00000…,
// with no client-side rate limit, so that the API server is the limit. It
// writes as the controller's identity (User tenancy-controller with the
// ClusterRole of config/rbac), as the controller does: the API server
// authorizes it through RBAC, where an admin (system:masters) would skip
// RBAC; only the Workspaces are created and deleted by admin, as the
// driver does for Tenancy.
func (b *bench) runCeiling(ctx context.Context, prefix string, kind ceilingKind, deletion bool) (ceilingPhase, error) {
	o := b.o
	if _, err := b.controllerKubeconfig(ctx); err != nil { // binds the ClusterRole
		return ceilingPhase{}, err
	}
	cfg, err := b.cluster.UserConfig(controllerUser)
	if err != nil {
		return ceilingPhase{}, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side limit
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return ceilingPhase{}, err
	}
	cc, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return ceilingPhase{}, err
	}
	adminCfg := b.cluster.Config()
	adminCfg.QPS, adminCfg.Burst = -1, 0
	admin, err := client.New(adminCfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return ceilingPhase{}, err
	}
	rec := newRecorder(o.n, prefix, "done")
	var requests atomic.Int64
	self := map[string]int{"bench client": os.Getpid()} // this process: the client's CPU counts too
	cpuBefore := procstat.TakeCPU(b.dir, self)
	start := time.Now()
	err = b.parallel(ctx, o.concurrency, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("%s%05d", prefix, i)
		var n int
		var err error
		switch kind {
		case ceilingHonest:
			n, err = ceilingWorkspace(ctx, admin, cc, cs, name, i, o.clusterRulesEvery)
		case ceilingCreateOnly:
			n, err = createDirectly(ctx, cs, name, i, o.clusterRulesEvery)
		case ceilingApply:
			n, err = applyDirectly(ctx, cs, name, i, o.clusterRulesEvery)
		}
		requests.Add(int64(n))
		if err == nil {
			rec.mark("done", name, time.Now())
		}
		return err
	})
	r := ceilingPhase{ran: true, done: time.Since(start), requests: int(requests.Load())}
	r.cpu = procstat.TakeCPU(b.dir, self).Sub(cpuBefore)
	r.times = rec.since("done", start)
	if err != nil {
		return r, fmt.Errorf("ceiling: %w", err)
	}
	if deletion {
		b.logf("ceiling: deleting the %d workspaces", o.n)
		t0 := time.Now()
		if err := b.parallel(ctx, o.concurrency, func(ctx context.Context, i int) error {
			_, err := ceilingDelete(ctx, admin, cc, cs, fmt.Sprintf("%s%05d", prefix, i), i, o.clusterRulesEvery)
			return err
		}); err != nil {
			return r, fmt.Errorf("ceiling deletion: %w", err)
		}
		for {
			left, err := b.namespacesLeft(ctx, prefix)
			if err != nil {
				return r, err
			}
			if left == 0 {
				break
			}
			if time.Since(t0) > o.timeout {
				return r, fmt.Errorf("ceiling deletion: %d namespaces left after %s", left, o.timeout)
			}
			select {
			case <-ctx.Done():
				return r, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
		d := &deleteResults{Seconds: time.Since(t0).Seconds()}
		if d.LeftBehind, _, err = b.leftBehind(ctx, "bench-optimal", prefix); err != nil {
			return r, err
		}
		r.delete = d
		b.logf("ceiling: all gone %.1fs after the first delete; %d objects left behind", d.Seconds, d.LeftBehind)
	}
	return r, nil
}

// namespacesLeft counts the namespaces prefix… that still exist.
func (b *bench) namespacesLeft(ctx context.Context, prefix string) (int, error) {
	list := &corev1.NamespaceList{}
	if err := b.client.List(ctx, list, client.MatchingLabels{tenancyv1.LabelManagedBy: "bench-optimal"}); err != nil {
		return 0, err
	}
	n := 0
	for _, ns := range list.Items {
		if strings.HasPrefix(ns.Name, prefix) {
			n++
		}
	}
	return n, nil
}
