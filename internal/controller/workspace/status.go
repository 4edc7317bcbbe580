package workspace

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// gpuResource is the quota entry summed up in status.gpus.
const gpuResource corev1.ResourceName = "requests.nvidia.com/gpu"

// partConditions are the per-part conditions Ready sums up, in order.
var partConditions = []string{
	tenancyv1.ConditionNamespace, tenancyv1.ConditionRBAC, tenancyv1.ConditionQuota,
	tenancyv1.ConditionNetwork, tenancyv1.ConditionStorage, tenancyv1.ConditionIstio,
	tenancyv1.ConditionPlugins,
}

// statusBuilder collects one reconcile's observations into a new status;
// writeStatus is the only writer.
type statusBuilder struct {
	ws     *tenancyv1.Workspace
	status tenancyv1.WorkspaceStatus
	// readyReason/readyMessage, when set, say why the workspace cannot be
	// Ready whatever its parts say.
	readyReason, readyMessage string
}

func newStatus(ws *tenancyv1.Workspace) *statusBuilder {
	st := ws.Status.DeepCopy()
	st.ObservedGeneration = ws.Generation
	return &statusBuilder{ws: ws, status: *st}
}

func (b *statusBuilder) set(t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&b.status.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: b.ws.Generation,
	})
}

// part records the outcome of applying one part.
func (b *statusBuilder) part(t string, err error) {
	if err != nil {
		b.set(t, metav1.ConditionFalse, tenancyv1.ReasonApplyFailed, err.Error())
		return
	}
	b.set(t, metav1.ConditionTrue, tenancyv1.ReasonReconciled, "applied")
}

func (b *statusBuilder) notRequested(t, msg string) {
	b.set(t, metav1.ConditionTrue, tenancyv1.ReasonNotRequested, msg)
}

func (b *statusBuilder) notInstalled(t, msg string) {
	b.set(t, metav1.ConditionTrue, tenancyv1.ReasonNotInstalled, msg)
}

// blocked marks the workspace not Ready for a reason outside its parts
// (a missing class, a namespace that is somebody else's).
func (b *statusBuilder) blocked(reason, msg string) {
	b.readyReason, b.readyMessage = reason, msg
}

func (b *statusBuilder) noOwner() {
	if b.readyReason == "" {
		b.blocked(tenancyv1.ReasonNoOwner, "the workspace has no owner: set spec.owner")
	}
}

// quota mirrors the ResourceQuota's status. While kube-controller-manager
// has not filled it in (q not cached yet, or without status), the status
// keeps what it has, and on a workspace's first provisioning it is
// foretold from the desired quota: its hard limits, nothing used (a new
// namespace runs nothing). kube-controller-manager then reports the same,
// so mirroring it costs no second status write; if it reports otherwise
// (a quota counting objects Tenancy makes, say), that is mirrored on the
// next reconcile.
func (b *statusBuilder) quota(q *corev1.ResourceQuota, desired *corev1ac.ResourceQuotaApplyConfiguration, first bool) {
	switch {
	case desired == nil:
		b.status.Quota, b.status.GPUs = nil, ""
		return
	case q != nil && len(q.Status.Hard) > 0:
		b.status.Quota = &tenancyv1.QuotaStatus{Hard: q.Status.Hard, Used: q.Status.Used}
	case first && desired.Spec != nil && desired.Spec.Hard != nil:
		used := corev1.ResourceList{}
		for k := range *desired.Spec.Hard {
			used[k] = resource.MustParse("0")
		}
		b.status.Quota = &tenancyv1.QuotaStatus{Hard: desired.Spec.Hard.DeepCopy(), Used: used}
	default:
		return // kube-controller-manager is behind: keep what is there
	}
	b.status.GPUs = ""
	if hard, ok := b.status.Quota.Hard[gpuResource]; ok {
		used := b.status.Quota.Used[gpuResource]
		b.status.GPUs = fmt.Sprintf("%s/%s", used.String(), hard.String())
	}
}

// build computes Ready from the parts.
func (b *statusBuilder) build() tenancyv1.WorkspaceStatus {
	switch {
	case b.readyReason != "":
		b.set(tenancyv1.ConditionReady, metav1.ConditionFalse, b.readyReason, b.readyMessage)
	default:
		var failing []string
		for _, t := range partConditions {
			if c := meta.FindStatusCondition(b.status.Conditions, t); c == nil || c.Status != metav1.ConditionTrue {
				failing = append(failing, t)
			}
		}
		if len(failing) > 0 {
			b.set(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonPartsNotReady,
				"not ready: "+strings.Join(failing, ", "))
		} else {
			b.set(tenancyv1.ConditionReady, metav1.ConditionTrue, tenancyv1.ReasonReconciled, "all parts applied")
		}
	}
	return b.status
}

// writeStatus writes the status when it changed, and only then. A merge
// patch needs no resourceVersion: the status is the controller's alone and
// one workspace is never reconciled twice at once.
func (r *Reconciler) writeStatus(ctx context.Context, ws *tenancyv1.Workspace, b *statusBuilder) error {
	next := b.build()
	if equality.Semantic.DeepEqual(ws.Status, next) {
		return nil
	}
	out := ws.DeepCopy()
	out.Status = next
	if err := r.client.Status().Patch(ctx, out, client.MergeFrom(ws)); err != nil {
		return fmt.Errorf("write status of workspace %s: %w", ws.Name, err)
	}
	return nil
}
