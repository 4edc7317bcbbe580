package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/controller"
)

// WorkspaceCreateOptions are the flags of `tenancy workspace create`.
type WorkspaceCreateOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	print   *genericclioptions.PrintFlags

	Name         string
	Owner        string
	Class        string
	Contributors []string
	Wait         bool
	Timeout      time.Duration

	owner        *tenancyv1.Subject // parsed from Owner; nil means the caller
	contributors []tenancyv1.Contributor
}

func newWorkspaceCreateCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &WorkspaceCreateOptions{streams: streams, print: genericclioptions.NewPrintFlags("created").WithTypeSetter(controller.Scheme())}
	cmd := &cobra.Command{
		Use:   "create NAME [--class CLASS] [--owner USER] [--contributor KIND:NAME=ROLE ...]",
		Short: "Create a workspace: a namespace with quota, RBAC and sharing",
		Long: `Create a workspace NAME (also the name of its namespace).

The owner is you (as the API server knows you), unless --owner names
someone else, which only a Tenancy admin may do. The class is the default
WorkspaceClass unless --class names one; without an admin's right you may
use only the classes you were granted. Contributors share the workspace:
KIND is user (the default), group or serviceaccount (namespace/name), ROLE
is admin, edit or view.`,
		Example: `  # Your own workspace, of the default class, once it is ready
  tenancy workspace create jane-ml --wait

  # Of the gpu class, shared with bob (read-only) and the ml-team group
  tenancy workspace create jane-gpu --class gpu --contributor bob=view --contributor group:ml-team=edit

  # As an admin, for someone else
  tenancy workspace create team-a --owner group:team-a --class standard`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Complete(args)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = kubeFlags(cmd)
	o.print.AddFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Owner, "owner", "", "owner of the workspace: USER, user:USER, group:GROUP or serviceaccount:NAMESPACE/NAME (admins only; default: you)")
	f.StringVar(&o.Class, "class", "", "WorkspaceClass of the workspace (default: the class marked default)")
	f.StringArrayVar(&o.Contributors, "contributor", nil, "share with KIND:NAME=ROLE, e.g. user:bob=view (repeatable)")
	f.BoolVar(&o.Wait, "wait", false, "wait until the workspace is Ready")
	f.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// Complete takes the name from the arguments.
func (o *WorkspaceCreateOptions) Complete(args []string) {
	if len(args) > 0 {
		o.Name = args[0]
	}
}

// Validate checks and parses the flags.
func (o *WorkspaceCreateOptions) Validate() error {
	if o.Name == "" {
		return errors.New("a workspace name is required: tenancy workspace create NAME")
	}
	if err := validateWorkspaceName(o.Name); err != nil {
		return err
	}
	if o.Owner != "" {
		s, err := parseSubject("--owner", o.Owner)
		if err != nil {
			return err
		}
		o.owner = &s
	}
	o.contributors = nil
	for _, s := range o.Contributors {
		c, err := parseContributor(s)
		if err != nil {
			return err
		}
		for _, prev := range o.contributors {
			if sameSubject(prev.Subject, c.Subject) {
				return fmt.Errorf("--contributor %q: %s is listed twice", s, describeSubject(c.Subject))
			}
		}
		if o.owner != nil && sameSubject(*o.owner, c.Subject) {
			return fmt.Errorf("--contributor %q: %s is the owner; an owner cannot also be a contributor", s, describeSubject(c.Subject))
		}
		o.contributors = append(o.contributors, c)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	if _, err := o.print.ToPrinter(); err != nil {
		return err
	}
	return nil
}

// Run creates the workspace.
func (o *WorkspaceCreateOptions) Run(ctx context.Context) error {
	c, err := newClient(o.kube)
	if err != nil {
		return err
	}
	ws, err := o.workspace(ctx, c)
	if err != nil {
		return err
	}
	if err := c.Create(ctx, ws); err != nil {
		return explain(ctx, c, err)
	}
	human := *o.print.OutputFormat == ""
	if !o.Wait || human {
		if err := o.printObject(ws); err != nil {
			return err
		}
	}
	if !o.Wait {
		return nil
	}
	if err := waitReady(ctx, c, o.Timeout, ws.Name); err != nil {
		return err
	}
	if human {
		fmt.Fprintf(o.streams.Out, "workspace %s is Ready: kubectl -n %s get all\n", ws.Name, ws.Name)
		return nil
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ws), ws); err != nil {
		return explain(ctx, c, err)
	}
	return o.printObject(ws)
}

// workspace builds the Workspace, looking up the owner and class that were
// not given.
func (o *WorkspaceCreateOptions) workspace(ctx context.Context, c client.Client) (*tenancyv1.Workspace, error) {
	owner := o.owner
	if owner == nil {
		me, err := whoAmI(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := validateSubjectName("your user name", me.Username); err != nil {
			return nil, fmt.Errorf("you are %q, which cannot own a workspace (%v): name an owner with --owner", me.Username, err)
		}
		owner = &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: me.Username}
		for _, ct := range o.contributors {
			if sameSubject(*owner, ct.Subject) {
				return nil, fmt.Errorf("you own the workspace; you cannot also be a contributor (drop --contributor for %s)", describeSubject(ct.Subject))
			}
		}
	}
	class, err := o.class(ctx, c)
	if err != nil {
		return nil, err
	}
	return &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Spec:       tenancyv1.WorkspaceSpec{Owner: owner, Class: class, Contributors: o.contributors},
	}, nil
}

// class checks --class, or finds the default class, so that the workspace
// names its class (as the self-serve policy requires).
func (o *WorkspaceCreateOptions) class(ctx context.Context, c client.Client) (string, error) {
	classes, err := classList(ctx, c)
	if err != nil {
		if o.Class != "" {
			return o.Class, nil // the API server and the controller will judge it
		}
		return "", fmt.Errorf("find the default WorkspaceClass: %w (name one with --class)", explain(ctx, c, err))
	}
	if o.Class != "" {
		return o.Class, checkClasses(classes, o.Class)
	}
	if d := defaultClass(classes); d != "" {
		return d, nil
	}
	if len(classes) == 0 {
		return "", nil // no classes at all: the workspace has only its own settings
	}
	return "", fmt.Errorf("no WorkspaceClass is marked default (annotation %s: \"true\"): choose one with --class; classes: %s",
		tenancyv1.AnnotationIsDefaultClass, classNames(classes))
}

func (o *WorkspaceCreateOptions) printObject(ws *tenancyv1.Workspace) error {
	p, err := o.print.ToPrinter()
	if err != nil {
		return err
	}
	ws.ManagedFields = nil
	return p.PrintObj(ws, o.streams.Out)
}
