// Package grant holds `tenancy grant …`: who may create their own
// workspaces, of which classes.
package grant

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
	"k8s.io/cli-runtime/pkg/genericiooptions"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/install"
)

// Grants are ClusterRoleBindings (and a ClusterRole for the classes)
// labelled so that `grant list` and `revoke` find them.
const (
	labelGrant            = tenancyv1.LabelGrant
	grantCreateWorkspaces = "create-workspaces"
	grantFieldManager     = "tenancy-grant"
)

// NewCommand is `tenancy grant`.
func NewCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grant",
		Short: "Grant users rights such as creating their own workspaces",
	}
	revoke := &cobra.Command{
		Use:   "revoke",
		Short: "Take back rights given with 'tenancy grant'",
	}
	revoke.AddCommand(newCreateWorkspacesCommand(f, true))
	cmd.AddCommand(newCreateWorkspacesCommand(f, false), newListCommand(f), revoke)
	return cmd
}

// Options are the flags of `tenancy grant create-workspaces` and
// `tenancy grant revoke create-workspaces`.
type Options struct {
	streams genericiooptions.IOStreams
	client  client.Client
	revoke  bool

	User       string
	Group      string
	Classes    []string
	AllClasses bool

	subject tenancyv1.Subject
}

func newCreateWorkspacesCommand(f *cmdutil.Factory, revoke bool) *cobra.Command {
	o := &Options{revoke: revoke}
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
		RunE: cmdutil.RunE(f, o),
	}
	fl := cmd.Flags()
	if revoke {
		cmd.Use = "create-workspaces (--user USER | --group GROUP) [--class CLASS ...]"
		cmd.Short = "Take back the right to create workspaces (or to use some classes)"
		cmd.Long = `Take back what 'tenancy grant create-workspaces' gave: all of it, or with
--class only those classes. Workspaces already created are kept, with their
owner; delete them with 'tenancy workspace delete'.`
		cmd.Example = `  tenancy grant revoke create-workspaces --user jane
  tenancy grant revoke create-workspaces --group ml-team --class gpu`
		fl.StringArrayVar(&o.Classes, "class", nil, "take back only this class (repeatable)")
	} else {
		fl.StringArrayVar(&o.Classes, "class", nil, "a WorkspaceClass they may use (repeatable; default: the default class)")
		fl.BoolVar(&o.AllClasses, "all-classes", false, "they may use every WorkspaceClass, including those created later")
	}
	// --user and --group name the subject, as in `kubectl create
	// clusterrolebinding`: they shadow the connection flag --user.
	fl.StringVar(&o.User, "user", "", "a user name, as the API server authenticates it")
	fl.StringVar(&o.Group, "group", "", "a group name")
	_ = cmd.RegisterFlagCompletionFunc("class", cmdutil.CompleteClasses(f))
	_ = cmd.RegisterFlagCompletionFunc("user", cmdutil.CompleteUsers(f))
	return cmd
}

// Complete takes the client.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	o.streams = f.Streams
	var err error
	o.client, err = f.Client()
	return err
}

// Run grants or revokes.
func (o *Options) Run(ctx context.Context) error {
	if o.revoke {
		return o.Revoke(ctx)
	}
	return o.Grant(ctx)
}

// Validate checks the flags.
func (o *Options) Validate() error {
	switch {
	case o.User == "" && o.Group == "":
		return errors.New("name who: --user USER or --group GROUP")
	case o.User != "" && o.Group != "":
		return errors.New("--user and --group are exclusive: grant one subject at a time")
	case o.User != "":
		if err := cmdutil.ValidateSubjectName("--user", o.User); err != nil {
			return err
		}
		o.subject = tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: o.User}
	default:
		if err := cmdutil.ValidateSubjectName("--group", o.Group); err != nil {
			return err
		}
		o.subject = tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: o.Group}
	}
	if o.AllClasses && len(o.Classes) > 0 {
		return errors.New("--class and --all-classes are exclusive: name classes, or allow all of them")
	}
	if slices.Contains(o.Classes, "") {
		return errors.New("--class: the class name is empty")
	}
	return nil
}

