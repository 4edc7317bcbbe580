package install

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

// decode turns an apply configuration into its typed object, strictly, as
// the API server would read it.
func decode[T any](t *testing.T, ac runtime.ApplyConfiguration) *T {
	t.Helper()
	raw, err := json.Marshal(ac)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("decode %T: %v", out, err)
	}
	return out
}

func TestSelfServeObjectsDecode(t *testing.T) {
	objs := SelfServeObjects()
	if len(objs) != 8 {
		t.Fatalf("got %d objects, want 8", len(objs))
	}
	creator := decode[rbacv1.ClusterRole](t, objs[0])
	if creator.Name != CreatorRole || creator.Labels[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue {
		t.Errorf("creator role: name %q labels %v", creator.Name, creator.Labels)
	}
	// The verbs `tenancy workspace …` needs, and no deletecollection (which
	// the policy would see item by item, but nobody needs).
	want := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	got := slices.Clone(creator.Rules[0].Verbs)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("creator verbs on workspaces (-want +got):\n%s", diff)
	}
	p := decode[admissionregistrationv1.ValidatingAdmissionPolicy](t, objs[2])
	b := decode[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, objs[3])
	if b.Spec.PolicyName != p.Name || !slices.Equal(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
		t.Errorf("binding %+v does not deny with policy %s", b.Spec, p.Name)
	}
	for i, v := range p.Spec.Validations {
		if v.Message == "" || strings.Contains(v.Message, "\n") {
			t.Errorf("validation %d: message %q must be one non-empty line", i, v.Message)
		}
	}
}

