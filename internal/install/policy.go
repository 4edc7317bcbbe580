package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	admissionv1ac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Names of the self-serve objects.
const (
	// CreatorRole may create workspaces and read classes; the policy keeps
	// its holders to their own workspaces.
	CreatorRole = "tenancy:workspace-creator"
	// AdminRole holds every right on Tenancy's API, including the custom
	// verb VerbManage that exempts its holders from the self-serve policy.
	AdminRole = "tenancy:admin"
	// SelfServePolicy is the ValidatingAdmissionPolicy (and its binding).
	SelfServePolicy = "tenancy-self-serve"

	// VerbManage on workspaces makes a requester a Tenancy admin: the
	// self-serve policy does not apply to them. system:masters has it.
	VerbManage = "manage"
	// VerbUse on a workspaceclass (by resource name) lets a non-admin create
	// workspaces of that class.
	VerbUse = "use"
)

// SelfServeOwnFields are the only spec fields a non-admin may set: who owns
// the workspace (themselves), which class it is, and whom it is shared with.
var SelfServeOwnFields = []string{"owner", "class", "contributors"}

// SelfServeAdminFields are the spec fields only a Tenancy admin may set or
// change; for everyone else the class decides them. Every WorkspaceSpec
// field is in exactly one of SelfServeOwnFields and SelfServeAdminFields (a
// unit test checks).
var SelfServeAdminFields = []string{
	"ownerRole", "resourceQuota", "limitRange", "rules", "clusterRules", "nodeSelector",
	"tolerations", "storage", "networkIsolation", "podSecurity", "plugins",
}

// SelfServe server-side applies what lets people create their own
// workspaces: the ClusterRoles tenancy:workspace-creator and tenancy:admin,
// and the ValidatingAdmissionPolicy tenancy-self-serve with its binding. It
// then waits (up to a minute) for the API server's type check of the policy
// and fails if the check reported a problem.
//
// Nothing is granted to anyone: `tenancy grant create-workspaces` binds
// people to tenancy:workspace-creator, and an admin's identity (including
// the controller's) needs the verb "manage" on workspaces.tenancy.dev.
func SelfServe(ctx context.Context, c client.Client) error {
	for _, ac := range SelfServeObjects() {
		if err := c.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s: %w", describeApply(ac), err)
		}
	}
	return waitPolicyChecked(ctx, c, time.Minute)
}

// SelfServeObjects are the objects SelfServe applies, in order.
func SelfServeObjects() []runtime.ApplyConfiguration {
	return []runtime.ApplyConfiguration{
		creatorRole(), adminRole(), selfServePolicy(), denyBinding(SelfServePolicy),
		reservedNamesPolicy(), paramBinding(ReservedNamesPolicy, admissionv1ac.ParamRef().
			WithName(ReservedNamesConfigMap).WithNamespace(SystemNamespace).
			WithParameterNotFoundAction(admissionregistrationv1.AllowAction)),
		classNamesPolicy(), paramBinding(ClassNamesPolicy, allParams()),
	}
}

func describeApply(ac runtime.ApplyConfiguration) string {
	switch o := ac.(type) {
	case *rbacv1ac.ClusterRoleApplyConfiguration:
		return "ClusterRole " + *o.Name
	case *admissionv1ac.ValidatingAdmissionPolicyApplyConfiguration:
		return "ValidatingAdmissionPolicy " + *o.Name
	case *admissionv1ac.ValidatingAdmissionPolicyBindingApplyConfiguration:
		return "ValidatingAdmissionPolicyBinding " + *o.Name
	case *admissionv1ac.MutatingAdmissionPolicyApplyConfiguration:
		return "MutatingAdmissionPolicy " + *o.Name
	case *admissionv1ac.MutatingAdmissionPolicyBindingApplyConfiguration:
		return "MutatingAdmissionPolicyBinding " + *o.Name
	}
	return fmt.Sprintf("%T", ac)
}

func managedLabels() map[string]string {
	return map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelComponent: tenancyv1.ComponentInstall}
}

