// Package userconfig reads the user file of `tenancy user add --config`:
// the file of the Arena multi-user guide (keys quota, roles and
// clusterRoles) accepted unchanged, plus Tenancy's own keys (class, ownerRole, groups,
// contributors, limitRange). Decoding is strict: an unknown key or a value
// of the wrong kind is an error naming the field.
package userconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Config is one user's file.
type Config struct {
	// Quota is the workspace's ResourceQuota hard limits (Arena "quota").
	Quota corev1.ResourceList
	// Roles are extra namespace-scoped rules for the owner (Arena "roles").
	Roles []rbacv1.PolicyRule
	// ClusterRoles are extra cluster-scoped rules (Arena "clusterRoles").
	ClusterRoles []rbacv1.PolicyRule
	// Class is the WorkspaceClass of the workspace.
	Class string
	// Groups the user belongs to.
	Groups []string
	// Contributors the workspace is shared with.
	Contributors []tenancyv1.Contributor
	// LimitRange is the per-container defaults and bounds.
	LimitRange *tenancyv1.LimitRangeSpec
	// OwnerRole is what the user may do in the workspace: admin (the
	// default), edit, workload-manager or another ClusterRole's name.
	OwnerRole tenancyv1.OwnerRole
}

// Keys are the top-level keys a user file may have.
var Keys = []string{"quota", "roles", "clusterRoles", "class", "ownerRole", "groups", "contributors", "limitRange"}

