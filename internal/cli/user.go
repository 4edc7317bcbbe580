package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/credentials"
)

// userFieldManager is the field manager of the objects `tenancy user` writes.
const userFieldManager = "tenancy-cli"

func newUserCommand(streams genericiooptions.IOStreams) *cobra.Command {
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
		newUserAddCommand(streams),
		newUserDeleteCommand(streams),
		newUserListCommand(streams),
		newUserKubeconfigCommand(streams),
		newUserDisableCommand(streams, true),
		newUserDisableCommand(streams, false),
		newUserPasswdCommand(streams),
	)
	return cmd
}

// userKubeFlags are kubectl's connection flags for the admin's kubeconfig,
// without --namespace and --certificate-authority: `tenancy user` uses
// those for the user's workspace and the user's kubeconfig.
func userKubeFlags(cmd *cobra.Command) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	f.Namespace = nil
	f.CAFile = nil
	f.AddFlags(cmd.Flags())
	if fl := cmd.Flags().Lookup("insecure-skip-tls-verify"); fl != nil {
		fl.Usage = "do not verify the API server's certificate, neither for this command nor in the user's kubeconfig (insecure); without it, an admin kubeconfig that skips verification is refused"
	}
	return f
}

var userGetOptions = metav1.GetOptions{}

func userObjectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

// userRootName is how the user called us: "tenancy" or "kubectl tenancy".
func userRootName(cmd *cobra.Command) string { return cmd.Root().DisplayName() }

// userExamples are examples as the user calls us: "kubectl tenancy …" when
// run as the kubectl plugin.
func userExamples(s string) string {
	if strings.HasPrefix(filepath.Base(osArg0()), "kubectl-") {
		return strings.ReplaceAll(s, "  tenancy ", "  kubectl tenancy ")
	}
	return s
}

// userAdmin holds the clients of the admin's kubeconfig.
type userAdmin struct {
	c  client.Client
	cs kubernetes.Interface
	// cluster is where the admin's kubeconfig points, named as there.
	cluster credentials.Cluster
	// insecureAsked: --insecure-skip-tls-verify was given, so the user's
	// kubeconfig may skip verification too.
	insecureAsked bool
}

func userConnect(kube *genericclioptions.ConfigFlags) (*userAdmin, error) {
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load the admin kubeconfig: %w", err)
	}
	raw, err := kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load the admin kubeconfig: %w", err)
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
	cluster, err := credentials.ClusterOf(name, cfg)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	insecure := kube.Insecure != nil && *kube.Insecure
	return &userAdmin{c: c, cs: cs, cluster: cluster, insecureAsked: insecure}, nil
}

// userAPIError makes the errors a person can act on readable.
func userAPIError(err error) error {
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) && strings.Contains(err.Error(), "the server could not find the requested resource") {
		return fmt.Errorf("tenancy's CustomResourceDefinitions are not installed in this cluster: run 'tenancy install' first (%w)", err)
	}
	return err
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
	for _, r := range userReservedNamespaces {
		if name == r {
			return fmt.Errorf("--namespace %q is reserved for the system: choose another workspace name", name)
		}
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
		if userIsOwner(&ws, name) {
			out = append(out, ws.Name)
		}
	}
	sort.Strings(out)
	return out
}

func userIsOwner(ws *tenancyv1.Workspace, user string) bool {
	o := ws.Spec.Owner
	return o != nil && o.Kind == tenancyv1.UserKind && o.Name == user
}

func userContributorRole(ws *tenancyv1.Workspace, user string) (tenancyv1.ContributorRole, bool) {
	for _, c := range ws.Spec.Contributors {
		if c.Kind == tenancyv1.UserKind && c.Name == user {
			return c.Role, true
		}
	}
	return "", false
}

// userIdentity is who the API server sees when a credential is used.
type userIdentity struct {
	user   string
	groups []string
}

func (id userIdentity) String() string {
	if strings.HasPrefix(id.user, "system:serviceaccount:") {
		return "ServiceAccount " + strings.TrimPrefix(id.user, "system:serviceaccount:")
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
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := userCan(ctx, cs, id, attrs)
		last = err
		return err == nil && ok == allowed, nil
	})
	if err != nil {
		verb := "still cannot"
		if !allowed {
			verb = "can still"
		}
		return errors.Join(fmt.Errorf("%s %s %s after %s", id, verb, what, timeout), last)
	}
	return nil
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
	for i := len(r.steps) - 1; i >= 0; i-- {
		s := r.steps[i]
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
// is gone).
func userDeleteAndWait(ctx context.Context, c client.Client, obj client.Object) error {
	var opts []client.DeleteOption
	if uid := obj.GetUID(); uid != "" {
		opts = append(opts, client.Preconditions{UID: &uid})
	}
	if err := c.Delete(ctx, obj, opts...); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	key := client.ObjectKeyFromObject(obj)
	return wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(c.Get(ctx, key, obj)), nil
	})
}
