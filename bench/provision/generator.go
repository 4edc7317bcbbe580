package main

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// The workload: every workspace has an owner, a small quota (which brings
// a LimitRange with default requests), one namespace rule; every
// clusterRulesEvery-th also a cluster rule.

func quota() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceRequestsCPU:    resource.MustParse("4"),
		corev1.ResourceRequestsMemory: resource.MustParse("16Gi"),
		"requests.nvidia.com/gpu":     resource.MustParse("1"),
		corev1.ResourcePods:           resource.MustParse("50"),
	}
}

func namespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}}
}

func clusterRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}}
}

// memberRole is a ClusterRole (and its binding to the owner) on the one
// Workspace object, as the controller makes for a workspace whose only
// member is its owner: one, to read and change it.
type memberRole struct {
	name  string
	rules []rbacv1.PolicyRule
}

func memberRoles(ws string) []memberRole {
	rule := func(verbs ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{APIGroups: []string{tenancyv1.GroupVersion.Group}, Resources: []string{"workspaces"},
			ResourceNames: []string{ws}, Verbs: verbs}}
	}
	return []memberRole{
		{"bench-optimal:workspace:" + ws + ":member", rule("get", "list", "watch", "patch", "update")},
	}
}

func ownerName(i int) string { return fmt.Sprintf("user-%05d", i) }

func hasClusterRules(i, every int) bool { return every > 0 && i%every == 0 }

func newWorkspace(name string, i, clusterRulesEvery int) *tenancyv1.Workspace {
	ws := &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tenancyv1.WorkspaceSpec{
			Owner:         &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: ownerName(i)},
			ResourceQuota: &corev1.ResourceQuotaSpec{Hard: quota()},
			Rules:         namespaceRules(),
		},
	}
	if hasClusterRules(i, clusterRulesEvery) {
		ws.Spec.ClusterRules = clusterRules()
	}
	return ws
}

// createDirectly is the "optimal client": it creates, with one POST each,
// the objects the controller makes for workspace i, in namespace ns. It
// returns the number of requests sent.
func createDirectly(ctx context.Context, cs kubernetes.Interface, ns string, i, clusterRulesEvery int) (int, error) {
	labels := map[string]string{tenancyv1.LabelManagedBy: "bench-optimal", tenancyv1.LabelWorkspace: ns}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	owner := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: ownerName(i)}
	binding := func(name, roleKind, role string, subject rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: meta(name),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: role},
			Subjects:   []rbacv1.Subject{subject},
		}
	}
	saSubject := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	}
	create := metav1.CreateOptions{FieldManager: "bench-optimal"}
	n := 0
	step := func(kind, name string, err error) error {
		n++
		if err != nil {
			return fmt.Errorf("create %s %s/%s: %w", kind, ns, name, err)
		}
		return nil
	}

	nsLabels := map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}
	maps.Copy(nsLabels, labels)
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels}}, create)
	if err := step("Namespace", ns, err); err != nil {
		return n, err
	}
	for _, sa := range []string{"default-editor", "default-viewer"} {
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta(sa)}, create)
		if err := step("ServiceAccount", sa, err); err != nil {
			return n, err
		}
	}
	_, err = cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta("tenancy:owner-rules"), Rules: namespaceRules()}, create)
	if err := step("Role", "tenancy:owner-rules", err); err != nil {
		return n, err
	}
	for _, rb := range []*rbacv1.RoleBinding{
		binding("tenancy:default-editor", "ClusterRole", "edit", saSubject("default-editor")),
		binding("tenancy:default-viewer", "ClusterRole", "view", saSubject("default-viewer")),
		binding("tenancy:owner", "ClusterRole", "admin", owner),
		binding("tenancy:owner-rules", "Role", "tenancy:owner-rules", owner),
	} {
		_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, rb, create)
		if err := step("RoleBinding", rb.Name, err); err != nil {
			return n, err
		}
	}
	_, err = cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: meta("tenancy"), Spec: corev1.ResourceQuotaSpec{Hard: quota()},
	}, create)
	if err := step("ResourceQuota", "tenancy", err); err != nil {
		return n, err
	}
	_, err = cs.CoreV1().LimitRanges(ns).Create(ctx, &corev1.LimitRange{
		ObjectMeta: meta("tenancy"),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
			},
		}}},
	}, create)
	if err := step("LimitRange", "tenancy", err); err != nil {
		return n, err
	}
	_, err = cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: meta("tenancy-isolation"),
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
		},
	}, create)
	if err := step("NetworkPolicy", "tenancy-isolation", err); err != nil {
		return n, err
	}
	for _, m := range memberRoles(ns) {
		_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: m.name, Labels: labels}, Rules: m.rules,
		}, create)
		if err := step("ClusterRole", m.name, err); err != nil {
			return n, err
		}
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: m.name, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: m.name},
			Subjects:   []rbacv1.Subject{owner},
		}, create)
		if err := step("ClusterRoleBinding", m.name, err); err != nil {
			return n, err
		}
	}
	if hasClusterRules(i, clusterRulesEvery) {
		name := "bench-optimal:workspace:" + ns + ":owner"
		_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: clusterRules(),
		}, create)
		if err := step("ClusterRole", name, err); err != nil {
			return n, err
		}
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{owner},
		}, create)
		if err := step("ClusterRoleBinding", name, err); err != nil {
			return n, err
		}
	}
	return n, nil
}

