package install

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	admissionv1ac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Names of the admission policies that hold for everybody.
const (
	// NoEscalationPolicy keeps anybody from granting through a Workspace's
	// rules or clusterRules a permission they do not hold themselves.
	NoEscalationPolicy = "tenancy-no-escalation"
	// DefaultsPolicy (a MutatingAdmissionPolicy) puts Tenancy's finalizer
	// on every Workspace from its creation and records its creator.
	DefaultsPolicy = "tenancy-workspace-defaults"
	// DefaultClassPolicy (a MutatingAdmissionPolicy) sets the default
	// class on self-serve Workspaces that name none.
	DefaultClassPolicy = "tenancy-workspace-default-class"
	// ReservedNamesPolicy refuses self-serve workspaces named as in the
	// ConfigMap ReservedNamesConfigMap (the admin's additions to the
	// built-in list, which the self-serve policy holds).
	ReservedNamesPolicy = "tenancy-reserved-names"
	// ReservedNamesConfigMap, in tenancy-system, has a key "names": a
	// comma- or newline-separated list of names, each may use '*'.
	ReservedNamesConfigMap = "tenancy-reserved-names"
	// ClassNamesPolicy holds self-serve workspaces to their class's
	// spec.workspaceNamePattern.
	ClassNamesPolicy = "tenancy-class-name-pattern"
	// SystemNamespace holds Tenancy's own configuration.
	SystemNamespace = "tenancy-system"
	// VolumePolicy (a MutatingAdmissionPolicy) mounts a workspace's volume
	// into every container of every pod created in its namespace.
	VolumePolicy = "tenancy-workspace-volume"
	// AnnotationPodVolume "false" on a pod keeps the volume out of it.
	AnnotationPodVolume = "tenancy.dev/workspace-volume"
	// podVolumeName is the name of the injected volume.
	podVolumeName = "tenancy-workspace"
)

// ReservedNamePatterns are the names no self-serve user may give a
// workspace: those of the cluster itself and of well-known add-ons, whose
// namespaces an admin may install later — a user who had squatted the
// name would be admin of the add-on's namespace. '*' matches any run of
// characters. A Tenancy admin is not bound by them. Not "kubeflow-*": the
// Kubeflow CUJ names its profiles kubeflow-<user>. Extend the list with
// the ConfigMap tenancy-system/tenancy-reserved-names (key "names").
var ReservedNamePatterns = []string{
	"default", "kube-*", "*-system", "tenancy-*", "openshift", "openshift-*",
	"cert-manager", "monitoring", "prometheus", "grafana", "logging",
	"kubeflow", "knative-*", "istio-*", "ingress-nginx",
	"gpu-operator", "nvidia-*", "network-operator", "argocd", "argo", "flux-*",
	"tekton-*", "velero", "kyverno", "gatekeeper-*", "capsule-*", "hnc-*",
	"cattle-*", "local-path-storage", "metallb-*", "calico-*", "tigera-*",
	"kueue-*", "volcano-*", "keda", "external-secrets", "vault",
	"dex", "auth", "oauth2-proxy", "olm", "operators",
}

// annotationExpr is a CEL expression: annotation key of obj (object,
// oldObject, namespaceObject), or ” when it has none.
func annotationExpr(obj, key string) string {
	return fmt.Sprintf("(has(%[1]s.metadata.annotations) && '%[2]s' in %[1]s.metadata.annotations ? %[1]s.metadata.annotations['%[2]s'] : '')", obj, key)
}

// globRegex turns '*'-patterns into one anchored RE2 alternation.
func globRegex(patterns []string) string {
	parts := make([]string, 0, len(patterns))
	for _, p := range patterns {
		parts = append(parts, strings.ReplaceAll(strings.ReplaceAll(p, ".", `\.`), "*", ".*"))
	}
	return "^(" + strings.Join(parts, "|") + ")$"
}

