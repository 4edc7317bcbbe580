package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller/workspace"
	"github.com/tenancy-dev/tenancy/internal/install"
)

// Grants are ClusterRoleBindings (and a ClusterRole for the classes)
// labelled so that `grant list` and `revoke` find them.
const (
	labelGrant            = tenancyv1.LabelGrant
	grantCreateWorkspaces = "create-workspaces"
	grantFieldManager     = "tenancy-grant"
)

func newGrantCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grant",
		Short: "Grant users rights such as creating their own workspaces",
	}
	cmd.AddCommand(
		newGrantCreateWorkspacesCommand(streams),
		newGrantListCommand(streams),
		newRevokeCommand(streams),
	)
	return cmd
}

// newRevokeCommand is `tenancy grant revoke …`; it can also be added to the
// root command as `tenancy revoke …`.
func newRevokeCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Take back rights given with 'tenancy grant'",
	}
	cmd.AddCommand(newRevokeCreateWorkspacesCommand(streams))
	return cmd
}

// GrantOptions are the flags of `tenancy grant create-workspaces` and
// `tenancy grant revoke create-workspaces`.
type GrantOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	revoke  bool

	User       string
	Group      string
	Classes    []string
	AllClasses bool

	subject tenancyv1.Subject
}

func newGrantCreateWorkspacesCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &GrantOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "create-workspaces (--user USER | --group GROUP) [--class CLASS ... | --all-classes]",
		Short: "Let a user or group create their own workspaces, of the classes named",
		Long: `Let a user (or every member of a group) create workspaces they own, with
tenancy workspace create or kubectl, of the classes named (the default class
when none is named), and share and delete them. The class decides quota,
limit range, node pool and the rest; only a Tenancy admin may set those.
Granting again adds classes.`,
		Example: `  tenancy grant create-workspaces --user jane --class standard
  tenancy grant create-workspaces --group ml-team --class standard --class gpu
  tenancy grant create-workspaces --user lead --all-classes`,
		Args: cobra.NoArgs,
		RunE: o.runE,
	}
	o.addFlags(cmd)
	cmd.Flags().StringArrayVar(&o.Classes, "class", nil, "a WorkspaceClass they may use (repeatable; default: the default class)")
	cmd.Flags().BoolVar(&o.AllClasses, "all-classes", false, "they may use every WorkspaceClass, including those created later")
	return cmd
}

func newRevokeCreateWorkspacesCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &GrantOptions{streams: streams, revoke: true}
	cmd := &cobra.Command{
		Use:   "create-workspaces (--user USER | --group GROUP) [--class CLASS ...]",
		Short: "Take back the right to create workspaces (or to use some classes)",
		Long: `Take back what 'tenancy grant create-workspaces' gave: all of it, or with
--class only those classes. Workspaces already created are kept, with their
owner; delete them with 'tenancy workspace delete'.`,
		Example: `  tenancy grant revoke create-workspaces --user jane
  tenancy grant revoke create-workspaces --group ml-team --class gpu`,
		Args: cobra.NoArgs,
		RunE: o.runE,
	}
	o.addFlags(cmd)
	cmd.Flags().StringArrayVar(&o.Classes, "class", nil, "take back only this class (repeatable)")
	return cmd
}

func (o *GrantOptions) addFlags(cmd *cobra.Command) {
	o.kube = kubeFlagsNoUser(cmd)
	cmd.Flags().StringVar(&o.User, "user", "", "a user name, as the API server authenticates it")
	cmd.Flags().StringVar(&o.Group, "group", "", "a group name")
}

func (o *GrantOptions) runE(cmd *cobra.Command, _ []string) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.revoke {
		return o.Revoke(cmd.Context())
	}
	return o.Grant(cmd.Context())
}