// Load reads and parses the file at path; errors name the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read user config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a user file.
func Parse(data []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	c := &Config{}
	if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
		return c, nil // an empty file is the defaults, as in Arena
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, errors.New("the file must be a YAML map with keys " + quoteList(Keys))
	}
	for _, k := range sortedKeys(top) {
		if !slices.Contains(Keys, k) {
			return nil, fmt.Errorf("unknown key %q (known keys: %s)", k, quoteList(Keys))
		}
	}
	if raw, ok := top["quota"]; ok {
		if c.Quota, err = resourceList("quota", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["roles"]; ok {
		if c.Roles, err = rules("roles", raw, false); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["clusterRoles"]; ok {
		if c.ClusterRoles, err = rules("clusterRoles", raw, true); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["class"]; ok {
		if err := strictDecode("class", raw, &c.Class); err != nil {
			return nil, err
		}
		if errs := validation.IsDNS1123Subdomain(c.Class); c.Class != "" && len(errs) > 0 {
			return nil, fmt.Errorf("class %q is not a valid WorkspaceClass name: %s", c.Class, strings.Join(errs, "; "))
		}
	}
	if raw, ok := top["ownerRole"]; ok {
		if err := strictDecode("ownerRole", raw, &c.OwnerRole); err != nil {
			return nil, err
		}
		if r := string(c.OwnerRole); r == "" || strings.ContainsAny(r, "/%") || strings.TrimSpace(r) != r {
			return nil, fmt.Errorf("ownerRole %q is not a ClusterRole name: use admin, edit, workload-manager or the name of a ClusterRole", r)
		}
	}
	if raw, ok := top["groups"]; ok {
		if err := strictDecode("groups", raw, &c.Groups); err != nil {
			return nil, err
		}
		for i, g := range c.Groups {
			if err := ValidateGroup(g); err != nil {
				return nil, fmt.Errorf("groups[%d]: %w", i, err)
			}
		}
	}
	if raw, ok := top["contributors"]; ok {
		if c.Contributors, err = contributors(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["limitRange"]; ok {
		if c.LimitRange, err = limitRange(raw); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ValidateGroup checks a group name as the User API admits it.
func ValidateGroup(g string) error {
	switch {
	case g == "":
		return errors.New("a group may not be empty")
	case strings.HasPrefix(g, "system:"):
		return fmt.Errorf("group %q: groups starting with \"system:\" are Kubernetes' own", g)
	case strings.ContainsAny(g, "/%"):
		return fmt.Errorf("group %q may not contain '/' or '%%'", g)
	case strings.TrimSpace(g) != g:
		return fmt.Errorf("group %q may not begin or end with spaces", g)
	}
	return nil
}

// resourceList decodes a map of resource name to quantity. Quantities may
// be YAML strings ("10Gi") or numbers (5), as in Arena's files.
func resourceList(field string, raw json.RawMessage) (corev1.ResourceList, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		if string(bytes.TrimSpace(raw)) == "null" {
			return nil, nil
		}
		return nil, fmt.Errorf("%s must be a map of resource name to quantity, e.g. requests.cpu: \"10\"", field)
	}
	out := corev1.ResourceList{}
	for _, name := range sortedKeys(m) {
		v := bytes.TrimSpace(m[name])
		var text string
		if len(v) > 0 && v[0] == '"' {
			if err := json.Unmarshal(v, &text); err != nil {
				return nil, fmt.Errorf("%s %q: %w", field, name, err)
			}
		} else {
			text = string(v)
		}
		if errs := validation.IsQualifiedName(name); len(errs) > 0 {
			return nil, fmt.Errorf("%s %q is not a resource name (e.g. requests.cpu or requests.nvidia.com/gpu): %s", field, name, strings.Join(errs, "; "))
		}
		q, err := resource.ParseQuantity(text)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %q is not a quantity (e.g. \"10\" or \"500m\")", field, name, text)
		}
		if q.Sign() < 0 {
			return nil, fmt.Errorf("%s %q: %q is negative", field, name, text)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

// rules decodes a list of rbac/v1 PolicyRules and checks what the API
// server would refuse later, when the workspace is applied.
func rules(field string, raw json.RawMessage, clusterScoped bool) ([]rbacv1.PolicyRule, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%s must be a list of rules, each with apiGroups, resources and verbs", field)
	}
	out := make([]rbacv1.PolicyRule, 0, len(items))
	for i, it := range items {
		at := fmt.Sprintf("%s[%d]", field, i)
		var r rbacv1.PolicyRule
		if err := strictDecode(at, it, &r); err != nil {
			return nil, err
		}
		switch {
		case len(r.Verbs) == 0:
			return nil, fmt.Errorf("%s: verbs is required, e.g. [get, list]", at)
		case len(r.NonResourceURLs) > 0 && !clusterScoped:
			return nil, fmt.Errorf("%s: nonResourceURLs are cluster-scoped: move the rule to clusterRoles", at)
		case len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.APIGroups) > 0):
			return nil, fmt.Errorf("%s: a rule has either nonResourceURLs or apiGroups and resources, not both", at)
		case len(r.NonResourceURLs) == 0 && len(r.Resources) == 0:
			return nil, fmt.Errorf("%s: resources is required, e.g. [jobs]", at)
		case len(r.NonResourceURLs) == 0 && len(r.APIGroups) == 0:
			return nil, fmt.Errorf("%s: apiGroups is required (\"\" is the core group), e.g. [batch]", at)
		}
		out = append(out, r)
	}
	return out, nil
}

func contributors(raw json.RawMessage) ([]tenancyv1.Contributor, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("contributors must be a list, e.g. [{kind: User, name: bob, role: view}]")
	}
	out := make([]tenancyv1.Contributor, 0, len(items))
	for i, it := range items {
		at := fmt.Sprintf("contributors[%d]", i)
		var c tenancyv1.Contributor
		if err := strictDecode(at, it, &c); err != nil {
			return nil, err
		}
		if c.Kind == "" {
			c.Kind = tenancyv1.UserKind
		}
		if err := ValidateContributor(c); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		for _, d := range out {
			if d.Kind == c.Kind && d.Name == c.Name && d.Namespace == c.Namespace {
				return nil, fmt.Errorf("%s: %s %q is listed twice", at, c.Kind, c.Name)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// ValidateContributor checks one contributor as the Workspace API admits it.
func ValidateContributor(c tenancyv1.Contributor) error {
	switch c.Kind {
	case tenancyv1.UserKind, tenancyv1.GroupKind, tenancyv1.ServiceAccountKind:
	default:
		return fmt.Errorf("kind %q is not User, Group or ServiceAccount", c.Kind)
	}
	switch c.Role {
	case tenancyv1.RoleAdmin, tenancyv1.RoleEdit, tenancyv1.RoleView:
	case "":
		return errors.New("role is required: admin, edit or view")
	default:
		return fmt.Errorf("role %q is not admin, edit or view", c.Role)
	}
	switch {
	case c.Name == "":
		return errors.New("name is required")
	case strings.ContainsAny(c.Name, "/%:") || strings.TrimSpace(c.Name) != c.Name:
		return fmt.Errorf("name %q may not contain '/', '%%' or ':', nor begin or end with spaces", c.Name)
	case c.Kind == tenancyv1.ServiceAccountKind && c.Namespace == "":
		return fmt.Errorf("ServiceAccount %q needs a namespace", c.Name)
	case c.Kind != tenancyv1.ServiceAccountKind && c.Namespace != "":
		return fmt.Errorf("namespace is only for ServiceAccounts, not %s %q", c.Kind, c.Name)
	}
	return nil
}

func limitRange(raw json.RawMessage) (*tenancyv1.LimitRangeSpec, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("limitRange must be a map with keys default, defaultRequest and max")
	}
	out := &tenancyv1.LimitRangeSpec{}
	for _, k := range sortedKeys(m) {
		var err error
		switch k {
		case "default":
			out.Default, err = resourceList("limitRange.default", m[k])
		case "defaultRequest":
			out.DefaultRequest, err = resourceList("limitRange.defaultRequest", m[k])
		case "max":
			out.Max, err = resourceList("limitRange.max", m[k])
		default:
			err = fmt.Errorf("limitRange: unknown key %q (known keys: \"default\", \"defaultRequest\", \"max\")", k)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// strictDecode decodes raw into v, refusing unknown fields, with errors
// that name the field at.
func strictDecode(at string, raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			where := at
			if typeErr.Field != "" {
				where += "." + typeErr.Field
			}
			return fmt.Errorf("%s: a %s is not valid here (want %s)", where, typeErr.Value, describeType(typeErr.Type.String()))
		}
		if after, ok := strings.CutPrefix(msg, "unknown field "); ok {
			return fmt.Errorf("%s: unknown key %s", at, after)
		}
		return fmt.Errorf("%s: %s", at, msg)
	}
	return nil
}

func describeType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case t == "string", strings.HasSuffix(t, "Kind"), strings.HasSuffix(t, "Role"):
		return "a string"
	case strings.HasPrefix(t, "map["):
		return "a map"
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
