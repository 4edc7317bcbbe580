package userconfig

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// The files of the Arena multi-user guide, unchanged.
const (
	bobYAML = `quota:
  limits.cpu: "10"
  requests.cpu: "5"
  requests.memory: "10Gi"
  limits.memory: "20Gi"

clusterRoles:
  - apiGroups:
    - batch
    resources:
    - jobs
    verbs:
    - list
`
	tomYAML = `quota:
  requests.nvidia.com/gpu: 5

roles:
  - apiGroups:
    - batch
    resources:
    - jobs
    verbs:
    - list
`
)

var listJobs = []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list"}}}

func TestParse(t *testing.T) {
	tests := map[string]struct {
		in   string
		want *Config
	}{
		"empty file is the defaults": {in: "", want: &Config{}},
		"the Plexus user": {
			in: "class: plexus\nownerRole: workload-manager\nclusterRoles:\n  - apiGroups: [\"\"]\n    resources: [\"nodes\", \"namespaces\"]\n    verbs: [\"get\", \"list\", \"watch\"]\n",
			want: &Config{Class: "plexus", OwnerRole: tenancyv1.OwnerRoleWorkloadManager, ClusterRoles: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes", "namespaces"}, Verbs: []string{"get", "list", "watch"}},
			}},
		},
		"arena bob": {in: bobYAML, want: &Config{
			Quota: corev1.ResourceList{
				"limits.cpu": resource.MustParse("10"), "requests.cpu": resource.MustParse("5"),
				"requests.memory": resource.MustParse("10Gi"), "limits.memory": resource.MustParse("20Gi"),
			},
			ClusterRoles: listJobs,
		}},
		"arena tom: a number as quantity": {in: tomYAML, want: &Config{
			Quota: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("5")},
			Roles: listJobs,
		}},
		"tenancy keys": {
			in: `class: gpu
groups: [ml-team]
contributors:
- name: alex
  role: view
- kind: Group
  name: ops
  role: edit
limitRange:
  defaultRequest: {cpu: 250m}
  max: {nvidia.com/gpu: 2}
`,
			want: &Config{
				Class:  "gpu",
				Groups: []string{"ml-team"},
				Contributors: []tenancyv1.Contributor{
					{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "alex"}, Role: tenancyv1.RoleView},
					{Subject: tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: "ops"}, Role: tenancyv1.RoleEdit},
				},
				LimitRange: &tenancyv1.LimitRangeSpec{
					DefaultRequest: corev1.ResourceList{"cpu": resource.MustParse("250m")},
					Max:            corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")},
				},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"unknown key":         {"quotas:\n  requests.cpu: 1\n", `unknown key "quotas" (known keys: "quota", "roles", "clusterRoles", "class", "ownerRole", "groups", "contributors", "limitRange")`},
		"bad quantity":        {"quota:\n  requests.cpu: ten\n", `quota "requests.cpu": "ten" is not a quantity (e.g. "10" or "500m")`},
		"negative quantity":   {"quota:\n  requests.cpu: -1\n", `quota "requests.cpu": "-1" is negative`},
		"bad resource name":   {"quota:\n  requests cpu: 1\n", `quota "requests cpu" is not a resource name`},
		"quota not a map":     {"quota: 5\n", `quota must be a map of resource name to quantity`},
		"unknown rule key":    {"roles:\n- apiGroup: [batch]\n  resources: [jobs]\n  verbs: [list]\n", `roles[0]: unknown key "apiGroup"`},
		"rule without verbs":  {"clusterRoles:\n- apiGroups: [batch]\n  resources: [jobs]\n", `clusterRoles[0]: verbs is required`},
		"rule without groups": {"roles:\n- resources: [jobs]\n  verbs: [list]\n", `roles[0]: apiGroups is required`},
		"url in a role":       {"roles:\n- nonResourceURLs: [/metrics]\n  verbs: [get]\n", `roles[0]: nonResourceURLs are cluster-scoped`},
		"verbs not a list":    {"roles:\n- apiGroups: [batch]\n  resources: [jobs]\n  verbs: list\n", `roles[0].verbs: a string is not valid here (want a list)`},
		"system group":        {"groups: [system:masters]\n", `groups[0]: group "system:masters": groups starting with "system:" are Kubernetes' own`},
		"bad role":            {"contributors:\n- name: bob\n  role: owner\n", `contributors[0]: role "owner" is not admin, edit or view`},
		"duplicate":           {"contributors:\n- {name: bob, role: view}\n- {name: bob, role: edit}\n", `contributors[1]: User "bob" is listed twice`},
		"sa without ns":       {"contributors:\n- {kind: ServiceAccount, name: ci, role: edit}\n", `contributors[0]: ServiceAccount "ci" needs a namespace`},
		"limitRange key":      {"limitRange:\n  min: {cpu: 1}\n", `limitRange: unknown key "min"`},
		"limitRange quantity": {"limitRange:\n  max: {cpu: lots}\n", `limitRange.max "cpu": "lots" is not a quantity`},
		"class name":          {"class: GPU_Pool\n", `class "GPU_Pool" is not a valid WorkspaceClass name`},
		"owner role":          {"ownerRole: a/b\n", `ownerRole "a/b" is not a ClusterRole name`},
		"owner role list":     {"ownerRole: [edit]\n", `ownerRole`},
		"not a map":           {"- a\n- b\n", `the file must be a YAML map`},
		"not yaml":            {"quota: [\n", `not valid YAML`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