// Admission server-side applies the admission policies that hold for
// everybody, and the ClusterRole tenancy:workload-manager that workspaces
// may name as their ownerRole: no escalation through rules, and — where the API server
// serves MutatingAdmissionPolicy (Kubernetes 1.36 on; earlier clusters get
// the controller's fallback) — the Workspace defaults. It says whether the
// mutating policies are in place.
func Admission(ctx context.Context, c client.Client, cfg *rest.Config) (mutating bool, err error) {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	mutating = MutatingServed(disc)
	for _, ac := range AdmissionObjects(mutating) {
		if err := c.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return mutating, fmt.Errorf("apply %s: %w", describeApply(ac), err)
		}
	}
	if mutating {
		return true, waitDefaulted(ctx, c, time.Minute)
	}
	return false, nil
}

// AdmissionObjects are the objects Admission applies, in order; the
// MutatingAdmissionPolicies only when mutating.
func AdmissionObjects(mutating bool) []runtime.ApplyConfiguration {
	objs := []runtime.ApplyConfiguration{workloadManagerRole(), noEscalationPolicy(), denyBinding(NoEscalationPolicy),
		jobSubmitterPolicy(), denyBinding(JobSubmitterPolicy)}
	if mutating {
		objs = append(objs, defaultsPolicy(), mutatingBinding(DefaultsPolicy, nil),
			defaultClassPolicy(), mutatingBinding(DefaultClassPolicy, allParams()),
			volumePolicy(), mutatingBinding(VolumePolicy, nil))
	}
	return objs
}

// waitDefaulted waits until the API server applies the defaults policy:
// it loads policies, and a custom resource's schema for mutations,
// asynchronously. A dry-run create shows it.
func waitDefaulted(ctx context.Context, c client.Client, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		probe := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "tenancy-admission-probe"}}
		if last = c.Create(ctx, probe, client.DryRunAll); last != nil {
			return false, nil
		}
		return slices.Contains(probe.Finalizers, tenancyv1.Finalizer), nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("the API server did not apply MutatingAdmissionPolicy %s within %s (last answer: %v)", DefaultsPolicy, timeout, last)
	}
	return err
}

// MutatingServed says whether the API server serves
// admissionregistration.k8s.io/v1 MutatingAdmissionPolicies.
func MutatingServed(disc discovery.DiscoveryInterface) bool {
	res, err := disc.ServerResourcesForGroupVersion(admissionregistrationv1.SchemeGroupVersion.String())
	if err != nil {
		return false
	}
	for _, r := range res.APIResources {
		if r.Name == "mutatingadmissionpolicies" {
			return true
		}
	}
	return false
}

// workspacesRule matches the Workspace resource for the operations given.
func workspacesRule(ops ...admissionregistrationv1.OperationType) *admissionv1ac.MatchResourcesApplyConfiguration {
	return admissionv1ac.MatchResources().
		WithMatchPolicy(admissionregistrationv1.Equivalent).
		WithResourceRules(admissionv1ac.NamedRuleWithOperations().
			WithAPIGroups(tenancyv1.GroupVersion.Group).WithAPIVersions("*").WithResources("workspaces").
			WithOperations(ops...))
}

// notAdmin is the match condition of policies that Tenancy admins (who may
// "manage" workspaces) are exempt from.
func notAdmin() *admissionv1ac.MatchConditionApplyConfiguration {
	return admissionv1ac.MatchCondition().WithName("not-a-tenancy-admin").
		WithExpression(fmt.Sprintf("!authorizer.group('%s').resource('workspaces').check('%s').allowed()", tenancyv1.GroupVersion.Group, VerbManage))
}

// mayGrantExpr is a CEL test that the requester may grant any rule in a
// role of the given kind (roles in namespace ns, or clusterroles): they hold
// escalate and bind on it, the rights Kubernetes itself asks of whoever
// creates or binds a role with permissions they do not hold. Checking each
// requested rule with the authorizer instead would be finer, but an
// authorizer check costs a third of a CEL expression's budget, so only a
// couple fit.
func mayGrantExpr(resource, ns string) string {
	check := func(verb string) string {
		e := "authorizer.group('rbac.authorization.k8s.io').resource('" + resource + "')"
		if ns != "" {
			e += ".namespace(" + ns + ")"
		}
		return e + ".check('" + verb + "').allowed()"
	}
	return check("escalate") + " && " + check("bind")
}

