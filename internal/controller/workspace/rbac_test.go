package workspace

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/testutil"
)

// binding is what a RoleBinding or ClusterRoleBinding grants.
type binding struct {
	RoleKind, Role string
	Subjects       []rbacv1.Subject
}

// rbacView is desiredRBAC's output keyed by object name, so tests read as
// "this name grants that".
type rbacView struct {
	ServiceAccounts     map[string]map[string]string // name → annotations
	Roles               map[string][]rbacv1.PolicyRule
	RoleBindings        map[string]binding
	ClusterRoles        map[string][]rbacv1.PolicyRule
	ClusterRoleBindings map[string]binding
}

// viewRBAC decodes objs, failing on a name used twice for one kind (one
// would overwrite the other when applied).
func viewRBAC(t *testing.T, objs rbacObjects) rbacView {
	t.Helper()
	v := rbacView{
		ServiceAccounts:     map[string]map[string]string{},
		Roles:               map[string][]rbacv1.PolicyRule{},
		RoleBindings:        map[string]binding{},
		ClusterRoles:        map[string][]rbacv1.PolicyRule{},
		ClusterRoleBindings: map[string]binding{},
	}
	put := func(kind string, m map[string]struct{}, name string) {
		if _, dup := m[name]; dup {
			t.Errorf("%s %q is desired twice", kind, name)
		}
		m[name] = struct{}{}
	}
	seen := map[string]map[string]struct{}{}
	for _, k := range []string{"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} {
		seen[k] = map[string]struct{}{}
	}
	for _, ac := range objs.ServiceAccounts {
		o := decode[corev1.ServiceAccount](t, ac)
		put("ServiceAccount", seen["ServiceAccount"], o.Name)
		v.ServiceAccounts[o.Name] = o.Annotations
	}
	for _, ac := range objs.Roles {
		o := decode[rbacv1.Role](t, ac)
		put("Role", seen["Role"], o.Name)
		v.Roles[o.Name] = o.Rules
	}
	for _, ac := range objs.RoleBindings {
		o := decode[rbacv1.RoleBinding](t, ac)
		put("RoleBinding", seen["RoleBinding"], o.Name)
		if o.RoleRef.APIGroup != rbacv1.GroupName {
			t.Errorf("RoleBinding %q: roleRef.apiGroup = %q, want %q", o.Name, o.RoleRef.APIGroup, rbacv1.GroupName)
		}
		v.RoleBindings[o.Name] = binding{o.RoleRef.Kind, o.RoleRef.Name, o.Subjects}
	}
	for _, ac := range objs.ClusterRoles {
		o := decode[rbacv1.ClusterRole](t, ac)
		put("ClusterRole", seen["ClusterRole"], o.Name)
		v.ClusterRoles[o.Name] = o.Rules
	}
	for _, ac := range objs.ClusterRoleBindings {
		o := decode[rbacv1.ClusterRoleBinding](t, ac)
		put("ClusterRoleBinding", seen["ClusterRoleBinding"], o.Name)
		if o.RoleRef.APIGroup != rbacv1.GroupName {
			t.Errorf("ClusterRoleBinding %q: roleRef.apiGroup = %q, want %q", o.Name, o.RoleRef.APIGroup, rbacv1.GroupName)
		}
		v.ClusterRoleBindings[o.Name] = binding{o.RoleRef.Kind, o.RoleRef.Name, o.Subjects}
	}
	return v
}

// Subjects as the RoleBindings must carry them.
var (
	alex   = rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alex"}
	bob    = rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "bob"}
	carol  = rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "carol"}
	mlTeam = rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "ml-team"}
	ciSA   = rbacv1.Subject{Kind: "ServiceAccount", Namespace: "tools", Name: "ci"}

	alexToken = rbacv1.Subject{Kind: "ServiceAccount", Namespace: "tenancy-system", Name: "user-alex"}
	bobToken  = rbacv1.Subject{Kind: "ServiceAccount", Namespace: "tenancy-system", Name: "user-bob"}
)

// defaultSAs are the ServiceAccounts of every workspace, without plugins.
func defaultSAs() map[string]map[string]string {
	return map[string]map[string]string{"default-editor": nil, "default-viewer": nil}
}

