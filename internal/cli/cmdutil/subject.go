package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// ValidateWorkspaceName checks a name before the API server does, to say
// the same thing earlier and without the API's phrasing.
func ValidateWorkspaceName(name string) error {
	if name == "" {
		return errors.New("a workspace name is required")
	}
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		return fmt.Errorf("workspace name %q is not valid: it becomes a namespace name, so at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// ValidateSubjectName applies the rules of a Tenancy Subject name.
func ValidateSubjectName(flag, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s: the name is empty", flag)
	case strings.ContainsAny(name, "/%:"):
		return fmt.Errorf("%s %q: a name may not contain '/', '%%' or ':'", flag, name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%s %q: a name may not begin or end with spaces", flag, name)
	}
	return nil
}

// subjectKinds maps what may be typed to a subject kind.
var subjectKinds = map[string]tenancyv1.SubjectKind{
	"user": tenancyv1.UserKind, "group": tenancyv1.GroupKind,
	"serviceaccount": tenancyv1.ServiceAccountKind, "sa": tenancyv1.ServiceAccountKind,
}

// ParseSubject reads "name" (a user), "user:name", "group:name" or
// "serviceaccount:namespace/name" (also "sa:namespace/name").
func ParseSubject(flag, s string) (tenancyv1.Subject, error) {
	kind, name, found := strings.Cut(s, ":")
	if !found {
		kind, name = "user", s
	}
	k, ok := subjectKinds[strings.ToLower(kind)]
	if !ok {
		return tenancyv1.Subject{}, fmt.Errorf("%s %q: kind %q is not one of user, group, serviceaccount", flag, s, kind)
	}
	return NewSubject(flag, k, name)
}

// NewSubject checks name for kind; a ServiceAccount is "namespace/name".
func NewSubject(flag string, kind tenancyv1.SubjectKind, name string) (tenancyv1.Subject, error) {
	if kind != tenancyv1.ServiceAccountKind {
		if err := ValidateSubjectName(flag, name); err != nil {
			return tenancyv1.Subject{}, err
		}
		return tenancyv1.Subject{Kind: kind, Name: name}, nil
	}
	ns, n, ok := strings.Cut(name, "/")
	if !ok || ns == "" || n == "" {
		return tenancyv1.Subject{}, fmt.Errorf("%s %q: a ServiceAccount is namespace/name, e.g. ml-team/pipeline", flag, name)
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return tenancyv1.Subject{}, fmt.Errorf("%s %q: namespace %q is not a valid namespace name", flag, name, ns)
	}
	if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
		return tenancyv1.Subject{}, fmt.Errorf("%s %q: %q is not a valid ServiceAccount name", flag, name, n)
	}
	return tenancyv1.Subject{Kind: kind, Namespace: ns, Name: n}, nil
}

// SubjectFromFlags takes the one subject given by --user, --group or
// --serviceaccount.
func SubjectFromFlags(user, group, sa string) (tenancyv1.Subject, error) {
	given := 0
	for _, v := range []string{user, group, sa} {
		if v != "" {
			given++
		}
	}
	switch {
	case given == 0:
		return tenancyv1.Subject{}, errors.New("name whom: --user NAME, --group NAME or --serviceaccount NAMESPACE/NAME")
	case given > 1:
		return tenancyv1.Subject{}, errors.New("--user, --group and --serviceaccount name one subject: give only one of them")
	case user != "":
		return NewSubject("--user", tenancyv1.UserKind, user)
	case group != "":
		return NewSubject("--group", tenancyv1.GroupKind, group)
	}
	return NewSubject("--serviceaccount", tenancyv1.ServiceAccountKind, sa)
}

// ParseContributor reads "kind:name=role", e.g. user:bob=view; the kind
// defaults to user.
func ParseContributor(s string) (tenancyv1.Contributor, error) {
	who, role, ok := strings.Cut(s, "=")
	if !ok {
		return tenancyv1.Contributor{}, fmt.Errorf("--contributor %q: want kind:name=role, e.g. user:bob=edit, group:ml-team=view or serviceaccount:ml/pipeline=edit", s)
	}
	subject, err := ParseSubject("--contributor", who)
	if err != nil {
		return tenancyv1.Contributor{}, err
	}
	r, err := ParseRole("--contributor "+quote(s)+":", role)
	if err != nil {
		return tenancyv1.Contributor{}, err
	}
	return tenancyv1.Contributor{Subject: subject, Role: r}, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// ParseRole reads admin, edit or view.
func ParseRole(what, role string) (tenancyv1.ContributorRole, error) {
	switch r := tenancyv1.ContributorRole(strings.ToLower(role)); r {
	case tenancyv1.RoleAdmin, tenancyv1.RoleEdit, tenancyv1.RoleView:
		return r, nil
	}
	if role == "" {
		return "", fmt.Errorf("%s a role is required: admin, edit or view", what)
	}
	return "", fmt.Errorf("%s role %q is not one of admin, edit, view", what, role)
}

// DescribeSubject is "User bob", "Group ml" or "ServiceAccount ml/pipeline".
func DescribeSubject(s tenancyv1.Subject) string {
	if s.Kind == tenancyv1.ServiceAccountKind {
		return fmt.Sprintf("ServiceAccount %s/%s", s.Namespace, s.Name)
	}
	return string(s.Kind) + " " + s.Name
}

// ShortSubject is "bob" for a user, else "Group/ml" or
// "ServiceAccount/ml/pipeline", for tables.
func ShortSubject(s *tenancyv1.Subject) string {
	switch {
	case s == nil:
		return "<none>"
	case s.Kind == tenancyv1.UserKind:
		return s.Name
	}
	return s.String()
}

// ClassList reads the WorkspaceClasses, sorted by name.
func ClassList(ctx context.Context, c client.Client) ([]tenancyv1.WorkspaceClass, error) {
	list := &tenancyv1.WorkspaceClassList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	slices.SortFunc(list.Items, func(a, b tenancyv1.WorkspaceClass) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

// ClassNames lists the classes for a message, the default one marked.
func ClassNames(classes []tenancyv1.WorkspaceClass) string {
	if len(classes) == 0 {
		return "none exist"
	}
	names := make([]string, 0, len(classes))
	for _, c := range classes {
		name := c.Name
		if c.IsDefault() {
			name += " (default)"
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

// CheckClasses says which of names do not exist, and which do.
func CheckClasses(classes []tenancyv1.WorkspaceClass, names ...string) error {
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(classes, func(c tenancyv1.WorkspaceClass) bool { return c.Name == n }) {
			missing = append(missing, quote(n))
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("WorkspaceClass %s does not exist; classes: %s", missing[0], ClassNames(classes))
	}
	return fmt.Errorf("WorkspaceClasses %s do not exist; classes: %s", strings.Join(missing, ", "), ClassNames(classes))
}

// DefaultClassName is the class the controller would apply to a workspace
// that names none, or "" when no class is marked default.
func DefaultClassName(classes []tenancyv1.WorkspaceClass) string {
	if c := tenancyv1.DefaultClass(classes); c != nil {
		return c.Name
	}
	return ""
}

// OrNone is s, or <none> when it is empty.
func OrNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// Age is how long ago t was, as kubectl prints it.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}