// creatorRole lets its holders run `tenancy workspace create/list/get/
// share/unshare/delete`. RBAC cannot tell one workspace from another by
// owner, so it grants the verbs on all workspaces and the policy narrows
// writes to the requester's own. Reads are not narrowed: every creator sees
// every workspace's name, owner, contributors, class and quota (never what
// is inside a namespace). See docs/design/self-serve.md.
func creatorRole() *rbacv1ac.ClusterRoleApplyConfiguration {
	return rbacv1ac.ClusterRole(CreatorRole).WithLabels(managedLabels()).WithRules(
		rbacv1ac.PolicyRule().WithAPIGroups(tenancyv1.GroupVersion.Group).WithResources("workspaces").
			WithVerbs("get", "list", "watch", "create", "update", "patch", "delete"),
		rbacv1ac.PolicyRule().WithAPIGroups(tenancyv1.GroupVersion.Group).WithResources("workspaceclasses").
			WithVerbs("get", "list", "watch"),
	)
}

// adminRole is everything on Tenancy's API. Binding it makes a Tenancy
// admin: the verb "manage" (included in "*") exempts from the policy, and
// "use" (also in "*") covers every class.
func adminRole() *rbacv1ac.ClusterRoleApplyConfiguration {
	return rbacv1ac.ClusterRole(AdminRole).WithLabels(managedLabels()).WithRules(
		rbacv1ac.PolicyRule().WithAPIGroups(tenancyv1.GroupVersion.Group).
			WithResources("workspaces", "workspaces/status", "workspaceclasses", "users", "users/status").
			WithVerbs(rbacv1.VerbAll),
	)
}

// Expressions shared by the policy's rules. Each variable is total: it never
// touches object on DELETE nor oldObject on CREATE, since every message
// expression is evaluated on every request.
const (
	isCreate = "request.operation == 'CREATE'"
	isUpdate = "request.operation == 'UPDATE'"
	hasOwner = "has(object.spec) && has(object.spec.owner)"
	hasClass = "has(object.spec) && has(object.spec.class) && object.spec.class != ''"
)

// specHas returns a CEL test that obj (object or oldObject) has spec.field.
// None of the field names is a CEL reserved word, so none needs escaping.
func specHas(obj, field string) string {
	return fmt.Sprintf("(has(%s.spec) && has(%s.spec.%s))", obj, obj, field)
}

// listIf builds a CEL list of the fields for which test holds.
func listIf(fields []string, test func(f string) string) string {
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		parts = append(parts, fmt.Sprintf("(%s ? ['%s'] : [])", test(f), f))
	}
	return strings.Join(parts, " + ")
}

// requestedAdminFields: on CREATE, the admin fields the new workspace sets.
func requestedAdminFields() string {
	return "!(" + isCreate + ") ? [] : " + listIf(SelfServeAdminFields, func(f string) string {
		return specHas("object", f)
	})
}

// changedFields: on UPDATE, the fields other than contributors that differ.
func changedFields() string {
	fields := append([]string{"owner", "class"}, SelfServeAdminFields...)
	return "!(" + isUpdate + ") ? [] : " + listIf(fields, func(f string) string {
		n, o := specHas("object", f), specHas("oldObject", f)
		return fmt.Sprintf("(%s != %s || (%s && object.spec.%s != oldObject.spec.%s))", n, o, n, f, f)
	})
}

