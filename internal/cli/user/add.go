package user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/credentials"
	"github.com/tenancy-dev/tenancy/internal/passwords"
	"github.com/tenancy-dev/tenancy/internal/scheme"
	"github.com/tenancy-dev/tenancy/internal/userconfig"
)

// AddOptions are the flags of `tenancy user add`.
type AddOptions struct {
	streams genericiooptions.IOStreams
	admin   *userAdmin
	cred    userCredentialFlags
	groups  userGroupFlags
	print   *cmdutil.PrintFlags

	Name       string
	Namespace  string
	ConfigFile string
	Class      string
	Groups     []string
	Force      bool
	DryRun     bool
	Wait       bool
	Timeout    time.Duration
	// PasswordStdin reads the web UI password from stdin instead of
	// generating one.
	PasswordStdin bool

	password string // read by Complete when PasswordStdin

	config *userconfig.Config // the user file, read by Complete
	self   string
}

func newAddCommand(f *cmdutil.Factory) *cobra.Command {
	o := &AddOptions{print: newUserPrintFlags()}
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Onboard a user: a User, the Workspace they own and a kubeconfig",
		Long: `Onboard a user in one command: create the User NAME and the Workspace
(namespace) it owns, wait until the workspace is Ready, issue an expiring
credential and write a kubeconfig whose context uses the workspace.

--config takes the user file of the Arena multi-user guide unchanged — quota
(resource: quantity), roles and clusterRoles (lists of RBAC rules) — and
Tenancy's own keys: class, groups, contributors ([{kind, name, role}]) and
limitRange ({default, defaultRequest, max}).

Nothing is created when the input is wrong; if a later step fails (the
workspace does not get Ready, the certificate is not signed), what this run
created is removed again.

It waits until the workspace is Ready and the credential may use it, so the
kubeconfig works when the command returns; --wait=false returns at once.`,
		Example: (`  # alex with the defaults, in workspace workplace1
  tenancy user add alex --namespace workplace1

  # bob with the Arena user file, and a token where the cluster cannot sign certificates
  tenancy user add bob --namespace workplace2 --config bob.yaml --credential token

  # the kubeconfig into a file of your choice
  tenancy user add alex --namespace workplace1 --kubeconfig-out ~/alex.kubeconfig

  # print the User and Workspace instead of creating them
  tenancy user add tom --namespace workplace3 --config tom.yaml --dry-run`),
		Args: cmdutil.ExactName("user name", "alex"),
		RunE: cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.Namespace, "namespace", "n", "", "name of the user's workspace and namespace; default NAME")
	fl.StringVar(&o.ConfigFile, "config", "", "user file: quota, roles, clusterRoles (as in Arena), class, ownerRole, groups, contributors, limitRange")
	fl.StringVar(&o.Class, "class", "", "WorkspaceClass of the workspace; default the config's class, else the cluster's default class")
	fl.StringArrayVar(&o.Groups, "group", nil, "group the user belongs to (repeatable); added to the config's groups")
	fl.BoolVar(&o.Force, "force", false, "update an existing user and workspace to this configuration instead of failing")
	fl.BoolVar(&o.DryRun, "dry-run", false, "print the User and Workspace as YAML (for kubectl apply -f) and change nothing; after applying them, 'user kubeconfig NAME' issues the credential")
	fl.BoolVar(&o.Wait, "wait", true, "wait until the workspace is Ready and the credential may use it; --wait=false returns at once")
	fl.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long --wait waits")
	fl.BoolVar(&o.PasswordStdin, "password-stdin", false, "read the user's password for the web UI and REST API from the first line of stdin; default: generate one, shown once")
	o.cred.addFlags(fl)
	o.groups.addFlags(fl)
	_ = cmd.RegisterFlagCompletionFunc("class", cmdutil.CompleteClasses(f))
	return cmd
}