// Every WorkspaceSpec field is either one a non-admin may set or one the
// policy guards: a field added to the API must be placed in one list.
func TestSelfServeFieldsCoverWorkspaceSpec(t *testing.T) {
	var fields []string
	typ := reflect.TypeFor[tenancyv1.WorkspaceSpec]()
	for field := range typ.Fields() {
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	listed := append(slices.Clone(SelfServeOwnFields), SelfServeAdminFields...)
	slices.Sort(fields)
	slices.Sort(listed)
	if diff := cmp.Diff(fields, listed); diff != "" {
		t.Errorf("WorkspaceSpec fields vs SelfServeOwnFields+SelfServeAdminFields (-spec +listed):\n%s", diff)
	}
}

// compilePolicy compiles p as kube-apiserver's ValidatingAdmissionPolicy
// plugin does (validating.compilePolicy), failing on any compile error.
func compilePolicy(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy) validating.Validator {
	t.Helper()
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	withAuthz := plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	mode := environment.StoredExpressions
	for _, v := range p.Spec.Variables {
		if res := compiler.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, withAuthz, mode); res.Error != nil {
			t.Fatalf("variable %s: %v", v.Name, res.Error)
		}
	}
	var conds, validations, messages []plugincel.ExpressionAccessor
	for i := range p.Spec.MatchConditions {
		conds = append(conds, (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i]))
	}
	for _, v := range p.Spec.Validations {
		validations = append(validations, &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason})
		var m plugincel.ExpressionAccessor
		if v.MessageExpression != "" {
			m = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
		messages = append(messages, m)
	}
	condEval := compiler.CompileCondition(conds, withAuthz, mode)
	validationEval := compiler.CompileCondition(validations, withAuthz, mode)
	messageEval := compiler.CompileCondition(messages, plugincel.OptionalVariableDeclarations{}, mode)
	for what, e := range map[string]plugincel.ConditionEvaluator{"matchConditions": condEval, "validations": validationEval, "messageExpressions": messageEval} {
		for _, err := range e.CompilationErrors() {
			t.Errorf("%s: %v", what, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	matcher := matchconditions.NewMatcher(condEval, p.Spec.FailurePolicy, "policy", "validate", p.Name)
	return validating.NewValidator(validationEval, matcher, compiler.CompileCondition(nil, withAuthz, mode), messageEval, p.Spec.FailurePolicy, nil)
}

// fakeRBAC stands in for the API server's authorizer: admins may manage
// workspaces; uses[user] are the classes each user may use.
type fakeRBAC struct {
	admins map[string]bool
	uses   map[string][]string
}

func (f fakeRBAC) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser().GetName()
	switch {
	case f.admins[u]:
		return authorizer.DecisionAllow, "", nil
	case a.GetResource() == "workspaceclasses" && a.GetVerb() == VerbUse && slices.Contains(f.uses[u], a.GetName()):
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// toUnstructured sends ws through JSON, as a client does.
func toUnstructured(t *testing.T, ws *tenancyv1.Workspace) runtime.Object {
	t.Helper()
	if ws == nil {
		return nil
	}
	ws = ws.DeepCopy()
	ws.APIVersion, ws.Kind = tenancyv1.GroupVersion.String(), "Workspace"
	raw, err := json.Marshal(ws)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSelfServePolicy(t *testing.T) {
	p := decode[admissionregistrationv1.ValidatingAdmissionPolicy](t, selfServePolicy())
	v := compilePolicy(t, p)
	rbac := fakeRBAC{admins: map[string]bool{"root": true}, uses: map[string][]string{"jane": {"standard"}}}

	mine := testutil.Workspace("jane-ml").Owner("jane").Class("standard")
	bobs := testutil.Workspace("bob-ml").Owner("bob").Class("standard")
	withFinalizer := func(ws *tenancyv1.Workspace) *tenancyv1.Workspace {
		ws.Finalizers = []string{tenancyv1.Finalizer}
		return ws
	}
	teams := testutil.Workspace("team").OwnerSubject(testutil.Group("ml")).Class("standard")

	tests := map[string]struct {
		user       string
		groups     []string
		op         admission.Operation
		obj, old   *tenancyv1.Workspace
		wantDenied string // "" means allowed; else a substring of the message
	}{
		"create own with a granted class": {
			user: "jane", op: admission.Create, obj: mine.Obj(),
		},
		"create own, shared": {
			user: "jane", op: admission.Create, obj: testutil.Workspace("jane-ml").Owner("jane").Class("standard").Contributor(testutil.User("bob"), tenancyv1.RoleView).Obj(),
		},
		"create for someone else": {
			user: "jane", op: admission.Create, obj: testutil.Workspace("x").Owner("bob").Class("standard").Obj(),
			wantDenied: "you may create workspaces only with yourself as owner: set spec.owner to {kind: User, name: jane} (it names User bob); a Tenancy admin can create workspaces for others",
		},
		"create owned by a group": {
			user: "jane", groups: []string{"ml"}, op: admission.Create, obj: testutil.Workspace("x").OwnerSubject(testutil.Group("ml")).Class("standard").Obj(),
			wantDenied: "set spec.owner to {kind: User, name: jane} (it names Group ml)",
		},
		"create with no spec": {
			user: "jane", op: admission.Create, obj: testutil.Workspace("x").Obj(),
			wantDenied: "set spec.owner to {kind: User, name: jane}; a Tenancy admin",
		},
		"create without a class": {
			user: "jane", op: admission.Create, obj: testutil.Workspace("x").Owner("jane").Obj(),
			wantDenied: "set spec.class to a WorkspaceClass you may use",
		},
		"create with a class not granted": {
			user: "jane", op: admission.Create, obj: testutil.Workspace("x").Owner("jane").Class("gpu").Obj(),
			wantDenied: "you may not create workspaces of WorkspaceClass gpu: choose a class you were granted, or ask a Tenancy admin to run: tenancy grant create-workspaces --user jane --class gpu",
		},
		"create with admin fields": {
			user: "jane", op: admission.Create,
			obj:        testutil.Workspace("x").Owner("jane").Class("standard").GPU(8).PodSecurity(tenancyv1.PodSecurityPrivileged).Obj(),
			wantDenied: "only a Tenancy admin may set spec.resourceQuota, spec.podSecurity: the WorkspaceClass decides them; remove them, or choose another class",
		},
		"create with storage": {
			user: "jane", op: admission.Create, obj: testutil.Workspace("x").Owner("jane").Class("standard").Storage("10Ti").Obj(),
			wantDenied: "only a Tenancy admin may set spec.storage: the WorkspaceClass decides it; remove it",
		},
		"admin creates anything for anyone": {
			user: "root", op: admission.Create, obj: testutil.Workspace("x").Owner("bob").Class("gpu").GPU(8).Obj(),
		},
		"share own": {
			user: "jane", op: admission.Update, old: withFinalizer(mine.Obj()),
			obj: withFinalizer(testutil.Workspace("jane-ml").Owner("jane").Class("standard").Contributor(testutil.User("bob"), tenancyv1.RoleView).Obj()),
		},
		"label own": {
			user: "jane", op: admission.Update, old: mine.Obj(),
			obj: func() *tenancyv1.Workspace { ws := mine.Obj(); ws.Labels = map[string]string{"team": "ml"}; return ws }(),
		},
		"raise own quota": {
			user: "jane", op: admission.Update, old: mine.Obj(), obj: testutil.Workspace("jane-ml").Owner("jane").Class("standard").GPU(8).Obj(),
			wantDenied: "only a Tenancy admin may change spec.resourceQuota of a workspace; you may change spec.contributors to share it",
		},
		"drop a quota an admin set": {
			user: "jane", op: admission.Update, old: testutil.Workspace("jane-ml").Owner("jane").Class("standard").GPU(1).Obj(), obj: mine.Obj(),
			wantDenied: "only a Tenancy admin may change spec.resourceQuota",
		},
		"change class and owner": {
			user: "jane", op: admission.Update, old: mine.Obj(), obj: testutil.Workspace("jane-ml").Owner("bob").Class("gpu").Obj(),
			wantDenied: "only a Tenancy admin may change spec.owner, spec.class of a workspace",
		},
		"remove the finalizer": {
			user: "jane", op: admission.Update, old: withFinalizer(mine.Obj()), obj: mine.Obj(),
			wantDenied: "only Tenancy may change metadata.finalizers",
		},
		"share someone else's": {
			user: "jane", op: admission.Update, old: bobs.Obj(),
			obj:        testutil.Workspace("bob-ml").Owner("bob").Class("standard").Contributor(testutil.User("jane"), tenancyv1.RoleAdmin).Obj(),
			wantDenied: "you may change only workspaces you own: bob-ml is owned by User bob; ask its owner or a Tenancy admin",
		},
		"group member shares the group's": {
			user: "jane", groups: []string{"ml"}, op: admission.Update, old: teams.Obj(),
			obj: testutil.Workspace("team").OwnerSubject(testutil.Group("ml")).Class("standard").Contributor(testutil.User("bob"), tenancyv1.RoleEdit).Obj(),
		},
		"delete own": {
			user: "jane", op: admission.Delete, old: mine.Obj(),
		},
		"delete someone else's": {
			user: "jane", op: admission.Delete, old: bobs.Obj(),
			wantDenied: "you may delete only workspaces you own: bob-ml is owned by User bob",
		},
		"admin deletes anyone's": {
			user: "root", op: admission.Delete, old: bobs.Obj(),
		},
		"create with a foreign finalizer": {
			user: "jane", op: admission.Create, obj: func() *tenancyv1.Workspace {
				ws := mine.Obj()
				ws.Finalizers = []string{tenancyv1.Finalizer, "example.com/never"}
				return ws
			}(),
			wantDenied: "you may not set metadata.finalizers",
		},
		"create with Tenancy's finalizer (set at admission)": {
			user: "jane", op: admission.Create, obj: withFinalizer(mine.Obj()),
		},
		"create with an owner reference": {
			user: "jane", op: admission.Create, obj: func() *tenancyv1.Workspace {
				ws := mine.Obj()
				ws.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "1"}}
				return ws
			}(),
			wantDenied: "you may not set metadata.ownerReferences",
		},
		"create a reserved name": {
			user: "jane", op: admission.Create, obj: testutil.Workspace("knative-serving").Owner("jane").Class("standard").Obj(),
			wantDenied: "the name knative-serving is reserved for the cluster and its add-ons",
		},
		"admin creates a reserved name": {
			user: "root", op: admission.Create, obj: testutil.Workspace("monitoring").Owner("bob").Class("standard").Obj(),
		},
		"create with a forged creator": {
			user: "jane", op: admission.Create, obj: func() *tenancyv1.Workspace {
				ws := mine.Obj()
				ws.Annotations = map[string]string{tenancyv1.AnnotationCreatedBy: "bob"}
				return ws
			}(),
			wantDenied: "is set by the API server to whoever created the workspace",
		},
		"admin contributor shares": {
			user: "jane", op: admission.Update,
			old: testutil.Workspace("bob-ml").Owner("bob").Class("standard").Contributor(testutil.User("jane"), tenancyv1.RoleAdmin).Obj(),
			obj: testutil.Workspace("bob-ml").Owner("bob").Class("standard").Contributor(testutil.User("jane"), tenancyv1.RoleAdmin).Contributor(testutil.User("carl"), tenancyv1.RoleView).Obj(),
		},
		"edit contributor may not share": {
			user: "jane", op: admission.Update,
			old:        testutil.Workspace("bob-ml").Owner("bob").Class("standard").Contributor(testutil.User("jane"), tenancyv1.RoleEdit).Obj(),
			obj:        testutil.Workspace("bob-ml").Owner("bob").Class("standard").Contributor(testutil.User("jane"), tenancyv1.RoleAdmin).Obj(),
			wantDenied: "you may change only workspaces you own",
		},
		"admin contributor may not delete": {
			user: "jane", op: admission.Delete,
			old:        testutil.Workspace("bob-ml").Owner("bob").Class("standard").Contributor(testutil.User("jane"), tenancyv1.RoleAdmin).Obj(),
			wantDenied: "you may delete only workspaces you own",
		},
	}
	gvk := tenancyv1.GroupVersion.WithKind("Workspace")
	gvr := tenancyv1.GroupVersion.WithResource("workspaces")
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			wsName := ""
			for _, ws := range []*tenancyv1.Workspace{tc.obj, tc.old} {
				if ws != nil {
					wsName = ws.Name
				}
			}
			var opts runtime.Object
			switch tc.op {
			case admission.Create:
				opts = &metav1.CreateOptions{}
			case admission.Update:
				opts = &metav1.UpdateOptions{}
			case admission.Delete:
				opts = &metav1.DeleteOptions{}
			}
			obj, old := toUnstructured(t, tc.obj), toUnstructured(t, tc.old)
			u := &user.DefaultInfo{Name: tc.user, Groups: append(slices.Clone(tc.groups), user.AllAuthenticated)}
			attrs := admission.NewAttributesRecord(obj, old, gvk, "", wsName, gvr, "", tc.op, opts, false, u)
			versioned := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk, VersionedObject: obj, VersionedOldObject: old}
			res := v.Validate(context.Background(), gvr, versioned, nil, nil, celconfig.RuntimeCELCostBudget, rbac)

			var denied []string
			for _, d := range res.Decisions {
				if d.Evaluation == validating.EvalError {
					t.Fatalf("evaluation error: %s", d.Message)
				}
				if d.Action == validating.ActionDeny {
					denied = append(denied, d.Message)
				}
			}
			switch {
			case tc.wantDenied == "" && len(denied) > 0:
				t.Errorf("denied: %q", denied)
			case tc.wantDenied != "" && len(denied) == 0:
				t.Errorf("allowed; want denied with %q", tc.wantDenied)
			case tc.wantDenied != "" && !strings.Contains(denied[0], tc.wantDenied):
				// The API server shows the first denial only.
				t.Errorf("first denial %q\nwant it to contain %q", denied[0], tc.wantDenied)
			}
		})
	}
}