// describeRulesExpr renders a CEL list of PolicyRules for a message.
func describeRulesExpr(list string) string {
	field := func(f string) string {
		return fmt.Sprintf("(has(r.%s) ? '%s: [' + r.%s.join(', ') + '] ' : '')", f, f, f)
	}
	return list + ".map(r, '{' + " + field("apiGroups") + " + " + field("resources") + " + " +
		field("resourceNames") + " + " + field("nonResourceURLs") + " + 'verbs: [' + r.verbs.join(', ') + ']}').join(', ')"
}

// noEscalationPolicy holds Kubernetes' own rule for everybody, Tenancy
// admins included: nobody grants through Tenancy a permission they do not
// hold. The controller has bind and escalate, so without this policy
// whoever may write a Workspace could give its owner any right. Setting or
// changing spec.rules needs escalate and bind on roles in the workspace's
// namespace; spec.clusterRules, on clusterroles. Cluster admins have them;
// tenancy:admin does not.
func noEscalationPolicy() *admissionv1ac.ValidatingAdmissionPolicyApplyConfiguration {
	list := func(obj, f string) string {
		return fmt.Sprintf("(has(%s.spec) && has(%s.spec.%s) ? %s.spec.%s : [])", obj, obj, f, obj, f)
	}
	unchanged := func(f string) string {
		return fmt.Sprintf("(request.operation == 'UPDATE' && %s == %s)", list("object", f), list("oldObject", f))
	}
	msg := func(f, what string) string {
		return fmt.Sprintf("'you may not grant the permissions of spec.%s (' + %s + '): that takes the rights Kubernetes asks of whoever grants permissions, escalate and bind on %s; ask a cluster admin to create the workspace, or to grant you them'",
			f, describeRulesExpr(list("object", f)), what)
	}
	rule := func(f, resource, ns, what string) *admissionv1ac.ValidationApplyConfiguration {
		return admissionv1ac.Validation().
			WithExpression("size(" + list("object", f) + ") == 0 || " + unchanged(f) + " || (" + mayGrantExpr(resource, ns) + ")").
			WithReason(metav1.StatusReasonForbidden).
			WithMessage("you may not grant in spec." + f + " permissions you do not hold yourself: that takes escalate and bind on " + what).
			WithMessageExpression(msg(f, what))
	}
	return admissionv1ac.ValidatingAdmissionPolicy(NoEscalationPolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Fail).
			WithMatchConstraints(workspacesRule(admissionregistrationv1.Create, admissionregistrationv1.Update)).
			WithValidations(
				rule("rules", "roles", "object.metadata.name", "roles in the workspace namespace"),
				rule("clusterRules", "clusterroles", "", "clusterroles"),
				ownerRoleRule(),
			))
}

// ownerRoleRule: naming a ClusterRole other than admin, edit or
// workload-manager (each less than a namespace's admin) as a workspace's
// ownerRole takes bind on that ClusterRole, as binding it in RBAC would.
func ownerRoleRule() *admissionv1ac.ValidationApplyConfiguration {
	role := "(has(object.spec) && has(object.spec.ownerRole) ? object.spec.ownerRole : '')"
	old := "(request.operation == 'UPDATE' && has(oldObject.spec) && has(oldObject.spec.ownerRole) ? oldObject.spec.ownerRole : '')"
	known := fmt.Sprintf("['', '%s', '%s', '%s']", tenancyv1.OwnerRoleAdmin, tenancyv1.OwnerRoleEdit, tenancyv1.OwnerRoleWorkloadManager)
	return admissionv1ac.Validation().
		WithExpression(role + " in " + known + " || " + role + " == " + old + " || " +
			"authorizer.group('rbac.authorization.k8s.io').resource('clusterroles').name(" + role + ").check('bind').allowed()").
		WithReason(metav1.StatusReasonForbidden).
		WithMessage("you may not make a ClusterRole you may not bind the owner role of a workspace: use admin, edit or workload-manager, or ask a cluster admin").
		WithMessageExpression("'you may not name ClusterRole ' + " + role + " + ' as spec.ownerRole: that takes bind on it, as binding it would; use admin, edit or workload-manager, or ask a cluster admin'")
}

// workloadManagerRule is one rule of the workload-manager role.
func workloadManagerRule(groups, resources, verbs []string) *rbacv1ac.PolicyRuleApplyConfiguration {
	return rbacv1ac.PolicyRule().WithAPIGroups(groups...).WithResources(resources...).WithVerbs(verbs...)
}