// Complete reads the user file, fills in defaults and takes the admin's
// clients.
func (o *AddOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.self = f.Streams, f.Self
	o.Name = args[0]
	if o.Namespace == "" {
		o.Namespace = o.Name
	}
	o.cred.complete(o.Name)
	o.config = &userconfig.Config{}
	if o.ConfigFile != "" {
		c, err := userconfig.Load(o.ConfigFile)
		if err != nil {
			return err
		}
		o.config = c
	}
	if o.Class == "" {
		o.Class = o.config.Class
	}
	if o.PasswordStdin {
		pw, err := readPasswordLine(o.streams.In)
		if err != nil {
			return err
		}
		o.password = pw
	}
	groups := append(append([]string(nil), o.config.Groups...), o.Groups...)
	o.Groups = nil
	for _, g := range groups {
		if !slices.Contains(o.Groups, g) {
			o.Groups = append(o.Groups, g)
		}
	}
	var err error
	o.admin, err = userConnect(f)
	return err
}

// Validate checks everything that can be checked without the cluster.
func (o *AddOptions) Validate() error {
	if err := validateUserName(o.Name); err != nil {
		return err
	}
	if err := validateUserWorkspaceName(o.Namespace); err != nil {
		return err
	}
	for _, g := range o.Groups {
		if err := userconfig.ValidateGroup(g); err != nil {
			return fmt.Errorf("--group: %w", err)
		}
	}
	if err := o.groups.validate(o.Groups); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Subdomain(o.Class); o.Class != "" && len(errs) > 0 {
		return fmt.Errorf("--class %q is not a valid WorkspaceClass name", o.Class)
	}
	if err := cmdutil.ValidateTimeout(o.Timeout); err != nil {
		return err
	}
	if err := o.print.Validate(); err != nil {
		return err
	}
	if o.PasswordStdin {
		if err := passwords.Check(o.Name, o.password); err != nil {
			return fmt.Errorf("--password-stdin: %w", err)
		}
	}
	return o.cred.validate(!o.DryRun)
}

// userAddPlan is what a run will write: the objects, and what was there.
type userAddPlan struct {
	user    *tenancyv1.User
	ws      *tenancyv1.Workspace
	oldUser *tenancyv1.User      // nil: the User is created
	oldWS   *tenancyv1.Workspace // nil: the Workspace is created
}

// Run checks the cluster, then creates (or, with --force, updates) the
// User and the Workspace, waits until the workspace is Ready, and issues
// the credential.
func (o *AddOptions) Run(ctx context.Context) (err error) {
	out := progress(o.streams, o.print)
	a := o.admin
	plan, err := o.plan(ctx, a)
	if err != nil {
		return err
	}
	if o.DryRun {
		return userWriteManifests(o.streams.Out, scheme.New(), plan.user, plan.ws)
	}
	if _, err := o.cred.cluster(a); err != nil {
		return err
	}

	undo := &userRollback{}
	defer func() {
		if err != nil {
			err = errors.Join(err, undo.run(ctx, o.streams.ErrOut))
		}
	}()
	if err := o.applyUser(ctx, a, plan, undo); err != nil {
		return err
	}
	if err := o.setPassword(ctx, a, plan, undo); err != nil {
		return err
	}
	if err := o.applyWorkspace(ctx, a, plan, undo); err != nil {
		return err
	}
	if o.Wait {
		if err := cmdutil.ForReady(ctx, a.c, o.Timeout, plan.ws.Name); err != nil {
			return err
		}
		fmt.Fprintf(out, "Workspace %s is Ready\n", plan.ws.Name)
	}

	is, err := userIssueCredential(ctx, a, plan.user, plan.ws.Name, plan.ws.Name, &o.cred, o.Wait, o.Timeout, undo, out)
	if err != nil {
		return err
	}
	userKubeconfigHint(out, o.cred.KubeconfigOut, is, plan.ws.Name)
	return printUser(o.streams, o.print, plan.user)
}

