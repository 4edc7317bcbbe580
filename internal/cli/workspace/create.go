package workspace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
)

// CreateOptions are the flags of `tenancy workspace create`.
type CreateOptions struct {
	streams genericiooptions.IOStreams
	client  client.Client
	print   *cmdutil.PrintFlags

	Name         string
	Owner        string
	Class        string
	Contributors []string
	Wait         bool
	Timeout      time.Duration

	owner        *tenancyv1.Subject // parsed from Owner; nil means the caller
	contributors []tenancyv1.Contributor
}

func newCreateCommand(f *cmdutil.Factory) *cobra.Command {
	o := &CreateOptions{print: cmdutil.NewPrintFlags("created", false)}
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
		RunE: cmdutil.RunE(f, o),
	}
	o.print.AddFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.Owner, "owner", "", "owner of the workspace: USER, user:USER, group:GROUP or serviceaccount:NAMESPACE/NAME (admins only; default: you)")
	fl.StringVar(&o.Class, "class", "", "WorkspaceClass of the workspace (default: the class marked default)")
	fl.StringArrayVar(&o.Contributors, "contributor", nil, "share with KIND:NAME=ROLE, e.g. user:bob=view (repeatable)")
	fl.BoolVar(&o.Wait, "wait", false, "wait until the workspace is Ready")
	fl.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "how long --wait waits")
	_ = cmd.RegisterFlagCompletionFunc("class", cmdutil.CompleteClasses(f))
	return cmd
}

// Complete takes the name from the arguments and the client.
func (o *CreateOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams = f.Streams
	if len(args) > 0 {
		o.Name = args[0]
	}
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks and parses the flags.
func (o *CreateOptions) Validate() error {
	if o.Name == "" {
		return errors.New("a workspace name is required: tenancy workspace create NAME")
	}
	if err := cmdutil.ValidateWorkspaceName(o.Name); err != nil {
		return err
	}
	if o.Owner != "" {
		s, err := cmdutil.ParseSubject("--owner", o.Owner)
		if err != nil {
			return err
		}
		o.owner = &s
	}
	o.contributors = nil
	for _, s := range o.Contributors {
		c, err := cmdutil.ParseContributor(s)
		if err != nil {
			return err
		}
		for _, prev := range o.contributors {
			if prev.Is(c.Subject) {
				return fmt.Errorf("--contributor %q: %s is listed twice", s, cmdutil.DescribeSubject(c.Subject))
			}
		}
		if o.owner != nil && o.owner.Is(c.Subject) {
			return fmt.Errorf("--contributor %q: %s is the owner; an owner cannot also be a contributor", s, cmdutil.DescribeSubject(c.Subject))
		}
		o.contributors = append(o.contributors, c)
	}
	if err := cmdutil.ValidateTimeout(o.Timeout); err != nil {
		return err
	}
	return o.print.Validate()
}

// Run creates the workspace.
func (o *CreateOptions) Run(ctx context.Context) error {
	c := o.client
	ws, err := o.workspace(ctx, c)
	if err != nil {
		return err
	}
	if err := c.Create(ctx, ws); err != nil {
		return err
	}
	human := o.print.Human()
	if !o.Wait || human {
		if err := o.print.Print(o.streams.Out, ws, nil); err != nil {
			return err
		}
	}
	if !o.Wait {
		return nil
	}
	if err := cmdutil.ForReady(ctx, c, o.Timeout, ws.Name); err != nil {
		return err
	}
	if human {
		fmt.Fprintf(o.streams.Out, "workspace %s is Ready: kubectl -n %s get all\n", ws.Name, ws.Name)
		return nil
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ws), ws); err != nil {
		return err
	}
	return o.print.Print(o.streams.Out, ws, nil)
}

// workspace builds the Workspace, looking up the owner and class that were
// not given.
func (o *CreateOptions) workspace(ctx context.Context, c client.Client) (*tenancyv1.Workspace, error) {
	owner := o.owner
	if owner == nil {
		me, err := cmdutil.WhoAmI(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := cmdutil.ValidateSubjectName("your user name", me.Username); err != nil {
			return nil, fmt.Errorf("you are %q, which cannot own a workspace (%v): name an owner with --owner", me.Username, err)
		}
		owner = &tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: me.Username}
		for _, ct := range o.contributors {
			if owner.Is(ct.Subject) {
				return nil, fmt.Errorf("you own the workspace; you cannot also be a contributor (drop --contributor for %s)", cmdutil.DescribeSubject(ct.Subject))
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
func (o *CreateOptions) class(ctx context.Context, c client.Client) (string, error) {
	classes, err := cmdutil.ClassList(ctx, c)
	if err != nil {
		if o.Class != "" {
			return o.Class, nil // the API server and the controller will judge it
		}
		return "", fmt.Errorf("find the default WorkspaceClass (name one with --class): %w", err)
	}
	if o.Class != "" {
		return o.Class, cmdutil.CheckClasses(classes, o.Class)
	}
	if d := cmdutil.DefaultClassName(classes); d != "" {
		return d, nil
	}
	if len(classes) == 0 {
		return "", nil // no classes at all: the workspace has only its own settings
	}
	return "", fmt.Errorf("no WorkspaceClass is marked default (annotation %s: \"true\"): choose one with --class; classes: %s",
		tenancyv1.AnnotationIsDefaultClass, cmdutil.ClassNames(classes))
}
