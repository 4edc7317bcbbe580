package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/controller/workspace"
)

func newWorkspaceCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "workspace",
		Aliases: []string{"workspaces", "ws"},
		Short:   "Create, list, share and delete workspaces",
		Long: `Create, list, share and delete workspaces: each is a namespace with its quota,
RBAC and sharing, made by the Tenancy controller from a Workspace object.

Anyone a Tenancy admin granted 'tenancy grant create-workspaces' may create
workspaces they own, of the classes they were granted, and share or delete
them; the admin's fields (quota, limit range, rules, node pool, …) come from
the class. Admins may do anything, for anyone.`,
	}
	cmd.AddCommand(
		newWorkspaceCreateCommand(streams),
		newWorkspaceListCommand(streams),
		newWorkspaceGetCommand(streams),
		newWorkspaceShareCommand(streams),
		newWorkspaceUnshareCommand(streams),
		newWorkspaceDeleteCommand(streams),
	)
	return cmd
}

// kubeFlagsNoUser are kubectl's connection flags less --user (the
// kubeconfig user): the commands that take a subject use --user for it, as
// `kubectl create rolebinding --user` does. --context still selects a
// kubeconfig context.
func kubeFlagsNoUser(cmd *cobra.Command) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	f.AuthInfoName = nil
	f.AddFlags(cmd.Flags())
	return f
}

// newClient connects as kubectl would with the same flags.
func newClient(kube *genericclioptions.ConfigFlags) (client.Client, error) {
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return client.New(cfg, client.Options{Scheme: controller.Scheme()})
}

// whoAmI asks the API server who the client is (a SelfSubjectReview, which
// every authenticated user may create).
func whoAmI(ctx context.Context, c client.Client) (authenticationv1.UserInfo, error) {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("find out who you are (SelfSubjectReview): %w", err)
	}
	return r.Status.UserInfo, nil
}