// Validate checks the flags.
func (o *GrantOptions) Validate() error {
	switch {
	case o.User == "" && o.Group == "":
		return errors.New("name who: --user USER or --group GROUP")
	case o.User != "" && o.Group != "":
		return errors.New("--user and --group are exclusive: grant one subject at a time")
	case o.User != "":
		if err := validateSubjectName("--user", o.User); err != nil {
			return err
		}
		o.subject = tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: o.User}
	default:
		if err := validateSubjectName("--group", o.Group); err != nil {
			return err
		}
		o.subject = tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: o.Group}
	}
	if o.AllClasses && len(o.Classes) > 0 {
		return errors.New("--class and --all-classes are exclusive: name classes, or allow all of them")
	}
	for _, c := range o.Classes {
		if c == "" {
			return errors.New("--class: the class name is empty")
		}
	}
	return nil
}

// grantNames are the names of a subject's ClusterRoleBinding to the creator
// role, and of the ClusterRole (and its binding) of the classes it may use.
func grantNames(s tenancyv1.Subject) (creator, classes string) {
	creator = "tenancy:" + grantCreateWorkspaces + ":" + strings.ToLower(string(s.Kind)) + ":" + s.Name
	return creator, creator + ":classes"
}

func grantLabels() map[string]string {
	return map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, labelGrant: grantCreateWorkspaces}
}

// grantObjects are the apply configurations of a grant; classes nil means
// every class. For a subject that is a Tenancy User (u not nil) the objects
// are owned by the User, so that deleting it deletes them, and the bindings
// name whom the User stands for now: nobody while it is disabled (the
// controller keeps them so as the User changes).
func grantObjects(s tenancyv1.Subject, classes []string, u *tenancyv1.User) []*applyObject {
	creator, classRole := grantNames(s)
	subjects := []*rbacv1ac.SubjectApplyConfiguration{grantSubject(s.RBAC())}
	var owners []*metav1ac.OwnerReferenceApplyConfiguration
	if u != nil {
		subjects = nil
		for _, rs := range workspace.ResolveUser(s, u) {
			subjects = append(subjects, grantSubject(rs))
		}
		owners = append(owners, metav1ac.OwnerReference().WithAPIVersion(tenancyv1.GroupVersion.String()).
			WithKind("User").WithName(u.Name).WithUID(u.UID))
	}
	annotations := map[string]string{tenancyv1.AnnotationGrantSubject: s.String()}
	rule := rbacv1ac.PolicyRule().WithAPIGroups(tenancyv1.GroupVersion.Group).WithResources("workspaceclasses").WithVerbs(install.VerbUse)
	if classes != nil {
		rule.WithResourceNames(classes...)
	}
	return []*applyObject{
		{"ClusterRoleBinding " + creator, rbacv1ac.ClusterRoleBinding(creator).WithLabels(grantLabels()).WithAnnotations(annotations).
			WithOwnerReferences(owners...).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(install.CreatorRole)).
			WithSubjects(subjects...)},
		{"ClusterRole " + classRole, rbacv1ac.ClusterRole(classRole).WithLabels(grantLabels()).WithAnnotations(annotations).
			WithOwnerReferences(owners...).WithRules(rule)},
		{"ClusterRoleBinding " + classRole, rbacv1ac.ClusterRoleBinding(classRole).WithLabels(grantLabels()).WithAnnotations(annotations).
			WithOwnerReferences(owners...).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(classRole)).
			WithSubjects(subjects...)},
	}
}

func grantSubject(s rbacv1.Subject) *rbacv1ac.SubjectApplyConfiguration {
	out := rbacv1ac.Subject().WithKind(s.Kind).WithName(s.Name)
	if s.APIGroup != "" {
		out.WithAPIGroup(s.APIGroup)
	}
	if s.Namespace != "" {
		out.WithNamespace(s.Namespace)
	}
	return out
}