// workloadManagerRole is exactly the namespace Role of the Plexus cluster
// requirements: what a workload manager deploying into the namespace
// needs, and no RBAC or quota writes. Bound as a workspace's ownerRole
// (workload-manager) in its namespace.
func workloadManagerRole() *rbacv1ac.ClusterRoleApplyConfiguration {
	all := []string{"*"}
	return rbacv1ac.ClusterRole(tenancyv1.WorkloadManagerClusterRole).WithLabels(managedLabels()).WithRules(
		workloadManagerRule([]string{"", "extensions", "apps"}, []string{"deployments", "replicasets", "pods", "pods/log", "pods/exec",
			"pods/portforward", "events", "deployments/status", "networkpolicies", "statefulsets"}, all),
		workloadManagerRule([]string{""}, []string{"services", "services/status"}, all),
		workloadManagerRule([]string{"batch", "extensions"}, []string{"jobs", "jobs/status"}, all),
		workloadManagerRule([]string{""}, []string{"persistentvolumeclaims"}, all),
		workloadManagerRule([]string{""}, []string{"secrets"}, all),
		workloadManagerRule([]string{""}, []string{"resourcequotas", "limitranges"}, []string{"list"}),
		workloadManagerRule([]string{"networking.k8s.io"}, []string{"networkpolicies"}, all),
		workloadManagerRule([]string{"com.ie.ibm.hpsys"}, []string{"datasets"}, all),
	)
}

// volumePolicy mounts a workspace's volume into every pod created in its
// namespace — Plexus's "one PVC per user mounted into every user pod" —
// whatever made the pod (a Deployment, a Job, a StatefulSet, kubectl run).
// The namespace says which claim and where (annotations the controller
// sets when the workspace has storage). Pods that already mount the claim,
// already have a volume of the name, or are annotated
// tenancy.dev/workspace-volume: "false" are left alone; a container with
// something mounted at the path already keeps it.
func volumePolicy() *admissionv1ac.MutatingAdmissionPolicyApplyConfiguration {
	ann := func(key string) string { return annotationExpr("namespaceObject", key) }
	mount := func(typ string) string {
		return "Object.spec." + typ + ".volumeMounts{name: '" + podVolumeName + "', mountPath: variables.path}"
	}
	containers := func(field string) string {
		return fmt.Sprintf("object.spec.%[1]s.map(c, has(c.volumeMounts) && c.volumeMounts.exists(m, m.mountPath == variables.path) ? "+
			"Object.spec.%[1]s{name: c.name} : Object.spec.%[1]s{name: c.name, volumeMounts: [%[2]s]})", field, mount(field))
	}
	v := func(name, expr string) *admissionv1ac.VariableApplyConfiguration {
		return admissionv1ac.Variable().WithName(name).WithExpression(expr)
	}
	return admissionv1ac.MutatingAdmissionPolicy(VolumePolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.MutatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Ignore).
			WithReinvocationPolicy(admissionregistrationv1.IfNeededReinvocationPolicy).
			WithMatchConstraints(admissionv1ac.MatchResources().
				WithNamespaceSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{tenancyv1.LabelWorkspaceVolume: "true"})).
				WithResourceRules(admissionv1ac.NamedRuleWithOperations().
					WithAPIGroups("").WithAPIVersions("v1").WithResources("pods").
					WithOperations(admissionregistrationv1.Create))).
			WithMatchConditions(
				admissionv1ac.MatchCondition().WithName("not-opted-out").
					WithExpression(fmt.Sprintf("!has(object.metadata.annotations) || !('%[1]s' in object.metadata.annotations) || object.metadata.annotations['%[1]s'] != 'false'", AnnotationPodVolume)),
			).
			WithVariables(
				v("claim", ann(tenancyv1.AnnotationWorkspaceVolumeClaim)),
				v("path", ann(tenancyv1.AnnotationWorkspaceVolumePath)),
				// Nothing to do without a claim, or where the pod has it already.
				v("skip", "variables.claim == '' || variables.path == '' || (has(object.spec.volumes) && object.spec.volumes.exists(v, v.name == '"+podVolumeName+"' || "+
					"(has(v.persistentVolumeClaim) && v.persistentVolumeClaim.claimName == variables.claim)))"),
			).
			WithMutations(
				admissionv1ac.Mutation().WithPatchType(admissionregistrationv1.PatchTypeApplyConfiguration).
					WithApplyConfiguration(admissionv1ac.ApplyConfiguration().WithExpression(
						"variables.skip ? Object{} : Object{spec: Object.spec{" +
							"volumes: [Object.spec.volumes{name: '" + podVolumeName + "', persistentVolumeClaim: Object.spec.volumes.persistentVolumeClaim{claimName: variables.claim}}], " +
							"containers: " + containers("containers") +
							(", initContainers: has(object.spec.initContainers) ? " + containers("initContainers") + " : []") +
							"}}")),
			))
}