// defaultBindings are the bindings of every workspace's ServiceAccounts,
// plus extra.
func defaultBindings(ns string, extra map[string]binding) map[string]binding {
	out := map[string]binding{
		"tenancy:default-editor": {"ClusterRole", "edit", []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "default-editor"}}},
		"tenancy:default-viewer": {"ClusterRole", "view", []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "default-viewer"}}},
	}
	maps.Copy(out, extra)
	return out
}

// memberRules are the rules of the member ClusterRoles of workspace ws.
func memberRules(ws string) (reader, writer []rbacv1.PolicyRule) {
	rule := func(verbs ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{APIGroups: []string{"tenancy.dev"}, Resources: []string{"workspaces"}, ResourceNames: []string{ws}, Verbs: verbs}}
	}
	return rule("get", "list", "watch"), rule("patch", "update")
}

// withMembers adds to v the member ClusterRoles of workspace ws with their
// bindings: readers may read the Workspace object, writers change it; one
// role for both when they are the same subjects.
func withMembers(v rbacView, ws string, readers, writers []rbacv1.Subject) rbacView {
	if v.ClusterRoles == nil {
		v.ClusterRoles = map[string][]rbacv1.PolicyRule{}
	}
	if v.ClusterRoleBindings == nil {
		v.ClusterRoleBindings = map[string]binding{}
	}
	r, w := memberRules(ws)
	if len(readers) > 0 && sets.New(readers...).Equal(sets.New(writers...)) {
		// Everyone may change it: one role, one binding.
		n := "tenancy:workspace:" + ws + ":member"
		v.ClusterRoles[n] = []rbacv1.PolicyRule{{APIGroups: r[0].APIGroups, Resources: r[0].Resources, ResourceNames: r[0].ResourceNames,
			Verbs: slices.Concat(r[0].Verbs, w[0].Verbs)}}
		v.ClusterRoleBindings[n] = binding{"ClusterRole", n, readers}
		return v
	}
	if len(readers) > 0 {
		n := "tenancy:workspace:" + ws + ":member"
		v.ClusterRoles[n] = r
		v.ClusterRoleBindings[n] = binding{"ClusterRole", n, readers}
	}
	if len(writers) > 0 {
		n := "tenancy:workspace:" + ws + ":manager"
		v.ClusterRoles[n] = w
		v.ClusterRoleBindings[n] = binding{"ClusterRole", n, writers}
	}
	return v
}