// selfServePolicy keeps non-admins to their own workspaces. Whoever may
// "manage" workspaces (system:masters, tenancy:admin, the controller) is not
// matched at all.
func selfServePolicy() *admissionv1ac.ValidatingAdmissionPolicyApplyConfiguration {
	group := tenancyv1.GroupVersion.Group
	v := func(name, expr string) *admissionv1ac.VariableApplyConfiguration {
		return admissionv1ac.Variable().WithName(name).WithExpression(expr)
	}
	rule := func(reason metav1.StatusReason, expr, message, messageExpr string) *admissionv1ac.ValidationApplyConfiguration {
		r := admissionv1ac.Validation().WithExpression(expr).WithMessage(message).WithReason(reason)
		if messageExpr != "" {
			r.WithMessageExpression(messageExpr)
		}
		return r
	}
	ownerDesc := func(obj string) string {
		return fmt.Sprintf("%s.spec.owner.kind + ' ' + %s.spec.owner.name", obj, obj)
	}
	return admissionv1ac.ValidatingAdmissionPolicy(SelfServePolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Fail).
			WithMatchConstraints(admissionv1ac.MatchResources().
				WithMatchPolicy(admissionregistrationv1.Equivalent).
				WithResourceRules(admissionv1ac.NamedRuleWithOperations().
					WithAPIGroups(group).WithAPIVersions("*").WithResources("workspaces").
					WithOperations(admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete))).
			WithMatchConditions(admissionv1ac.MatchCondition().
				WithName("not-a-tenancy-admin").
				WithExpression(fmt.Sprintf("!authorizer.group('%s').resource('workspaces').check('%s').allowed()", group, VerbManage)),
				notGarbageCollector()).
			WithVariables(
				v("ownsOld", "!("+isCreate+") && has(oldObject.spec) && has(oldObject.spec.owner) && "+isRequester("oldObject.spec.owner")),
				v("adminOfOld", isUpdate+" && has(oldObject.spec) && has(oldObject.spec.contributors) && "+
					"oldObject.spec.contributors.exists(c, c.role == 'admin' && "+isRequester("c")+")"),
				v("oldOwner", "!("+isCreate+") && has(oldObject.spec) && has(oldObject.spec.owner) ? "+ownerDesc("oldObject")+" : 'nobody'"),
				v("requestedAdminFields", requestedAdminFields()),
				v("changedFields", changedFields()),
			).
			WithValidations(
				rule(metav1.StatusReasonForbidden,
					"!("+isCreate+") || ("+hasOwner+" && object.spec.owner.kind == 'User' && object.spec.owner.name == request.userInfo.username)",
					"you may create workspaces only with yourself as owner: set spec.owner to {kind: User, name: <your user name>}",
					"'you may create workspaces only with yourself as owner: set spec.owner to {kind: User, name: ' + request.userInfo.username + '}' + "+
						"("+isCreate+" && "+hasOwner+" ? ' (it names '+"+ownerDesc("object")+"+')' : '') + '; a Tenancy admin can create workspaces for others'"),
				rule(metav1.StatusReasonInvalid,
					"!("+isCreate+") || ("+hasClass+")",
					"set spec.class to a WorkspaceClass you may use (kubectl get workspaceclasses lists them): a workspace you create must name its class",
					""),
				rule(metav1.StatusReasonForbidden,
					"!("+isCreate+") || !("+hasClass+") || "+
						fmt.Sprintf("authorizer.group('%s').resource('workspaceclasses').name(object.spec.class).check('%s').allowed()", group, VerbUse),
					"you may not create workspaces of this WorkspaceClass: choose a class you were granted, or ask a Tenancy admin to grant it (tenancy grant create-workspaces --class)",
					"!("+isCreate+" && "+hasClass+") ? '' : 'you may not create workspaces of WorkspaceClass ' + object.spec.class + "+
						"': choose a class you were granted, or ask a Tenancy admin to run: tenancy grant create-workspaces --user ' + request.userInfo.username + ' --class ' + object.spec.class"),
				rule(metav1.StatusReasonForbidden,
					"size(variables.requestedAdminFields) == 0",
					"only a Tenancy admin may set spec fields other than owner, class and contributors: the WorkspaceClass decides them",
					"'only a Tenancy admin may set ' + variables.requestedAdminFields.map(f, 'spec.' + f).join(', ') + "+
						"': the WorkspaceClass decides ' + (size(variables.requestedAdminFields) == 1 ? 'it' : 'them') + '; remove ' + "+
						"(size(variables.requestedAdminFields) == 1 ? 'it' : 'them') + ', or choose another class'"),
				rule(metav1.StatusReasonForbidden,
					isCreate+" || variables.ownsOld || variables.adminOfOld",
					"you may change or delete only workspaces you own (an admin contributor may change spec.contributors); ask the owner or a Tenancy admin",
					"'you may ' + (request.operation == 'DELETE' ? 'delete' : 'change') + ' only workspaces you own: ' + "+
						"(has(request.name) ? request.name : 'this workspace') + ' is owned by ' + variables.oldOwner + '; ask its owner or a Tenancy admin'"),
				rule(metav1.StatusReasonForbidden,
					"size(variables.changedFields) == 0",
					"only a Tenancy admin may change spec fields other than contributors; you may change spec.contributors to share the workspace",
					"'only a Tenancy admin may change ' + variables.changedFields.map(f, 'spec.' + f).join(', ') + "+
						"' of a workspace; you may change spec.contributors to share it: keep the other fields as they are'"),
				rule(metav1.StatusReasonForbidden,
					"!("+isCreate+") || !has(object.metadata.finalizers) || object.metadata.finalizers.all(f, f == '"+tenancyv1.Finalizer+"')",
					"you may not set metadata.finalizers on a workspace: a finalizer of yours would keep it from being deleted; remove them",
					""),
				rule(metav1.StatusReasonForbidden,
					"request.operation == 'DELETE' || !has(object.metadata.ownerReferences) || size(object.metadata.ownerReferences) == 0 || "+
						"("+isUpdate+" && has(oldObject.metadata.ownerReferences) && object.metadata.ownerReferences == oldObject.metadata.ownerReferences)",
					"you may not set metadata.ownerReferences on a workspace: garbage collection would delete it with its owner; remove them",
					""),
				rule(metav1.StatusReasonForbidden,
					"!("+isCreate+") || !object.metadata.name.matches('"+globRegex(ReservedNamePatterns)+"')",
					"this name is reserved for the cluster and its add-ons: choose another workspace name",
					"!("+isCreate+") ? '' : 'the name ' + object.metadata.name + ' is reserved for the cluster and its add-ons (it matches one of "+
						strings.Join(ReservedNamePatterns, ", ")+"): choose another workspace name'"),
				rule(metav1.StatusReasonForbidden,
					createdByUnchanged(),
					"metadata.annotations[\""+tenancyv1.AnnotationCreatedBy+"\"] is set by the API server to whoever created the workspace: do not set or change it",
					""),
				rule(metav1.StatusReasonForbidden,
					"!("+isUpdate+") || (has(object.metadata.finalizers) ? object.metadata.finalizers : []) == (has(oldObject.metadata.finalizers) ? oldObject.metadata.finalizers : [])",
					"only Tenancy may change metadata.finalizers: its finalizer "+tenancyv1.Finalizer+" removes what the workspace created; to remove the workspace, delete it",
					""),
			))
}

