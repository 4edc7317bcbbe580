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

// globRegex turns '*'-patterns into one anchored RE2 alternation.
func globRegex(patterns []string) string {
	parts := make([]string, 0, len(patterns))
	for _, p := range patterns {
		parts = append(parts, strings.ReplaceAll(strings.ReplaceAll(p, ".", `\.`), "*", ".*"))
	}
	return "^(" + strings.Join(parts, "|") + ")$"
}

// Admission server-side applies the admission policies that hold for
// everybody: no escalation through rules, and — where the API server
// serves MutatingAdmissionPolicy (Kubernetes 1.36 on; earlier clusters get
// the controller's fallback) — the Workspace defaults. It says whether the
// mutating policies are in place.
func Admission(ctx context.Context, c client.Client, cfg *rest.Config) (mutating bool, err error) {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	objs := []runtime.ApplyConfiguration{noEscalationPolicy(), noEscalationBinding()}
	mutating = MutatingServed(disc)
	if mutating {
		objs = append(objs, defaultsPolicy(), mutatingBinding(DefaultsPolicy, nil),
			defaultClassPolicy(), mutatingBinding(DefaultClassPolicy, allParams()))
	}
	for _, ac := range objs {
		if err := c.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return mutating, fmt.Errorf("apply %s: %w", describeApply(ac), err)
		}
	}
	if mutating {
		return true, waitDefaulted(ctx, c, time.Minute)
	}
	return false, nil
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
			))
}

func noEscalationBinding() *admissionv1ac.ValidatingAdmissionPolicyBindingApplyConfiguration {
	return admissionv1ac.ValidatingAdmissionPolicyBinding(NoEscalationPolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicyBindingSpec().WithPolicyName(NoEscalationPolicy).
			WithValidationActions(admissionregistrationv1.Deny))
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