// validateWorkspaceName checks a name before the API server does, to say
// the same thing earlier and without the API's phrasing.
func validateWorkspaceName(name string) error {
	if name == "" {
		return errors.New("a workspace name is required")
	}
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		return fmt.Errorf("workspace name %q is not valid: it becomes a namespace name, so at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// validateSubjectName applies the rules of a Tenancy Subject name.
func validateSubjectName(flag, name string) error {
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

// parseSubject reads "name" (a user), "user:name", "group:name" or
// "serviceaccount:namespace/name" (also "sa:namespace/name").
func parseSubject(flag, s string) (tenancyv1.Subject, error) {
	kind, name, found := strings.Cut(s, ":")
	if !found {
		kind, name = "user", s
	}
	k, ok := subjectKinds[strings.ToLower(kind)]
	if !ok {
		return tenancyv1.Subject{}, fmt.Errorf("%s %q: kind %q is not one of user, group, serviceaccount", flag, s, kind)
	}
	return newSubject(flag, k, name)
}

// newSubject checks name for kind; a ServiceAccount is "namespace/name".
func newSubject(flag string, kind tenancyv1.SubjectKind, name string) (tenancyv1.Subject, error) {
	if kind != tenancyv1.ServiceAccountKind {
		if err := validateSubjectName(flag, name); err != nil {
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

// subjectFromFlags takes the one subject given by --user, --group or
// --serviceaccount.
func subjectFromFlags(user, group, sa string) (tenancyv1.Subject, error) {
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
		return newSubject("--user", tenancyv1.UserKind, user)
	case group != "":
		return newSubject("--group", tenancyv1.GroupKind, group)
	}
	return newSubject("--serviceaccount", tenancyv1.ServiceAccountKind, sa)
}

// parseContributor reads "kind:name=role", e.g. user:bob=view; the kind
// defaults to user.
func parseContributor(s string) (tenancyv1.Contributor, error) {
	who, role, ok := strings.Cut(s, "=")
	if !ok {
		return tenancyv1.Contributor{}, fmt.Errorf("--contributor %q: want kind:name=role, e.g. user:bob=edit, group:ml-team=view or serviceaccount:ml/pipeline=edit", s)
	}
	subject, err := parseSubject("--contributor", who)
	if err != nil {
		return tenancyv1.Contributor{}, err
	}
	r, err := parseRole("--contributor "+quote(s)+":", role)
	if err != nil {
		return tenancyv1.Contributor{}, err
	}
	return tenancyv1.Contributor{Subject: subject, Role: r}, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// parseRole reads admin, edit or view.
func parseRole(what, role string) (tenancyv1.ContributorRole, error) {
	switch r := tenancyv1.ContributorRole(strings.ToLower(role)); r {
	case tenancyv1.RoleAdmin, tenancyv1.RoleEdit, tenancyv1.RoleView:
		return r, nil
	}
	if role == "" {
		return "", fmt.Errorf("%s a role is required: admin, edit or view", what)
	}
	return "", fmt.Errorf("%s role %q is not one of admin, edit, view", what, role)
}

// sameSubject compares subjects as RBAC does (kind, name, and namespace
// for a ServiceAccount).
func sameSubject(a, b tenancyv1.Subject) bool {
	return a.Kind == b.Kind && a.Name == b.Name && (a.Kind != tenancyv1.ServiceAccountKind || a.Namespace == b.Namespace)
}

// describeSubject is "User bob", "Group ml" or "ServiceAccount ml/pipeline".
func describeSubject(s tenancyv1.Subject) string {
	if s.Kind == tenancyv1.ServiceAccountKind {
		return fmt.Sprintf("ServiceAccount %s/%s", s.Namespace, s.Name)
	}
	return string(s.Kind) + " " + s.Name
}

// shortSubject is "bob" for a user, else "Group/ml" or
// "ServiceAccount/ml/pipeline", for tables.
func shortSubject(s *tenancyv1.Subject) string {
	switch {
	case s == nil:
		return "<none>"
	case s.Kind == tenancyv1.UserKind:
		return s.Name
	}
	return s.String()
}

// classList reads the WorkspaceClasses, sorted by name.
func classList(ctx context.Context, c client.Client) ([]tenancyv1.WorkspaceClass, error) {
	list := &tenancyv1.WorkspaceClassList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	slices.SortFunc(list.Items, func(a, b tenancyv1.WorkspaceClass) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

func classNames(classes []tenancyv1.WorkspaceClass) string {
	if len(classes) == 0 {
		return "none exist"
	}
	names := make([]string, 0, len(classes))
	for _, c := range classes {
		name := c.Name
		if c.Annotations[tenancyv1.AnnotationIsDefaultClass] == "true" {
			name += " (default)"
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

// checkClasses says which of names do not exist, and which do.
func checkClasses(classes []tenancyv1.WorkspaceClass, names ...string) error {
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
		return fmt.Errorf("WorkspaceClass %s does not exist; classes: %s", missing[0], classNames(classes))
	}
	return fmt.Errorf("WorkspaceClasses %s do not exist; classes: %s", strings.Join(missing, ", "), classNames(classes))
}

// defaultClass is the class the controller would apply to a workspace that
// names none, or "" when no class is marked default.
func defaultClass(classes []tenancyv1.WorkspaceClass) string {
	if c := workspace.DefaultClass(classes); c != nil {
		return c.Name
	}
	return ""
}

// explain returns an API error as the server worded it, adding what to do
// where the server cannot know it.
func explain(ctx context.Context, c client.Client, err error) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return err
	}
	msg := status.Status().Message
	if apierrors.IsForbidden(err) && !strings.Contains(msg, "ValidatingAdmissionPolicy") &&
		strings.Contains(msg, "cannot ") && strings.Contains(msg, `resource "workspaces"`) {
		who := "YOUR-NAME"
		if u, werr := whoAmI(ctx, c); werr == nil && u.Username != "" {
			who = u.Username
		}
		return fmt.Errorf("%s\nTo create and manage your own workspaces, ask a Tenancy admin to run: tenancy grant create-workspaces --user %s", msg, who)
	}
	return errors.New(msg)
}