// plan reads the cluster and decides what to write; it changes nothing.
func (o *AddOptions) plan(ctx context.Context, a *userAdmin) (*userAddPlan, error) {
	p := &userAddPlan{}
	want := desiredUser(o.Name, o.Groups)
	cur := &tenancyv1.User{}
	switch err := a.c.Get(ctx, client.ObjectKey{Name: o.Name}, cur); {
	case err == nil:
		if !o.Force {
			return nil, fmt.Errorf("user %s exists; use --force to update it", o.Name)
		}
		p.oldUser = cur.DeepCopy()
		cur.Labels = userMergeLabels(cur.Labels, want.Labels)
		cur.Spec.Groups = want.Spec.Groups
		cur.APIVersion, cur.Kind = want.APIVersion, want.Kind
		p.user = cur
	case apierrors.IsNotFound(err):
		p.user = want
	default:
		return nil, fmt.Errorf("read User %s: %w", o.Name, err)
	}

	wantWS := desiredUserWorkspace(o.Namespace, o.Name, o.Class, o.config)
	ws := &tenancyv1.Workspace{}
	switch err := a.c.Get(ctx, client.ObjectKey{Name: o.Namespace}, ws); {
	case err == nil:
		if err := o.checkExisting(ws); err != nil {
			return nil, err
		}
		p.oldWS = ws.DeepCopy()
		ws.Labels = userMergeLabels(ws.Labels, wantWS.Labels)
		setUserWorkspaceSpec(&ws.Spec, o.Name, o.Class, o.config)
		ws.APIVersion, ws.Kind = wantWS.APIVersion, wantWS.Kind
		p.ws = ws
	case apierrors.IsNotFound(err):
		ns := &corev1.Namespace{}
		switch err := a.c.Get(ctx, client.ObjectKey{Name: o.Namespace}, ns); {
		case err == nil && tenancyv1.IsManagedFor(ns, o.Namespace):
			return nil, fmt.Errorf("namespace %q of a deleted workspace is still terminating: wait until it is gone, or choose another --namespace", o.Namespace)
		case err == nil:
			return nil, fmt.Errorf("namespace %q already exists and is not a Tenancy workspace: choose another --namespace (Tenancy never takes over a namespace)", o.Namespace)
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("read namespace %s: %w", o.Namespace, err)
		}
		p.ws = wantWS
	default:
		return nil, fmt.Errorf("read Workspace %s: %w", o.Namespace, err)
	}

	if o.Class != "" {
		if err := a.c.Get(ctx, client.ObjectKey{Name: o.Class}, &tenancyv1.WorkspaceClass{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("--class: WorkspaceClass %q does not exist ('kubectl get workspaceclasses' lists them)", o.Class)
			}
			return nil, fmt.Errorf("read WorkspaceClass %s: %w", o.Class, err)
		}
	}
	if err := userCheckGroups(ctx, a.c, o.Groups, o.groups.AllowPrivileged); err != nil {
		return nil, err
	}
	if tenancyv1.CredentialKind(o.cred.Kind) == tenancyv1.CredentialToken {
		sa := credentials.ServiceAccountFor(o.Name)
		got, err := a.cs.CoreV1().ServiceAccounts(sa.Namespace).Get(ctx, sa.Name, userGetOptions)
		if err == nil && got.Labels[tenancyv1.LabelUser] != o.Name {
			return nil, fmt.Errorf("ServiceAccount %s/%s exists and is not User %s's token ServiceAccount: remove it, or use --credential cert", sa.Namespace, sa.Name, o.Name)
		}
	}
	return p, nil
}

// checkExisting says whether an existing workspace may be updated.
func (o *AddOptions) checkExisting(ws *tenancyv1.Workspace) error {
	switch {
	case !ws.DeletionTimestamp.IsZero():
		return fmt.Errorf("workspace %s is being deleted: wait until it is gone, or choose another --namespace", ws.Name)
	case ws.Spec.Owner == nil:
		if !o.Force {
			return fmt.Errorf("workspace %s exists and has no owner; use --force to make User %s its owner", ws.Name, o.Name)
		}
	case !ws.IsOwnedByUser(o.Name):
		return fmt.Errorf("namespace %q is the workspace of %s %s: choose another --namespace", ws.Name, ws.Spec.Owner.Kind, ws.Spec.Owner.Name)
	case !o.Force:
		return fmt.Errorf("workspace %s exists (owner User %s); use --force to update it", ws.Name, o.Name)
	}
	return nil
}