func TestDesiredRBAC(t *testing.T) {
	tests := map[string]struct {
		ws      *tenancyv1.Workspace
		resolve SubjectResolver // bindAsDeclared when nil
		want    rbacView
	}{
		"no owner: only the default ServiceAccounts": {
			// Rules are the owner's: without an owner nobody gets them.
			ws: testutil.Workspace("ml").Rules(readPods).ClusterRules(readNodes).Obj(),
			want: rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings:    defaultBindings("ml", nil),
			},
		},
		"user owner is admin": {
			ws: testutil.Workspace("ml").Owner("alex").Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner": {"ClusterRole", "admin", []rbacv1.Subject{alex}},
				}),
			}, "ml", []rbacv1.Subject{alex}, []rbacv1.Subject{alex}),
		},
		"group owner": {
			ws: testutil.Workspace("ml").OwnerSubject(testutil.Group("ml-team")).Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner": {"ClusterRole", "admin", []rbacv1.Subject{mlTeam}},
				}),
			}, "ml", []rbacv1.Subject{mlTeam}, []rbacv1.Subject{mlTeam}),
		},
		"service account owner: namespace, no apiGroup": {
			ws: testutil.Workspace("ml").OwnerSubject(testutil.ServiceAccount("tools", "ci")).Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner": {"ClusterRole", "admin", []rbacv1.Subject{ciSA}},
				}),
			}, "ml", []rbacv1.Subject{ciSA}, []rbacv1.Subject{ciSA}),
		},
		"contributors: one binding each, named after role and subject": {
			ws: testutil.Workspace("ml").Owner("alex").
				Contributor(testutil.User("bob"), tenancyv1.RoleEdit).
				Contributor(testutil.Group("ml-team"), tenancyv1.RoleView).
				Contributor(testutil.ServiceAccount("tools", "ci"), tenancyv1.RoleAdmin).
				Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner":                                     {"ClusterRole", "admin", []rbacv1.Subject{alex}},
					"tenancy:contributor:edit:user:bob":                 {"ClusterRole", "edit", []rbacv1.Subject{bob}},
					"tenancy:contributor:view:group:ml-team":            {"ClusterRole", "view", []rbacv1.Subject{mlTeam}},
					"tenancy:contributor:admin:serviceaccount:tools:ci": {"ClusterRole", "admin", []rbacv1.Subject{ciSA}},
				}),
			}, "ml", []rbacv1.Subject{alex, bob, mlTeam, ciSA}, []rbacv1.Subject{alex, ciSA}),
		},
		"rules: a Role and its binding for the owner": {
			ws: testutil.Workspace("ml").Owner("alex").Rules(readPods).Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				Roles:           map[string][]rbacv1.PolicyRule{"tenancy:owner-rules": {readPods}},
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner":       {"ClusterRole", "admin", []rbacv1.Subject{alex}},
					"tenancy:owner-rules": {"Role", "tenancy:owner-rules", []rbacv1.Subject{alex}},
				}),
			}, "ml", []rbacv1.Subject{alex}, []rbacv1.Subject{alex}),
		},
		"cluster rules: a ClusterRole and ClusterRoleBinding for the owner": {
			ws: testutil.Workspace("ml").OwnerSubject(testutil.ServiceAccount("tools", "ci")).ClusterRules(readNodes).Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner": {"ClusterRole", "admin", []rbacv1.Subject{ciSA}},
				}),
				ClusterRoles: map[string][]rbacv1.PolicyRule{"tenancy:workspace:ml:owner": {readNodes}},
				ClusterRoleBindings: map[string]binding{
					"tenancy:workspace:ml:owner": {"ClusterRole", "tenancy:workspace:ml:owner", []rbacv1.Subject{ciSA}},
				},
			}, "ml", []rbacv1.Subject{ciSA}, []rbacv1.Subject{ciSA}),
		},
		"subjects resolved to none (disabled users) get no binding": {
			ws: testutil.Workspace("ml").Owner("alex").Rules(readPods).ClusterRules(readNodes).
				Contributor(testutil.User("bob"), tenancyv1.RoleEdit).
				Contributor(testutil.User("carol"), tenancyv1.RoleView).
				Obj(),
			resolve: func(s tenancyv1.Subject) []rbacv1.Subject {
				if s.Name == "alex" || s.Name == "bob" {
					return nil
				}
				return bindAsDeclared(s)
			},
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:contributor:view:user:carol": {"ClusterRole", "view", []rbacv1.Subject{carol}},
				}),
			}, "ml", []rbacv1.Subject{carol}, nil),
		},
		"a subject resolved to several (user and token ServiceAccount): all bound everywhere": {
			ws: testutil.Workspace("ml").Owner("alex").Rules(readPods).ClusterRules(readNodes).
				Contributor(testutil.User("bob"), tenancyv1.RoleView).
				Obj(),
			resolve: func(s tenancyv1.Subject) []rbacv1.Subject {
				return append(bindAsDeclared(s), rbacv1.Subject{Kind: "ServiceAccount", Namespace: "tenancy-system", Name: "user-" + s.Name})
			},
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				Roles:           map[string][]rbacv1.PolicyRule{"tenancy:owner-rules": {readPods}},
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner":                     {"ClusterRole", "admin", []rbacv1.Subject{alex, alexToken}},
					"tenancy:owner-rules":               {"Role", "tenancy:owner-rules", []rbacv1.Subject{alex, alexToken}},
					"tenancy:contributor:view:user:bob": {"ClusterRole", "view", []rbacv1.Subject{bob, bobToken}},
				}),
				ClusterRoles: map[string][]rbacv1.PolicyRule{"tenancy:workspace:ml:owner": {readNodes}},
				ClusterRoleBindings: map[string]binding{
					"tenancy:workspace:ml:owner": {"ClusterRole", "tenancy:workspace:ml:owner", []rbacv1.Subject{alex, alexToken}},
				},
			}, "ml", []rbacv1.Subject{alex, alexToken, bob, bobToken}, []rbacv1.Subject{alex, alexToken}),
		},
		"owner role workload-manager: its own binding, may not change the Workspace": {
			ws: testutil.Workspace("ml").Owner("alex").OwnerRole(tenancyv1.OwnerRoleWorkloadManager).Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: defaultSAs(),
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner:workload-manager": {"ClusterRole", "tenancy:workload-manager", []rbacv1.Subject{alex}},
				}),
			}, "ml", []rbacv1.Subject{alex}, nil),
		},
		"plugins annotate default-editor only": {
			ws: testutil.Workspace("ml").Owner("alex").
				GKEWorkloadIdentity("ml-team@project.iam.gserviceaccount.com").
				AWSIAMRole("arn:aws:iam::123456789012:role/ml-team").
				Obj(),
			want: withMembers(rbacView{
				ServiceAccounts: map[string]map[string]string{
					"default-editor": {
						"iam.gke.io/gcp-service-account": "ml-team@project.iam.gserviceaccount.com",
						"eks.amazonaws.com/role-arn":     "arn:aws:iam::123456789012:role/ml-team",
					},
					"default-viewer": nil,
				},
				RoleBindings: defaultBindings("ml", map[string]binding{
					"tenancy:owner": {"ClusterRole", "admin", []rbacv1.Subject{alex}},
				}),
			}, "ml", []rbacv1.Subject{alex}, []rbacv1.Subject{alex}),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resolve := tc.resolve
			if resolve == nil {
				resolve = bindAsDeclared
			}
			got := viewRBAC(t, desiredRBAC(effectiveSpec(tc.ws, nil), metaOf(tc.ws), resolve))
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("desiredRBAC() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDesiredRBACMetadata checks that every RBAC object carries Tenancy's
// labels (which pruning and cleanup select on), the owner reference, and
// the workspace namespace when namespaced.
func TestDesiredRBACMetadata(t *testing.T) {
	ws := testutil.Workspace("ml").Owner("alex").Rules(readPods).ClusterRules(readNodes).
		Contributor(testutil.User("bob"), tenancyv1.RoleEdit).Obj()
	objs := desiredRBAC(effectiveSpec(ws, nil), metaOf(ws), bindAsDeclared)

	var got []any
	for _, ac := range objs.ServiceAccounts {
		got = append(got, decode[corev1.ServiceAccount](t, ac).ObjectMeta)
	}
	for _, ac := range objs.Roles {
		got = append(got, decode[rbacv1.Role](t, ac).ObjectMeta)
	}
	for _, ac := range objs.RoleBindings {
		got = append(got, decode[rbacv1.RoleBinding](t, ac).ObjectMeta)
	}
	for _, ac := range objs.ClusterRoles {
		got = append(got, decode[rbacv1.ClusterRole](t, ac).ObjectMeta)
	}
	for _, ac := range objs.ClusterRoleBindings {
		got = append(got, decode[rbacv1.ClusterRoleBinding](t, ac).ObjectMeta)
	}
	want := []any{
		wantMeta("ml", "ml", "default-editor"),
		wantMeta("ml", "ml", "default-viewer"),
		wantMeta("ml", "ml", "tenancy:owner-rules"),
		wantMeta("ml", "ml", "tenancy:default-editor"),
		wantMeta("ml", "ml", "tenancy:default-viewer"),
		wantMeta("ml", "ml", "tenancy:owner"),
		wantMeta("ml", "ml", "tenancy:owner-rules"),
		wantMeta("ml", "ml", "tenancy:contributor:edit:user:bob"),
		wantMeta("ml", "", "tenancy:workspace:ml:owner"),
		wantMeta("ml", "", "tenancy:workspace:ml:member"),
		wantMeta("ml", "", "tenancy:workspace:ml:manager"),
		wantMeta("ml", "", "tenancy:workspace:ml:owner"),
		wantMeta("ml", "", "tenancy:workspace:ml:member"),
		wantMeta("ml", "", "tenancy:workspace:ml:manager"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RBAC object metadata mismatch (-want +got):\n%s", diff)
	}
}

func TestPluginAnnotations(t *testing.T) {
	tests := map[string]struct {
		plugins *tenancyv1.Plugins
		want    map[string]string
	}{
		"no plugins":    {plugins: nil, want: nil},
		"empty plugins": {plugins: &tenancyv1.Plugins{}, want: map[string]string{}},
		"GKE": {
			plugins: &tenancyv1.Plugins{GKEWorkloadIdentity: &tenancyv1.GKEWorkloadIdentity{GCPServiceAccount: "sa@p.iam.gserviceaccount.com"}},
			want:    map[string]string{"iam.gke.io/gcp-service-account": "sa@p.iam.gserviceaccount.com"},
		},
		"AWS": {
			plugins: &tenancyv1.Plugins{AWSIAMRole: &tenancyv1.AWSIAMRole{RoleARN: "arn:aws:iam::123456789012:role/x"}},
			want:    map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, pluginAnnotations(tc.plugins)); diff != "" {
				t.Errorf("pluginAnnotations() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContributorBindingName(t *testing.T) {
	longName := strings.Repeat("a", 250)
	tests := map[string]struct {
		c    tenancyv1.Contributor
		want string
	}{
		"user": {
			c:    tenancyv1.Contributor{Subject: testutil.User("bob@example.com"), Role: tenancyv1.RoleEdit},
			want: "tenancy:contributor:edit:user:bob@example.com",
		},
		"group": {
			c:    tenancyv1.Contributor{Subject: testutil.Group("ml-team"), Role: tenancyv1.RoleView},
			want: "tenancy:contributor:view:group:ml-team",
		},
		"service account carries its namespace": {
			c:    tenancyv1.Contributor{Subject: testutil.ServiceAccount("tools", "ci"), Role: tenancyv1.RoleAdmin},
			want: "tenancy:contributor:admin:serviceaccount:tools:ci",
		},
		"long name is hashed": {
			c:    tenancyv1.Contributor{Subject: testutil.User(longName), Role: tenancyv1.RoleView},
			want: rbacName("tenancy", "contributor", "view", "user", longName),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := contributorBindingName(tc.c); got != tc.want {
				t.Errorf("contributorBindingName() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRBACName(t *testing.T) {
	tests := map[string]struct {
		parts []string
		want  string
	}{
		"short: joined with colons": {
			parts: []string{"tenancy", "owner"},
			want:  "tenancy:owner",
		},
		"exactly 200: unchanged": {
			parts: []string{"tenancy", strings.Repeat("y", 192)},
			want:  "tenancy:" + strings.Repeat("y", 192),
		},
		"longer than 200: first 180 bytes, a dash, 16 hex digits of sha256": {
			parts: []string{"tenancy", strings.Repeat("x", 250)},
			// sha256("tenancy:" + 250×"x") begins 2a80a44a56c04ee1.
			want: "tenancy:" + strings.Repeat("x", 172) + "-2a80a44a56c04ee1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := rbacName(tc.parts...); got != tc.want {
				t.Errorf("rbacName() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRBACNameUTF8 checks that a long name is never cut inside a
// multi-byte character (it would not survive JSON as the same string).
func TestRBACNameUTF8(t *testing.T) {
	got := rbacName("tenancy", "contributor", "view", "user", "a"+strings.Repeat("é", 100))
	if !utf8.ValidString(got) {
		t.Errorf("rbacName() = %q is not valid UTF-8", got)
	}
	if len(got) > 200 {
		t.Errorf("rbacName() is %d bytes, want at most 200", len(got))
	}
}

// TestRBACNameLong checks what callers rely on for long names: the result
// is stable, short enough for an object name, and distinct for names that
// differ only past the cut.
func TestRBACNameLong(t *testing.T) {
	prefix := strings.Repeat("p", 190)
	a := rbacName("tenancy", "contributor", "view", "user", prefix+"alice")
	b := rbacName("tenancy", "contributor", "view", "user", prefix+"bob")

	if again := rbacName("tenancy", "contributor", "view", "user", prefix+"alice"); again != a {
		t.Errorf("rbacName() not stable: %q then %q", a, again)
	}
	if a == b {
		t.Errorf("rbacName() gave %q for two different names", a)
	}
	for _, n := range []string{a, b} {
		if len(n) > 200 {
			t.Errorf("rbacName() = %q, %d bytes, want at most 200", n, len(n))
		}
	}
}
