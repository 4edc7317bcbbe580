// Package user holds `tenancy user …`: onboard people with a User, the
// Workspace they own and a kubeconfig, and take it all away again.
package user

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/credentials"
)

// userFieldManager is the field manager of the objects `tenancy user` writes.
const userFieldManager = "tenancy-cli"

// NewCommand is `tenancy user`.
func NewCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Onboard users: a workspace, quota, RBAC and a kubeconfig in one command",
		Long: `Manage the people who use the cluster.

'user add' creates a User, the Workspace it owns (a namespace with quota and
RBAC) and a kubeconfig with an expiring credential: a client certificate
signed through the CertificateSigningRequest API, or a ServiceAccount token.
The user file of the Arena multi-user guide (quota, roles, clusterRoles) is
accepted unchanged with --config.`,
	}
	cmd.AddCommand(
		newAddCommand(f),
		newDeleteCommand(f),
		newListCommand(f),
		newKubeconfigCommand(f),
		newDisableCommand(f, true),
		newDisableCommand(f, false),
		newPasswdCommand(f),
	)
	return cmd
}

var userGetOptions = metav1.GetOptions{}

func userObjectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

// userAdmin holds the clients of the admin's kubeconfig.
type userAdmin struct {
	c     client.Client
	cs    kubernetes.Interface
	flags *genericclioptions.ConfigFlags
	// insecureAsked: --insecure-skip-tls-verify was given, so the user's
	// kubeconfig may skip verification too.
	insecureAsked bool
}

// userConnect takes the admin's clients from the factory.
func userConnect(f *cmdutil.Factory) (*userAdmin, error) {
	c, err := f.Client()
	if err != nil {
		return nil, err
	}
	cs, err := f.Clientset()
	if err != nil {
		return nil, err
	}
	insecure := f.Flags.Insecure != nil && *f.Flags.Insecure
	return &userAdmin{c: c, cs: cs, flags: f.Flags, insecureAsked: insecure}, nil
}

// cluster is where the admin's kubeconfig points, named as there.
func (a *userAdmin) cluster() (credentials.Cluster, error) {
	kube := a.flags
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return credentials.Cluster{}, fmt.Errorf("load the admin kubeconfig: %w", err)
	}
	raw, err := kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return credentials.Cluster{}, fmt.Errorf("load the admin kubeconfig: %w", err)
	}
	name := raw.CurrentContext
	if kube.Context != nil && *kube.Context != "" {
		name = *kube.Context
	}
	if ctx, ok := raw.Contexts[name]; ok {
		name = ctx.Cluster
	}
	if kube.ClusterName != nil && *kube.ClusterName != "" {
		name = *kube.ClusterName
	}
	if name == "" {
		name = "kubernetes"
	}
	return credentials.ClusterOf(name, cfg)
}

// validateUserName checks a user name: it becomes the certificate's CN, an
// RBAC subject and part of object names.
func validateUserName(name string) error {
	if name == "" {
		return errors.New("a user name is required, e.g. alex")
	}
	if strings.HasPrefix(name, "system:") {
		return fmt.Errorf("user name %q: names starting with \"system:\" are Kubernetes' own", name)
	}
	if len(name) > 63 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return fmt.Errorf("user name %q is not valid: use at most 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit (e.g. alex)", name)
	}
	return nil
}

// userReservedNamespaces are never workspaces (the Workspace API refuses them).
var userReservedNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease", credentials.SystemNamespace}

// validateUserWorkspaceName checks the --namespace of a workspace.
func validateUserWorkspaceName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("--namespace %q is not a valid namespace name: use at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit", name)
	}
	if slices.Contains(userReservedNamespaces, name) {
		return fmt.Errorf("--namespace %q is reserved for the system: choose another workspace name", name)
	}
	if strings.HasPrefix(name, "kube-") || strings.HasPrefix(name, "openshift-") {
		return fmt.Errorf("--namespace %q is reserved for the system (kube-* and openshift-*): choose another workspace name", name)
	}
	return nil
}

// userOwnedWorkspaces are the names of the workspaces whose owner is User name.
func userOwnedWorkspaces(list []tenancyv1.Workspace, name string) []string {
	var out []string
	for _, ws := range list {
		if ws.IsOwnedByUser(name) {
			out = append(out, ws.Name)
		}
	}
	slices.Sort(out)
	return out
}

// contributorRole is the role of User user among ws's contributors.
func contributorRole(ws *tenancyv1.Workspace, user string) (tenancyv1.ContributorRole, bool) {
	return ws.ContributorRole(tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: user})
}

// userIdentity is who the API server sees when a credential is used.
type userIdentity struct {
	user   string
	groups []string
}

func (id userIdentity) String() string {
	if after, ok := strings.CutPrefix(id.user, "system:serviceaccount:"); ok {
		return "ServiceAccount " + after
	}
	return "User " + id.user
}

// userIdentities are the identities a user's credentials authenticate as.
func userIdentities(u *tenancyv1.User) []userIdentity {
	out := []userIdentity{{user: u.Name, groups: u.Spec.Groups}}
	if sa := u.Status.ServiceAccount; sa != nil {
		ref := *sa
		out = append(out, userIdentity{user: credentials.ServiceAccountUsername(ref),
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ref.Namespace}})
	}
	return out
}

// userCan asks the API server whether id may do what attrs say.
func userCan(ctx context.Context, cs kubernetes.Interface, id userIdentity, attrs authorizationv1.ResourceAttributes) (bool, error) {
	sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               id.user,
			Groups:             append([]string{"system:authenticated"}, id.groups...),
			ResourceAttributes: &attrs,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("check the access of %s: %w", id, err)
	}
	return sar.Status.Allowed, nil
}