// GarbageCollectors are the identities kube-controller-manager's garbage
// collector writes as: its own ServiceAccount with
// --use-service-account-credentials (the default of kubeadm and most
// distributions), the manager itself without. Deleting a workspace with
// propagationPolicy Orphan (or Foreground) puts the API server's own
// finalizer on it, and only the garbage collector takes that off; the
// self-serve policy must not stop it, or such a delete hangs for good.
var GarbageCollectors = []string{
	"system:serviceaccount:kube-system:generic-garbage-collector",
	"system:kube-controller-manager",
}

func notGarbageCollector() *admissionv1ac.MatchConditionApplyConfiguration {
	return admissionv1ac.MatchCondition().WithName("not-the-garbage-collector").
		WithExpression("!(request.userInfo.username in ['" + strings.Join(GarbageCollectors, "', '") + "'])")
}

// isRequester is a CEL test that subject (a CEL expression of a Subject)
// is the requester: their user name, one of their groups, or their
// ServiceAccount.
func isRequester(subject string) string {
	return fmt.Sprintf("((%[1]s.kind == 'User' && %[1]s.name == request.userInfo.username) || "+
		"(%[1]s.kind == 'Group' && has(request.userInfo.groups) && %[1]s.name in request.userInfo.groups) || "+
		"(%[1]s.kind == 'ServiceAccount' && has(%[1]s.namespace) && 'system:serviceaccount:' + %[1]s.namespace + ':' + %[1]s.name == request.userInfo.username))", subject)
}

// createdByUnchanged: on CREATE the creator annotation, if any, names the
// requester (MutatingAdmissionPolicy tenancy-workspace-defaults sets it;
// without it, a client may set only its own name); on UPDATE it is kept.
func createdByUnchanged() string {
	get := func(obj string) string { return annotationExpr(obj, tenancyv1.AnnotationCreatedBy) }
	return fmt.Sprintf("request.operation == 'DELETE' || (%s ? %s == '' || %s == request.userInfo.username : %s == %s)",
		isCreate, get("object"), get("object"), get("object"), get("oldObject"))
}