// denyBinding binds policy to every request, denying what it refuses.
func denyBinding(policy string) *admissionv1ac.ValidatingAdmissionPolicyBindingApplyConfiguration {
	return admissionv1ac.ValidatingAdmissionPolicyBinding(policy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicyBindingSpec().WithPolicyName(policy).
			WithValidationActions(admissionregistrationv1.Deny))
}

// JobSubmitterPolicy keeps a Job's tenancy.dev/submitted-by annotation
// true: on create it names the requester (or, for a Tenancy token
// credential, the User its ServiceAccount stands for), and nobody changes
// it later. Every door shows "submitted by" from it, so it must not be
// forgeable with kubectl.
const JobSubmitterPolicy = "tenancy-job-submitter"

func jobSubmitterPolicy() *admissionv1ac.ValidatingAdmissionPolicyApplyConfiguration {
	get := func(obj string) string { return annotationExpr(obj, tenancyv1.AnnotationSubmittedBy) }
	tokenPrefix := "system:serviceaccount:" + SystemNamespace + ":user-"
	return admissionv1ac.ValidatingAdmissionPolicy(JobSubmitterPolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Fail).
			WithMatchConstraints(admissionv1ac.MatchResources().
				WithMatchPolicy(admissionregistrationv1.Equivalent).
				WithResourceRules(admissionv1ac.NamedRuleWithOperations().
					WithAPIGroups("batch").WithAPIVersions("*").WithResources("jobs").
					WithOperations(admissionregistrationv1.Create, admissionregistrationv1.Update))).
			WithMatchConditions(admissionv1ac.MatchCondition().WithName("says-who-submitted").
				WithExpression(get("object")+" != '' || (request.operation == 'UPDATE' && "+get("oldObject")+" != '')")).
			WithVariables(admissionv1ac.Variable().WithName("submitter").WithExpression(
				"request.userInfo.username.startsWith('"+tokenPrefix+"') ? request.userInfo.username.substring("+fmt.Sprint(len(tokenPrefix))+") : request.userInfo.username")).
			WithValidations(
				admissionv1ac.Validation().
					WithExpression("request.operation != 'CREATE' || "+get("object")+" == variables.submitter").
					WithReason(metav1.StatusReasonForbidden).
					WithMessage("metadata.annotations[tenancy.dev/submitted-by] must name you, who submit the job").
					WithMessageExpression("'metadata.annotations[tenancy.dev/submitted-by] must name you, who submit the job: set it to ' + variables.submitter + ' or leave it out'"),
				admissionv1ac.Validation().
					WithExpression("request.operation != 'UPDATE' || "+get("object")+" == "+get("oldObject")).
					WithReason(metav1.StatusReasonForbidden).
					WithMessage("metadata.annotations[tenancy.dev/submitted-by] says who submitted the job and cannot change"),
			))
}