// Names are the names of a subject's ClusterRoleBinding to the creator
// role, and of the ClusterRole (and its binding) of the classes it may use.
func Names(s tenancyv1.Subject) (creator, classes string) {
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
	creator, classRole := Names(s)
	subjects := []*rbacv1ac.SubjectApplyConfiguration{grantSubject(s.RBAC())}
	var owners []*metav1ac.OwnerReferenceApplyConfiguration
	if u != nil {
		subjects = nil
		for _, rs := range tenancyv1.ResolveUser(s, u) {
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

// Delete deletes every object of the create-workspaces grant of s and
// says how many there were.
func Delete(ctx context.Context, c client.Client, s tenancyv1.Subject) (int, error) {
	creator, classRole := Names(s)
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

// GrantedClasses reads the classes a subject may use: nil and all=true for
// every class, found=false when there is no grant.
func GrantedClasses(ctx context.Context, c client.Client, s tenancyv1.Subject) (names []string, all, found bool, err error) {
	_, classRole := Names(s)
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
func (o *Options) Grant(ctx context.Context) error {
	c := o.client
	if err := c.Get(ctx, client.ObjectKey{Name: install.CreatorRole}, &rbacv1.ClusterRole{}); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("ClusterRole %s does not exist: install Tenancy's self-serve policy first (tenancy install, or tenancy up)", install.CreatorRole)
		case apierrors.IsForbidden(err):
			return fmt.Errorf("%w\nGranting takes a cluster admin: someone who may read and write ClusterRoles and ClusterRoleBindings", err)
		}
		return err
	}
	classes, err := cmdutil.ClassList(ctx, c)
	if err != nil {
		return err
	}
	var names []string // nil: every class
	switch {
	case o.AllClasses:
	case len(o.Classes) > 0:
		if err := cmdutil.CheckClasses(classes, o.Classes...); err != nil {
			return err
		}
		names = o.Classes
	default:
		d := cmdutil.DefaultClassName(classes)
		if d == "" {
			return fmt.Errorf("no WorkspaceClass is marked default: name classes with --class, or use --all-classes; classes: %s", cmdutil.ClassNames(classes))
		}
		names = []string{d}
	}
	had, hadAll, _, err := GrantedClasses(ctx, c, o.subject)
	if err != nil {
		return err
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
		return err
	}
	for _, obj := range grantObjects(o.subject, names, u) {
		if err := c.Apply(ctx, obj.ac, client.FieldOwner(grantFieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s: %w", obj.what, err)
		}
	}
	fmt.Fprintf(o.streams.Out, "%s may create workspaces of %s\n", cmdutil.DescribeSubject(o.subject), describeClasses(names))
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
func (o *Options) Revoke(ctx context.Context) error {
	c := o.client
	who := cmdutil.DescribeSubject(o.subject)
	had, hadAll, found, err := GrantedClasses(ctx, c, o.subject)
	if err != nil {
		return err
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
				return err
			}
			for _, obj := range grantObjects(o.subject, keep, u) {
				if err := c.Apply(ctx, obj.ac, client.FieldOwner(grantFieldManager), client.ForceOwnership); err != nil {
					return fmt.Errorf("apply %s: %w", obj.what, err)
				}
			}
			fmt.Fprintf(o.streams.Out, "%s may no longer use %s; may still create workspaces of %s\n", who, describeClasses(o.Classes), describeClasses(keep))
			return nil
		}
	}
	deleted, err := Delete(ctx, c, o.subject)
	if err != nil {
		return err
	}
	if deleted == 0 {
		return fmt.Errorf("%s has no create-workspaces grant (tenancy grant list shows the grants)", who)
	}
	fmt.Fprintf(o.streams.Out, "%s may no longer create workspaces; the workspaces they own are kept\n", who)
	return nil
}

// ListOptions are the flags of `tenancy grant list`.
type ListOptions struct {
	streams genericiooptions.IOStreams
	client  client.Client
	print   *cmdutil.PrintFlags
}

func newListCommand(f *cmdutil.Factory) *cobra.Command {
	o := &ListOptions{print: cmdutil.NewPrintFlags("", true)}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List who may create workspaces, and of which classes",
		Long: `List who may create workspaces, and of which classes. -o yaml|json|name
prints the grants' ClusterRoleBindings (to tenancy:workspace-creator).`,
		Example: `  tenancy grant list
  tenancy grant list -o name`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	return cmd
}

// Complete takes the client.
func (o *ListOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	o.streams = f.Streams
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks -o.
func (o *ListOptions) Validate() error { return o.print.Validate() }

// grantRow is a subject's grant: the creator binding, and its classes.
type grantRow struct {
	subject tenancyv1.Subject
	classes string
	binding *rbacv1.ClusterRoleBinding
}

// Run prints the grants.
func (o *ListOptions) Run(ctx context.Context) error {
	c := o.client
	bindings := &rbacv1.ClusterRoleBindingList{}
	if err := c.List(ctx, bindings, client.MatchingLabels{labelGrant: grantCreateWorkspaces}); err != nil {
		return err
	}
	roles := &rbacv1.ClusterRoleList{}
	if err := c.List(ctx, roles, client.MatchingLabels{labelGrant: grantCreateWorkspaces}); err != nil {
		return err
	}
	var rows []grantRow
	creators := &rbacv1.ClusterRoleBindingList{}
	for i := range bindings.Items {
		b := &bindings.Items[i]
		if b.RoleRef.Name != install.CreatorRole {
			continue
		}
		creators.Items = append(creators.Items, *b)
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
			_, classRole := Names(subject)
			classes := "<none>"
			for _, r := range roles.Items {
				if r.Name == classRole {
					classes = ruleClasses(r.Rules)
				}
			}
			if len(b.Subjects) == 0 {
				classes += " (suspended: the User is disabled)"
			}
			rows = append(rows, grantRow{subject: subject, classes: classes, binding: b})
		}
	}
	slices.SortFunc(rows, func(a, b grantRow) int { return strings.Compare(a.subject.String(), b.subject.String()) })
	slices.SortFunc(creators.Items, func(a, b rbacv1.ClusterRoleBinding) int { return strings.Compare(a.Name, b.Name) })
	if t, _ := o.print.Table(); t && len(rows) == 0 {
		fmt.Fprintln(o.streams.ErrOut, "Nobody was granted create-workspaces (tenancy grant create-workspaces --user USER --class CLASS).")
		return nil
	}
	return o.print.Print(o.streams.Out, creators, func() (*metav1.Table, error) { return grantTable(rows), nil })
}

// grantTable is the table of grants; -o wide adds the binding's name.
func grantTable(rows []grantRow) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Subject", Type: "string", Description: "who was granted create-workspaces"},
		{Name: "Classes", Type: "string", Description: "the WorkspaceClasses they may use"},
		{Name: "Binding", Type: "string", Priority: 1, Description: "the grant's ClusterRoleBinding to " + install.CreatorRole},
	}}
	for _, r := range rows {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{r.subject.String(), r.classes, r.binding.Name}, Object: runtime.RawExtension{Object: r.binding}})
	}
	return t
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