// grantUser is the Tenancy User a grant's subject is, or nil: a group, or
// a user with no User object (an OIDC identity, say).
func grantUser(ctx context.Context, c client.Client, s tenancyv1.Subject) (*tenancyv1.User, error) {
	if s.Kind != tenancyv1.UserKind {
		return nil, nil
	}
	u := &tenancyv1.User{}
	switch err := c.Get(ctx, client.ObjectKey{Name: s.Name}, u); {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return u, nil
}

// deleteGrant deletes every object of the create-workspaces grant of s and
// says how many there were.
func deleteGrant(ctx context.Context, c client.Client, s tenancyv1.Subject) (int, error) {
	creator, classRole := grantNames(s)
	deleted := 0
	for _, obj := range []client.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: creator}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: classRole}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: classRole}},
	} {
		switch err := c.Delete(ctx, obj); {
		case err == nil:
			deleted++
		case !apierrors.IsNotFound(err):
			return deleted, err
		}
	}
	return deleted, nil
}

type applyObject struct {
	what string
	ac   runtime.ApplyConfiguration
}

// grantedClasses reads the classes a subject may use: nil and all=true for
// every class, found=false when there is no grant.
func grantedClasses(ctx context.Context, c client.Client, s tenancyv1.Subject) (names []string, all, found bool, err error) {
	_, classRole := grantNames(s)
	role := &rbacv1.ClusterRole{}
	if err := c.Get(ctx, client.ObjectKey{Name: classRole}, role); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, false, nil
		}
		return nil, false, false, err
	}
	for _, r := range role.Rules {
		if len(r.ResourceNames) == 0 {
			return nil, true, true, nil
		}
		names = append(names, r.ResourceNames...)
	}
	slices.Sort(names)
	return slices.Compact(names), false, true, nil
}

// Grant applies the bindings.
func (o *GrantOptions) Grant(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	if err := c.Get(ctx, client.ObjectKey{Name: install.CreatorRole}, &rbacv1.ClusterRole{}); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("ClusterRole %s does not exist: install Tenancy's self-serve policy first (tenancy install, or tenancy up)", install.CreatorRole)
		case apierrors.IsForbidden(err):
			return fmt.Errorf("%w\nGranting takes a cluster admin: someone who may read and write ClusterRoles and ClusterRoleBindings", explain(ctx, c, err))
		}
		return explain(ctx, c, err)
	}
	classes, err := classList(ctx, c)
	if err != nil {
		return explain(ctx, c, err)
	}
	var names []string // nil: every class
	switch {
	case o.AllClasses:
	case len(o.Classes) > 0:
		if err := checkClasses(classes, o.Classes...); err != nil {
			return err
		}
		names = o.Classes
	default:
		d := defaultClass(classes)
		if d == "" {
			return fmt.Errorf("no WorkspaceClass is marked default: name classes with --class, or use --all-classes; classes: %s", classNames(classes))
		}
		names = []string{d}
	}
	had, hadAll, _, err := grantedClasses(ctx, c, o.subject)
	if err != nil {
		return explain(ctx, c, err)
	}
	if hadAll {
		names = nil
	} else if names != nil {
		names = append(names, had...)
		slices.Sort(names)
		names = slices.Compact(names)
	}
	u, err := grantUser(ctx, c, o.subject)
	if err != nil {
		return explain(ctx, c, err)
	}
	for _, obj := range grantObjects(o.subject, names, u) {
		if err := c.Apply(ctx, obj.ac, client.FieldOwner(grantFieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s: %w", obj.what, explain(ctx, c, err))
		}
	}
	fmt.Fprintf(o.streams.Out, "%s may create workspaces of %s\n", describeSubject(o.subject), describeClasses(names))
	return nil
}

func describeClasses(names []string) string {
	switch len(names) {
	case 0:
		return "any class"
	case 1:
		return "class " + names[0]
	}
	return "classes " + strings.Join(names, ", ")
}