// reservedNamesPolicy refuses self-serve workspaces named as in the
// ConfigMap tenancy-system/tenancy-reserved-names: the admin's additions
// to ReservedNamePatterns, key "names", comma- or newline-separated, '*'
// matching any run of characters. Without the ConfigMap it does nothing.
func reservedNamesPolicy() *admissionv1ac.ValidatingAdmissionPolicyApplyConfiguration {
	names := "(has(params.data) && 'names' in params.data ? params.data['names'].replace('\\n', ',').split(',').map(p, p.trim()).filter(p, p != '') : [])"
	re := "'^' + p.replace('.', '\\\\.').replace('*', '.*') + '$'"
	return admissionv1ac.ValidatingAdmissionPolicy(ReservedNamesPolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Fail).
			WithParamKind(admissionv1ac.ParamKind().WithAPIVersion("v1").WithKind("ConfigMap")).
			WithMatchConstraints(workspacesRule(admissionregistrationv1.Create)).
			WithMatchConditions(notAdmin()).
			WithVariables(admissionv1ac.Variable().WithName("matched").
				WithExpression(names + ".filter(p, object.metadata.name.matches(" + re + "))")).
			WithValidations(admissionv1ac.Validation().WithExpression("size(variables.matched) == 0").
				WithReason(metav1.StatusReasonForbidden).
				WithMessage("this workspace name is reserved by the cluster's admin: choose another").
				WithMessageExpression("'the name ' + object.metadata.name + ' is reserved by the cluster admin (it matches ' + variables.matched.join(', ') + ' in ConfigMap " +
					SystemNamespace + "/" + ReservedNamesConfigMap + "): choose another workspace name'")))
}

// classNamesPolicy holds self-serve workspaces to their class's
// spec.workspaceNamePattern. Every class is a parameter; the check bites
// only for the workspace's own class (set by then, the default class
// being filled in at admission before validation).
func classNamesPolicy() *admissionv1ac.ValidatingAdmissionPolicyApplyConfiguration {
	return admissionv1ac.ValidatingAdmissionPolicy(ClassNamesPolicy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicySpec().
			WithFailurePolicy(admissionregistrationv1.Fail).
			WithParamKind(admissionv1ac.ParamKind().WithAPIVersion(tenancyv1.GroupVersion.String()).WithKind("WorkspaceClass")).
			WithMatchConstraints(workspacesRule(admissionregistrationv1.Create)).
			WithMatchConditions(notAdmin()).
			WithValidations(admissionv1ac.Validation().
				WithExpression("!has(object.spec) || !has(object.spec.class) || object.spec.class != params.metadata.name || " +
					"!has(params.spec) || !has(params.spec.workspaceNamePattern) || params.spec.workspaceNamePattern == '' || " +
					"object.metadata.name.matches(params.spec.workspaceNamePattern)").
				WithReason(metav1.StatusReasonForbidden).
				WithMessage("the workspace name does not match its class's spec.workspaceNamePattern").
				WithMessageExpression("'the name ' + object.metadata.name + ' does not match ' + params.spec.workspaceNamePattern + ', the names WorkspaceClass ' + params.metadata.name + ' allows: choose a name that does'")))
}

func paramBinding(policy string, params *admissionv1ac.ParamRefApplyConfiguration) *admissionv1ac.ValidatingAdmissionPolicyBindingApplyConfiguration {
	return admissionv1ac.ValidatingAdmissionPolicyBinding(policy).WithLabels(managedLabels()).WithSpec(
		admissionv1ac.ValidatingAdmissionPolicyBindingSpec().WithPolicyName(policy).WithParamRef(params).
			WithValidationActions(admissionregistrationv1.Deny))
}

// waitPolicyChecked waits until the API server has type-checked the
// current generation of the policy and returns its warnings as an error.
// Enforcement does not wait for the check; a cluster that does not report
// it (no kube-controller-manager) is given up on silently after timeout.
func waitPolicyChecked(ctx context.Context, c client.Client, timeout time.Duration) error {
	var warnings []admissionregistrationv1.ExpressionWarning
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		if err := c.Get(ctx, client.ObjectKey{Name: SelfServePolicy}, p); err != nil {
			return false, nil //nolint:nilerr // keep trying until the timeout
		}
		if p.Status.ObservedGeneration != p.Generation || p.Status.TypeChecking == nil {
			return false, nil
		}
		warnings = p.Status.TypeChecking.ExpressionWarnings
		return true, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
	if len(warnings) > 0 {
		msgs := make([]string, 0, len(warnings))
		for _, w := range warnings {
			msgs = append(msgs, w.FieldRef+": "+strings.TrimSpace(w.Warning))
		}
		return errors.New("the API server's type check of ValidatingAdmissionPolicy " + SelfServePolicy + " failed: " + strings.Join(msgs, "; "))
	}
	return nil
}