// applyDirectly is createDirectly with server-side apply (one apply per
// object, forced, one field manager), as the controller writes: it tells
// what the apply itself costs the API server compared with a create.
func applyDirectly(ctx context.Context, cs kubernetes.Interface, ns string, i, clusterRulesEvery int) (int, error) {
	labels := map[string]string{tenancyv1.LabelManagedBy: "bench-optimal", tenancyv1.LabelWorkspace: ns}
	opts := metav1.ApplyOptions{FieldManager: "bench-optimal", Force: true}
	n := 0
	step := func(kind, name string, err error) error {
		n++
		if err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", kind, ns, name, err)
		}
		return nil
	}
	owner := rbacv1ac.Subject().WithKind(rbacv1.UserKind).WithAPIGroup(rbacv1.GroupName).WithName(ownerName(i))
	nsLabels := map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}
	maps.Copy(nsLabels, labels)
	_, err := cs.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(ns).WithLabels(nsLabels), opts)
	if err := step("Namespace", ns, err); err != nil {
		return n, err
	}
	for _, sa := range []string{"default-editor", "default-viewer"} {
		_, err := cs.CoreV1().ServiceAccounts(ns).Apply(ctx, corev1ac.ServiceAccount(sa, ns).WithLabels(labels), opts)
		if err := step("ServiceAccount", sa, err); err != nil {
			return n, err
		}
	}
	rule := namespaceRules()[0]
	_, err = cs.RbacV1().Roles(ns).Apply(ctx, rbacv1ac.Role("tenancy:owner-rules", ns).WithLabels(labels).
		WithRules(rbacv1ac.PolicyRule().WithAPIGroups(rule.APIGroups...).WithResources(rule.Resources...).WithVerbs(rule.Verbs...)), opts)
	if err := step("Role", "tenancy:owner-rules", err); err != nil {
		return n, err
	}
	sa := func(name string) *rbacv1ac.SubjectApplyConfiguration {
		return rbacv1ac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(name).WithNamespace(ns)
	}
	for _, rb := range []struct {
		name, kind, role string
		subject          *rbacv1ac.SubjectApplyConfiguration
	}{
		{"tenancy:default-editor", "ClusterRole", "edit", sa("default-editor")},
		{"tenancy:default-viewer", "ClusterRole", "view", sa("default-viewer")},
		{"tenancy:owner", "ClusterRole", "admin", owner},
		{"tenancy:owner-rules", "Role", "tenancy:owner-rules", owner},
	} {
		_, err := cs.RbacV1().RoleBindings(ns).Apply(ctx, rbacv1ac.RoleBinding(rb.name, ns).WithLabels(labels).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind(rb.kind).WithName(rb.role)).
			WithSubjects(rb.subject), opts)
		if err := step("RoleBinding", rb.name, err); err != nil {
			return n, err
		}
	}
	_, err = cs.CoreV1().ResourceQuotas(ns).Apply(ctx, corev1ac.ResourceQuota("tenancy", ns).WithLabels(labels).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(quota())), opts)
	if err := step("ResourceQuota", "tenancy", err); err != nil {
		return n, err
	}
	_, err = cs.CoreV1().LimitRanges(ns).Apply(ctx, corev1ac.LimitRange("tenancy", ns).WithLabels(labels).
		WithSpec(corev1ac.LimitRangeSpec().WithLimits(corev1ac.LimitRangeItem().WithType(corev1.LimitTypeContainer).
			WithDefaultRequest(corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
			}))), opts)
	if err := step("LimitRange", "tenancy", err); err != nil {
		return n, err
	}
	_, err = cs.NetworkingV1().NetworkPolicies(ns).Apply(ctx, networkingv1ac.NetworkPolicy("tenancy-isolation", ns).WithLabels(labels).
		WithSpec(networkingv1ac.NetworkPolicySpec().WithPodSelector(metav1ac.LabelSelector()).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().
				WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector())))), opts)
	if err := step("NetworkPolicy", "tenancy-isolation", err); err != nil {
		return n, err
	}
	for _, m := range memberRoles(ns) {
		r := m.rules[0]
		_, err := cs.RbacV1().ClusterRoles().Apply(ctx, rbacv1ac.ClusterRole(m.name).WithLabels(labels).
			WithRules(rbacv1ac.PolicyRule().WithAPIGroups(r.APIGroups...).WithResources(r.Resources...).
				WithResourceNames(r.ResourceNames...).WithVerbs(r.Verbs...)), opts)
		if err := step("ClusterRole", m.name, err); err != nil {
			return n, err
		}
		_, err = cs.RbacV1().ClusterRoleBindings().Apply(ctx, rbacv1ac.ClusterRoleBinding(m.name).WithLabels(labels).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(m.name)).
			WithSubjects(owner), opts)
		if err := step("ClusterRoleBinding", m.name, err); err != nil {
			return n, err
		}
	}
	if hasClusterRules(i, clusterRulesEvery) {
		name := "bench-optimal:workspace:" + ns + ":owner"
		cr := clusterRules()[0]
		_, err := cs.RbacV1().ClusterRoles().Apply(ctx, rbacv1ac.ClusterRole(name).WithLabels(labels).
			WithRules(rbacv1ac.PolicyRule().WithAPIGroups(cr.APIGroups...).WithResources(cr.Resources...).WithVerbs(cr.Verbs...)), opts)
		if err := step("ClusterRole", name, err); err != nil {
			return n, err
		}
		_, err = cs.RbacV1().ClusterRoleBindings().Apply(ctx, rbacv1ac.ClusterRoleBinding(name).WithLabels(labels).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(name)).
			WithSubjects(owner), opts)
		if err := step("ClusterRoleBinding", name, err); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ceilingPrefix names the honest ceiling's Workspaces and namespaces.
