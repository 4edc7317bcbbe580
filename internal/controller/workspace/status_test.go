package workspace

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

// applyAll records every part as applied.
func applyAll(b *statusBuilder) {
	for _, t := range partConditions {
		b.part(t, nil)
	}
}

func TestStatusBuilderReady(t *testing.T) {
	tests := map[string]struct {
		ws     *tenancyv1.Workspace
		record func(*statusBuilder)
		want   metav1.Condition
	}{
		"every part applied: Ready": {
			record: applyAll,
			want:   metav1.Condition{Status: "True", Reason: "Reconciled", Message: "all parts applied"},
		},
		"not requested and not installed count as done": {
			record: func(b *statusBuilder) {
				applyAll(b)
				b.notRequested(tenancyv1.ConditionStorage, "no workspace volume configured")
				b.notRequested(tenancyv1.ConditionPlugins, "no plugins configured")
				b.notInstalled(tenancyv1.ConditionIstio, "no Istio")
			},
			want: metav1.Condition{Status: "True", Reason: "Reconciled", Message: "all parts applied"},
		},
		"one part failed: not Ready, naming it": {
			record: func(b *statusBuilder) {
				applyAll(b)
				b.part(tenancyv1.ConditionQuota, errors.New("forbidden"))
			},
			want: metav1.Condition{Status: "False", Reason: "PartsNotReady", Message: "not ready: QuotaReady"},
		},
		"parts not recorded count as not ready, in order": {
			record: func(b *statusBuilder) {
				b.part(tenancyv1.ConditionNamespace, nil)
				b.part(tenancyv1.ConditionRBAC, nil)
				b.part(tenancyv1.ConditionQuota, nil)
				b.part(tenancyv1.ConditionNetwork, nil)
				b.part(tenancyv1.ConditionStorage, nil)
			},
			want: metav1.Condition{Status: "False", Reason: "PartsNotReady", Message: "not ready: IstioReady, PluginsReady"},
		},
		"a failed part from the last status still counts": {
			ws: testutil.Workspace("ml").Condition(metav1.Condition{
				Type: tenancyv1.ConditionIstio, Status: "False", Reason: "ApplyFailed",
			}).Obj(),
			record: func(b *statusBuilder) {
				for _, t := range partConditions {
					if t != tenancyv1.ConditionIstio {
						b.part(t, nil)
					}
				}
			},
			want: metav1.Condition{Status: "False", Reason: "PartsNotReady", Message: "not ready: IstioReady"},
		},
		"blocked wins over parts": {
			record: func(b *statusBuilder) {
				applyAll(b)
				b.blocked(tenancyv1.ReasonClassNotFound, `WorkspaceClass "gpu" does not exist`)
			},
			want: metav1.Condition{Status: "False", Reason: "ClassNotFound", Message: `WorkspaceClass "gpu" does not exist`},
		},
		"no owner": {
			record: func(b *statusBuilder) {
				applyAll(b)
				b.noOwner()
			},
			want: metav1.Condition{Status: "False", Reason: "NoOwner", Message: "the workspace has no owner: set spec.owner"},
		},
		"no owner does not hide an earlier block": {
			record: func(b *statusBuilder) {
				b.blocked(tenancyv1.ReasonNamespaceConflict, "taken")
				b.noOwner()
			},
			want: metav1.Condition{Status: "False", Reason: "NamespaceConflict", Message: "taken"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ws := tc.ws
			if ws == nil {
				ws = testutil.Workspace("ml").Obj()
			}
			b := newStatus(ws)
			tc.record(b)
			st := b.build()

			got := meta.FindStatusCondition(st.Conditions, tenancyv1.ConditionReady)
			want := tc.want
			want.Type, want.ObservedGeneration = tenancyv1.ConditionReady, ws.Generation
			if diff := cmp.Diff(&want, got, cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")); diff != "" {
				t.Errorf("Ready condition mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusBuilderPartFailureMessage(t *testing.T) {
	b := newStatus(testutil.Workspace("ml").Obj())
	b.part(tenancyv1.ConditionRBAC, errors.New(`apply RoleBinding ml/tenancy:owner: forbidden`))
	got := meta.FindStatusCondition(b.build().Conditions, tenancyv1.ConditionRBAC)

	want := &metav1.Condition{
		Type: tenancyv1.ConditionRBAC, Status: "False", Reason: "ApplyFailed",
		Message: "apply RoleBinding ml/tenancy:owner: forbidden", ObservedGeneration: 1,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")); diff != "" {
		t.Errorf("RBACReady condition mismatch (-want +got):\n%s", diff)
	}
}

func TestStatusBuilderObservedGeneration(t *testing.T) {
	// Conditions written at generation 6, now reconciling generation 7.
	wsb := testutil.Workspace("ml").Generation(7)
	for _, c := range append([]string{tenancyv1.ConditionReady}, partConditions...) {
		wsb.Condition(metav1.Condition{Type: c, Status: "True", Reason: "Reconciled", ObservedGeneration: 6})
	}
	ws := wsb.Obj()
	ws.Status.ObservedGeneration = 6

	b := newStatus(ws)
	applyAll(b)
	st := b.build()

	if st.ObservedGeneration != 7 {
		t.Errorf("status.observedGeneration = %d, want 7", st.ObservedGeneration)
	}
	got := map[string]int64{}
	want := map[string]int64{}
	for _, c := range st.Conditions {
		got[c.Type] = c.ObservedGeneration
		want[c.Type] = 7
	}
	if len(got) != len(partConditions)+1 {
		t.Errorf("got %d conditions, want %d: %v", len(got), len(partConditions)+1, got)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("condition observedGeneration mismatch (-want +got):\n%s", diff)
	}
}

func TestStatusBuilderLastTransitionTime(t *testing.T) {
	before := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	wsb := testutil.Workspace("ml").Generation(2)
	for _, c := range append([]string{tenancyv1.ConditionReady}, partConditions...) {
		wsb.Condition(metav1.Condition{
			Type: c, Status: "True", Reason: "Reconciled", Message: "applied",
			ObservedGeneration: 1, LastTransitionTime: before,
		})
	}

	tests := map[string]struct {
		record  func(*statusBuilder)
		changed []string // conditions whose transition time moves
	}{
		"status unchanged: times kept": {
			record: applyAll,
		},
		"only the reason changed: time kept": {
			record: func(b *statusBuilder) {
				applyAll(b)
				b.notRequested(tenancyv1.ConditionStorage, "no workspace volume configured")
			},
		},
		"a part flipped: its time and Ready's move": {
			record: func(b *statusBuilder) {
				applyAll(b)
				b.part(tenancyv1.ConditionNetwork, errors.New("denied"))
			},
			changed: []string{tenancyv1.ConditionNetwork, tenancyv1.ConditionReady},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ws := wsb.Obj()
			b := newStatus(ws)
			tc.record(b)
			st := b.build()

			var changed []string
			for _, c := range st.Conditions {
				if !c.LastTransitionTime.Equal(&before) {
					changed = append(changed, c.Type)
				}
			}
			if diff := cmp.Diff(tc.changed, changed, cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("conditions with a new transition time mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStatusBuilderLeavesWorkspaceAlone guards writeStatus's "changed?"
// check, which compares the workspace's status with the built one.
func TestStatusBuilderLeavesWorkspaceAlone(t *testing.T) {
	ws := testutil.Workspace("ml").Generation(3).Condition(metav1.Condition{
		Type: tenancyv1.ConditionQuota, Status: "True", Reason: "Reconciled", ObservedGeneration: 2,
	}).Obj()
	before := ws.DeepCopy()

	b := newStatus(ws)
	b.part(tenancyv1.ConditionQuota, errors.New("boom"))
	b.quota(&corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{Hard: list("requests.nvidia.com/gpu", "4")}},
		corev1ac.ResourceQuota("tenancy", "ml").WithSpec(corev1ac.ResourceQuotaSpec().WithHard(list("requests.nvidia.com/gpu", "4"))), false)
	b.build()

	if diff := cmp.Diff(before, ws); diff != "" {
		t.Errorf("workspace changed by the status builder (-before +after):\n%s", diff)
	}
}

func TestStatusBuilderQuota(t *testing.T) {
	type want struct {
		Quota *tenancyv1.QuotaStatus
		GPUs  string
	}
	desired := func(kv ...string) *corev1ac.ResourceQuotaApplyConfiguration {
		return corev1ac.ResourceQuota("tenancy", "ml").WithSpec(corev1ac.ResourceQuotaSpec().WithHard(list(kv...)))
	}
	tests := map[string]struct {
		quota   *corev1.ResourceQuota
		desired *corev1ac.ResourceQuotaApplyConfiguration // nil: no quota wanted
		first   bool                                      // the workspace's first provisioning
		want    want
	}{
		"no quota wanted: cleared": {
			quota: &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{Hard: list("requests.cpu", "8")}},
			want:  want{},
		},
		"quota without status yet: what was mirrored is kept": {
			quota:   &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: list("requests.cpu", "8")}},
			desired: desired("requests.cpu", "8"),
			want:    want{Quota: &tenancyv1.QuotaStatus{Hard: list("requests.nvidia.com/gpu", "8")}, GPUs: "2/8"},
		},
		"quota not cached yet: what was mirrored is kept": {
			desired: desired("requests.cpu", "8"),
			want:    want{Quota: &tenancyv1.QuotaStatus{Hard: list("requests.nvidia.com/gpu", "8")}, GPUs: "2/8"},
		},
		"first provisioning, quota not cached yet: foretold, nothing used": {
			desired: desired("requests.cpu", "8", "requests.nvidia.com/gpu", "1"),
			first:   true,
			want: want{
				Quota: &tenancyv1.QuotaStatus{
					Hard: list("requests.cpu", "8", "requests.nvidia.com/gpu", "1"),
					Used: list("requests.cpu", "0", "requests.nvidia.com/gpu", "0"),
				},
				GPUs: "0/1",
			},
		},
		"GPUs used/hard": {
			desired: desired("requests.cpu", "8"),
			quota: &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{
				Hard: list("requests.nvidia.com/gpu", "4", "requests.cpu", "8"),
				Used: list("requests.nvidia.com/gpu", "1", "requests.cpu", "500m"),
			}},
			want: want{
				Quota: &tenancyv1.QuotaStatus{
					Hard: list("requests.nvidia.com/gpu", "4", "requests.cpu", "8"),
					Used: list("requests.nvidia.com/gpu", "1", "requests.cpu", "500m"),
				},
				GPUs: "1/4",
			},
		},
		"GPUs counted, none used yet": {
			desired: desired("requests.cpu", "8"),
			quota: &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{
				Hard: list("requests.nvidia.com/gpu", "4"),
			}},
			want: want{
				Quota: &tenancyv1.QuotaStatus{Hard: list("requests.nvidia.com/gpu", "4")},
				GPUs:  "0/4",
			},
		},
		"GPUs not counted: no GPU column": {
			desired: desired("requests.cpu", "8"),
			quota: &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{
				Hard: list("requests.cpu", "8"),
				Used: list("requests.cpu", "0"),
			}},
			want: want{
				Quota: &tenancyv1.QuotaStatus{Hard: list("requests.cpu", "8"), Used: list("requests.cpu", "0")},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// The last status had a GPU quota, which must not linger.
			ws := testutil.Workspace("ml").Obj()
			ws.Status.Quota = &tenancyv1.QuotaStatus{Hard: list("requests.nvidia.com/gpu", "8")}
			ws.Status.GPUs = "2/8"

			b := newStatus(ws)
			b.quota(tc.quota, tc.desired, tc.first)
			st := b.build()

			if diff := cmp.Diff(tc.want, want{st.Quota, st.GPUs}); diff != "" {
				t.Errorf("quota status mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