func (o *AddOptions) applyUser(ctx context.Context, a *userAdmin, p *userAddPlan, undo *userRollback) error {
	out := progress(o.streams, o.print)
	if p.oldUser == nil {
		if err := a.c.Create(ctx, p.user, client.FieldOwner(userFieldManager)); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("user %s exists; use --force to update it", o.Name)
			}
			return fmt.Errorf("create User %s: %w", o.Name, err)
		}
		u := p.user
		undo.add("deleted User "+u.Name, func(ctx context.Context) error {
			return client.IgnoreNotFound(a.c.Delete(ctx, &tenancyv1.User{ObjectMeta: userObjectMeta(u.Name)}))
		})
		fmt.Fprintf(out, "User %s created\n", o.Name)
		return nil
	}
	if err := a.c.Update(ctx, p.user, client.FieldOwner(userFieldManager)); err != nil {
		return fmt.Errorf("update User %s: %w", o.Name, err)
	}
	old := p.oldUser
	undo.add("restored the spec of User "+old.Name, func(ctx context.Context) error {
		cur := &tenancyv1.User{}
		if err := a.c.Get(ctx, client.ObjectKeyFromObject(old), cur); err != nil {
			return err
		}
		cur.Labels, cur.Spec = old.Labels, old.Spec
		return a.c.Update(ctx, cur, client.FieldOwner(userFieldManager))
	})
	fmt.Fprintf(out, "User %s updated\n", o.Name)
	return nil
}

func (o *AddOptions) applyWorkspace(ctx context.Context, a *userAdmin, p *userAddPlan, undo *userRollback) error {
	out := progress(o.streams, o.print)
	ws := p.ws
	if p.oldWS == nil {
		if err := a.c.Create(ctx, ws, client.FieldOwner(userFieldManager)); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("workspace %s was created meanwhile by somebody else: choose another --namespace", ws.Name)
			}
			return fmt.Errorf("create Workspace %s: %w", ws.Name, err)
		}
		created := &tenancyv1.Workspace{ObjectMeta: userObjectMeta(ws.Name)}
		created.UID = ws.UID
		undo.add("deleted Workspace "+ws.Name, func(ctx context.Context) error {
			// The finalizer is on the Workspace from its creation, so it goes
			// only once its namespace is gone.
			return userDeleteAndWait(ctx, a.c, created)
		})
		fmt.Fprintf(out, "Workspace %s created, owned by User %s\n", ws.Name, o.Name)
		return nil
	}
	if err := a.c.Update(ctx, ws, client.FieldOwner(userFieldManager)); err != nil {
		return fmt.Errorf("update Workspace %s: %w", ws.Name, err)
	}
	old := p.oldWS
	undo.add("restored the spec of Workspace "+old.Name, func(ctx context.Context) error {
		cur := &tenancyv1.Workspace{}
		if err := a.c.Get(ctx, client.ObjectKeyFromObject(old), cur); err != nil {
			return err
		}
		cur.Labels, cur.Spec = old.Labels, old.Spec
		return a.c.Update(ctx, cur, client.FieldOwner(userFieldManager))
	})
	fmt.Fprintf(out, "Workspace %s updated\n", ws.Name)
	return nil
}

// setPassword gives the user a password for the web UI and REST API: the
// one from stdin, or a generated one (shown once). A user updated with
// --force keeps the password they have unless one is given.
func (o *AddOptions) setPassword(ctx context.Context, a *userAdmin, p *userAddPlan, undo *userRollback) error {
	if p.oldUser != nil && p.oldUser.Spec.PasswordSecret != "" && !o.PasswordStdin {
		return nil
	}
	pw := o.password
	if pw == "" {
		pw = passwords.Generate()
	}
	if err := SetPassword(ctx, a.c, p.user, pw); err != nil {
		return err
	}
	name := p.user.Name
	if p.oldUser == nil {
		undo.add("deleted the password of "+name, func(ctx context.Context) error {
			return passwords.DeleteAll(ctx, a.c, name)
		})
	}
	out := progress(o.streams, o.print)
	if o.PasswordStdin {
		fmt.Fprintf(out, "Password of %s set (for 'tenancy serve': web UI and REST API)\n", name)
	} else {
		fmt.Fprintf(out, "Password of %s for the web UI and REST API (shown once): %s\n", name, pw)
	}
	return nil
}