const ceilingPrefix = "ceil-"

// ceilingWorkspace is the honest ceiling: what any controller design must
// write for workspace i, done with no reads: the user (admin, as the driver
// creates Tenancy's) POSTs the Workspace; the controller's identity (cc, cs)
// POSTs its objects (createDirectly) and writes its status once, as Tenancy
// writes it. It returns the number of requests sent.
func ceilingWorkspace(ctx context.Context, admin, cc client.Client, cs kubernetes.Interface, name string, i, clusterRulesEvery int) (int, error) {
	ws := newWorkspace(name, i, clusterRulesEvery)
	if err := admin.Create(ctx, ws); err != nil {
		return 1, fmt.Errorf("create Workspace %s: %w", name, err)
	}
	n, err := createDirectly(ctx, cs, name, i, clusterRulesEvery)
	n++
	if err != nil {
		return n, err
	}
	before := ws.DeepCopy()
	ws.Status = ceilingStatus(ws)
	n++
	if err := cc.Status().Patch(ctx, ws, client.MergeFrom(before)); err != nil {
		return n, fmt.Errorf("write status of Workspace %s: %w", name, err)
	}
	return n, nil
}

// ceilingStatus is a status of the size Tenancy writes: every condition,
// the namespace, and the quota mirrored as kube-controller-manager will
// report it.
func ceilingStatus(ws *tenancyv1.Workspace) tenancyv1.WorkspaceStatus {
	now := metav1.Now()
	st := tenancyv1.WorkspaceStatus{ObservedGeneration: ws.Generation, Namespace: ws.Name, OwnerRole: "admin"}
	for _, t := range []string{tenancyv1.ConditionNamespace, tenancyv1.ConditionRBAC, tenancyv1.ConditionQuota,
		tenancyv1.ConditionNetwork, tenancyv1.ConditionStorage, tenancyv1.ConditionIstio, tenancyv1.ConditionPlugins,
		tenancyv1.ConditionAdmissionDefaults, tenancyv1.ConditionReady} {
		st.Conditions = append(st.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionTrue,
			Reason: tenancyv1.ReasonReconciled, Message: "applied", ObservedGeneration: ws.Generation, LastTransitionTime: now})
	}
	used := corev1.ResourceList{}
	for k := range quota() {
		used[k] = resource.MustParse("0")
	}
	st.Quota = &tenancyv1.QuotaStatus{Hard: quota(), Used: used}
	st.GPUs = "0/1"
	return st
}

// ceilingDelete is the honest ceiling's deletion of workspace name: delete
// the Workspace, its namespace (kube-controller-manager deletes what is
// in it) and its cluster-scoped objects, and take the finalizer (which the
// admission policy put there) off: the user (admin) deletes the Workspace,
// the controller's identity (cc, cs) the rest.
func ceilingDelete(ctx context.Context, admin, cc client.Client, cs kubernetes.Interface, name string, i, clusterRulesEvery int) (int, error) {
	n := 0
	del := func(what string, err error) error {
		n++
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", what, err)
		}
		return nil
	}
	ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := del("Workspace "+name, admin.Delete(ctx, ws)); err != nil {
		return n, err
	}
	if err := del("Namespace "+name, cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})); err != nil {
		return n, err
	}
	crs := []string{}
	for _, m := range memberRoles(name) {
		crs = append(crs, m.name)
	}
	if hasClusterRules(i, clusterRulesEvery) {
		crs = append(crs, "bench-optimal:workspace:"+name+":owner")
	}
	for _, cr := range crs {
		if err := del("ClusterRoleBinding "+cr, cs.RbacV1().ClusterRoleBindings().Delete(ctx, cr, metav1.DeleteOptions{})); err != nil {
			return n, err
		}
		if err := del("ClusterRole "+cr, cs.RbacV1().ClusterRoles().Delete(ctx, cr, metav1.DeleteOptions{})); err != nil {
			return n, err
		}
	}
	n++
	err := cc.Patch(ctx, ws, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
	if err != nil && !apierrors.IsNotFound(err) {
		return n, fmt.Errorf("remove the finalizer of Workspace %s: %w", name, err)
	}
	return n, nil
}