// defaultsPolicy puts Tenancy's finalizer on every Workspace as it is
// created — so a DELETE racing the controller can never skip the cleanup
// (kubernetes#77988) — and records who created it, overwriting whatever the
// request said.
//
// Its failure policy is Ignore: Tenancy's defaults never block a create.
// The API server cannot apply a mutation to a custom resource until it has
// the CRD's schema, some seconds after the CRD is established (Admission
// waits for that); a Workspace created without the defaults gets the
// finalizer from the controller, and one without a recorded creator counts
// as its owner's own towards the owner limit.
func defaultsPolicy() *admissionv1ac.MutatingAdmissionPolicyApplyConfiguration {
	f := tenancyv1.Finalizer
	ann := strings.ReplaceAll(tenancyv1.AnnotationCreatedBy, "/", "~1")
	return admissionv1ac.MutatingAdmissionPolicy(DefaultsPolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.MutatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Ignore).
			WithReinvocationPolicy(admissionregistrationv1.NeverReinvocationPolicy).
			WithMatchConstraints(workspacesRule(admissionregistrationv1.Create)).
			WithMutations(
				admissionv1ac.Mutation().WithPatchType(admissionregistrationv1.PatchTypeJSONPatch).
					WithJSONPatch(admissionv1ac.JSONPatch().WithExpression(
						"!has(object.metadata.finalizers) ? [JSONPatch{op: 'add', path: '/metadata/finalizers', value: ['"+f+"']}] : "+
							"('"+f+"' in object.metadata.finalizers ? [] : [JSONPatch{op: 'add', path: '/metadata/finalizers/-', value: '"+f+"'}])")),
				admissionv1ac.Mutation().WithPatchType(admissionregistrationv1.PatchTypeJSONPatch).
					WithJSONPatch(admissionv1ac.JSONPatch().WithExpression(
						"!has(object.metadata.annotations) ? [JSONPatch{op: 'add', path: '/metadata/annotations', value: {'"+tenancyv1.AnnotationCreatedBy+"': request.userInfo.username}}] : "+
							"[JSONPatch{op: 'add', path: '/metadata/annotations/"+ann+"', value: request.userInfo.username}]")),
			))
}

// defaultClassPolicy sets spec.class of a self-serve Workspace that names
// none to the default class (the one annotated
// tenancy.dev/is-default-class: "true"), so that the Kubeflow journey's
// `spec: {owner: …}` works; the self-serve policy still checks that the
// requester may use that class. Every class is a parameter; the mutation
// does something only for the default one.
func defaultClassPolicy() *admissionv1ac.MutatingAdmissionPolicyApplyConfiguration {
	isDefault := fmt.Sprintf("has(params.metadata.annotations) && '%[1]s' in params.metadata.annotations && params.metadata.annotations['%[1]s'] == 'true'",
		tenancyv1.AnnotationIsDefaultClass)
	return admissionv1ac.MutatingAdmissionPolicy(DefaultClassPolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.MutatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Ignore).
			WithReinvocationPolicy(admissionregistrationv1.NeverReinvocationPolicy).
			WithParamKind(admissionv1ac.ParamKind().WithAPIVersion(tenancyv1.GroupVersion.String()).WithKind("WorkspaceClass")).
			WithMatchConstraints(workspacesRule(admissionregistrationv1.Create)).
			WithMatchConditions(notAdmin()).
			WithMutations(admissionv1ac.Mutation().WithPatchType(admissionregistrationv1.PatchTypeJSONPatch).
				WithJSONPatch(admissionv1ac.JSONPatch().WithExpression(
					"!(" + isDefault + ") || (has(object.spec) && has(object.spec.class) && object.spec.class != '') ? [] : " +
						"!has(object.spec) ? [JSONPatch{op: 'add', path: '/spec', value: {'class': params.metadata.name}}] : " +
						"[JSONPatch{op: 'add', path: '/spec/class', value: params.metadata.name}]"))))
}

// allParams selects every object of the policy's paramKind.
func allParams() *admissionv1ac.ParamRefApplyConfiguration {
	return admissionv1ac.ParamRef().WithSelector(metav1ac.LabelSelector()).
		WithParameterNotFoundAction(admissionregistrationv1.AllowAction)
}

func mutatingBinding(policy string, params *admissionv1ac.ParamRefApplyConfiguration) *admissionv1ac.MutatingAdmissionPolicyBindingApplyConfiguration {
	spec := admissionv1ac.MutatingAdmissionPolicyBindingSpec().WithPolicyName(policy)
	if params != nil {
		spec.WithParamRef(params)
	}
	return admissionv1ac.MutatingAdmissionPolicyBinding(policy).WithLabels(managedLabels()).WithSpec(spec)
}