// userWaitAccess waits until id may (allowed) or may not list pods in
// namespace: the controller's bindings have caught up.
func userWaitAccess(ctx context.Context, cs kubernetes.Interface, id userIdentity, namespace string, allowed bool, timeout time.Duration) error {
	attrs := authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "list", Resource: "pods"}
	return userWaitCan(ctx, cs, id, attrs, "use workspace "+namespace, allowed, timeout)
}

// userWaitCreateWorkspaces waits until id may (allowed) or may not create
// workspaces: the controller has caught up with a self-serve grant.
func userWaitCreateWorkspaces(ctx context.Context, cs kubernetes.Interface, id userIdentity, allowed bool, timeout time.Duration) error {
	attrs := authorizationv1.ResourceAttributes{Verb: "create", Group: tenancyv1.GroupVersion.Group, Resource: "workspaces"}
	return userWaitCan(ctx, cs, id, attrs, "create workspaces", allowed, timeout)
}

func userWaitCan(ctx context.Context, cs kubernetes.Interface, id userIdentity, attrs authorizationv1.ResourceAttributes, what string, allowed bool, timeout time.Duration) error {
	verb := "still cannot"
	if !allowed {
		verb = "can still"
	}
	return cmdutil.Until(ctx, timeout, fmt.Sprintf("%s %s %s", id, verb, what), func(ctx context.Context) (bool, string) {
		ok, err := userCan(ctx, cs, id, attrs)
		if err != nil {
			return false, err.Error()
		}
		return ok == allowed, "the controller's bindings have not caught up"
	})
}

// userBindingsNaming lists the RoleBindings and ClusterRoleBindings with a
// subject among ids, as "RoleBinding ns/name" (managed: made by Tenancy).
func userBindingsNaming(ctx context.Context, c client.Client, ids []rbacv1.Subject) (managed, foreign []string, err error) {
	names := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			for _, id := range ids {
				if s.Kind == id.Kind && s.Name == id.Name && s.Namespace == id.Namespace {
					return true
				}
			}
		}
		return false
	}
	add := func(labels map[string]string, what string) {
		if labels[tenancyv1.LabelManagedBy] == tenancyv1.ManagedByValue {
			managed = append(managed, what)
		} else {
			foreign = append(foreign, what)
		}
	}
	rbs := &rbacv1.RoleBindingList{}
	if err := c.List(ctx, rbs); err != nil {
		return nil, nil, fmt.Errorf("list RoleBindings: %w", err)
	}
	for _, b := range rbs.Items {
		if names(b.Subjects) {
			add(b.Labels, "RoleBinding "+b.Namespace+"/"+b.Name)
		}
	}
	crbs := &rbacv1.ClusterRoleBindingList{}
	if err := c.List(ctx, crbs); err != nil {
		return nil, nil, fmt.Errorf("list ClusterRoleBindings: %w", err)
	}
	for _, b := range crbs.Items {
		if names(b.Subjects) {
			add(b.Labels, "ClusterRoleBinding "+b.Name)
		}
	}
	return managed, foreign, nil
}

// userSubjects are the RBAC subjects that stand for user.
func userSubjects(user string) []rbacv1.Subject {
	sa := credentials.ServiceAccountFor(user)
	return []rbacv1.Subject{
		{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user},
		{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name},
	}
}

// userRollback undoes, newest first, what a command did before it failed.
type userRollback struct {
	steps []userRollbackStep
}

type userRollbackStep struct {
	what string
	undo func(context.Context) error
}

func (r *userRollback) add(what string, undo func(context.Context) error) {
	r.steps = append(r.steps, userRollbackStep{what, undo})
}

// run undoes every step, even when ctx is cancelled (Ctrl-C), within a
// minute, and reports what it did.
func (r *userRollback) run(ctx context.Context, out io.Writer) error {
	if len(r.steps) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	for _, s := range slices.Backward(r.steps) {

		if err := s.undo(ctx); err != nil {
			errs = append(errs, fmt.Errorf("roll back (%s): %w", s.what, err))
			continue
		}
		fmt.Fprintf(out, "Rolled back: %s\n", s.what)
	}
	return errors.Join(errs...)
}

// userDeleteAndWait deletes obj — only the very object, when its UID is
// known — and waits until it is gone (a Workspace goes once its namespace
// is gone), for as long as ctx lasts.
func userDeleteAndWait(ctx context.Context, c client.Client, obj client.Object) error {
	var opts []client.DeleteOption
	if uid := obj.GetUID(); uid != "" {
		opts = append(opts, client.Preconditions{UID: &uid})
	}
	if err := c.Delete(ctx, obj, opts...); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return cmdutil.ForDeleted(ctx, c, 0, obj)
}

// newUserPrintFlags are the -o of the commands that write a user's
// kubeconfig: they print the User; -o FILE gets a hint to --kubeconfig-out.
func newUserPrintFlags() *cmdutil.PrintFlags {
	return cmdutil.NewPrintFlags("", false).WithFileFlag("--" + kubeconfigOutFlag)
}

// progress is where a command reports its steps: standard output for a
// person, standard error when -o prints an object there.
func progress(streams genericiooptions.IOStreams, p *cmdutil.PrintFlags) io.Writer {
	if p.Human() {
		return streams.Out
	}
	return streams.ErrOut
}

// printUser prints the User for -o; nothing more for a person.
func printUser(streams genericiooptions.IOStreams, p *cmdutil.PrintFlags, u *tenancyv1.User) error {
	if p.Human() {
		return nil
	}
	return p.Print(streams.Out, u, nil)
}