// Revoke deletes the grant, or takes some classes out of it.
func (o *GrantOptions) Revoke(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	who := describeSubject(o.subject)
	had, hadAll, found, err := grantedClasses(ctx, c, o.subject)
	if err != nil {
		return explain(ctx, c, err)
	}
	if len(o.Classes) > 0 && found {
		if hadAll {
			return fmt.Errorf("%s may use every class (--all-classes): revoke the whole grant, then grant the classes to keep", who)
		}
		var missing []string
		for _, n := range o.Classes {
			if !slices.Contains(had, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s was not granted %s; granted: %s", who, describeClasses(missing), strings.Join(had, ", "))
		}
		keep := slices.DeleteFunc(slices.Clone(had), func(n string) bool { return slices.Contains(o.Classes, n) })
		if len(keep) > 0 {
			u, err := grantUser(ctx, c, o.subject)
			if err != nil {
				return explain(ctx, c, err)
			}
			for _, obj := range grantObjects(o.subject, keep, u) {
				if err := c.Apply(ctx, obj.ac, client.FieldOwner(grantFieldManager), client.ForceOwnership); err != nil {
					return fmt.Errorf("apply %s: %w", obj.what, explain(ctx, c, err))
				}
			}
			fmt.Fprintf(o.streams.Out, "%s may no longer use %s; may still create workspaces of %s\n", who, describeClasses(o.Classes), describeClasses(keep))
			return nil
		}
	}
	deleted, err := deleteGrant(ctx, c, o.subject)
	if err != nil {
		return explain(ctx, c, err)
	}
	if deleted == 0 {
		return fmt.Errorf("%s has no create-workspaces grant (tenancy grant list shows the grants)", who)
	}
	fmt.Fprintf(o.streams.Out, "%s may no longer create workspaces; the workspaces they own are kept\n", who)
	return nil
}

// GrantListOptions are the flags of `tenancy grant list`.
type GrantListOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
}

func newGrantListCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &GrantListOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List who may create workspaces, and of which classes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context())
		},
	}
	o.kube = kubeFlags(cmd)
	return cmd
}

// Run prints the grants.
func (o *GrantListOptions) Run(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	bindings := &rbacv1.ClusterRoleBindingList{}
	if err := c.List(ctx, bindings, client.MatchingLabels{labelGrant: grantCreateWorkspaces}); err != nil {
		return explain(ctx, c, err)
	}
	roles := &rbacv1.ClusterRoleList{}
	if err := c.List(ctx, roles, client.MatchingLabels{labelGrant: grantCreateWorkspaces}); err != nil {
		return explain(ctx, c, err)
	}
	var rows []string
	for _, b := range bindings.Items {
		if b.RoleRef.Name != install.CreatorRole {
			continue
		}
		// The grant's subject is in its annotation: the controller empties
		// the subjects of a disabled User's grant and adds its token
		// ServiceAccount.
		var subjects []tenancyv1.Subject
		if kind, name, ok := strings.Cut(b.Annotations[tenancyv1.AnnotationGrantSubject], "/"); ok {
			subjects = append(subjects, tenancyv1.Subject{Kind: tenancyv1.SubjectKind(kind), Name: name})
		} else {
			for _, s := range b.Subjects {
				subjects = append(subjects, tenancyv1.Subject{Kind: tenancyv1.SubjectKind(s.Kind), Name: s.Name})
			}
		}
		for _, subject := range subjects {
			_, classRole := grantNames(subject)
			classes := "<none>"
			for _, r := range roles.Items {
				if r.Name == classRole {
					classes = ruleClasses(r.Rules)
				}
			}
			if len(b.Subjects) == 0 {
				classes += " (suspended: the User is disabled)"
			}
			rows = append(rows, subject.String()+"\t"+classes)
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "Nobody was granted create-workspaces (tenancy grant create-workspaces --user USER --class CLASS).")
		return nil
	}
	slices.Sort(rows)
	w := printers.GetNewTabWriter(o.streams.Out)
	fmt.Fprintln(w, "SUBJECT\tCLASSES")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	return w.Flush()
}

func ruleClasses(rules []rbacv1.PolicyRule) string {
	var names []string
	for _, r := range rules {
		if len(r.ResourceNames) == 0 {
			return "* (all)"
		}
		names = append(names, r.ResourceNames...)
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ",")
}
