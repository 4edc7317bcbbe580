package cmdutil

import (
	"context"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Options is every command's shape, as kubectl's: Complete takes the
// arguments and the clients from the Factory, Validate checks the flags,
// Run does the work.
type Options interface {
	Complete(f *Factory, cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// RunE runs o's Complete, Validate and Run, for cobra.Command.RunE.
func RunE(f *Factory, o Options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// selfInText finds "tenancy " where a person would type it: at the start
// of a line, after blanks, a quote or a parenthesis.
var selfInText = regexp.MustCompile("(^|[\\s'\"(`])tenancy ")

// UseDisplayName makes every usage line and example of root and its
// subcommands read name ("kubectl tenancy") instead of "tenancy".
func UseDisplayName(root *cobra.Command, name string) {
	if name == "tenancy" {
		return
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = name
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Example = selfInText.ReplaceAllString(c.Example, "${1}"+name+" ")
		c.Long = selfInText.ReplaceAllString(c.Long, "${1}"+name+" ")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// ExactName is cobra.ExactArgs(1) with a message that says what is missing:
// what is "workspace name", "user name", ….
func ExactName(what, example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			path := cmd.CommandPath()
			return fmt.Errorf("'%s' takes exactly one %s, e.g. '%s %s'; got %d arguments", path, what, path, example, len(args))
		}
		return nil
	}
}

// CompleteWorkspaces completes the names of the workspaces the caller may
// list.
func CompleteWorkspaces(f *Factory) cobra.CompletionFunc {
	return completeNames(f, func(ctx context.Context, c client.Client) ([]string, error) {
		list := &tenancyv1.WorkspaceList{}
		if err := c.List(ctx, list); err != nil {
			return nil, err
		}
		var out []string
		for _, ws := range list.Items {
			out = append(out, ws.Name)
		}
		return out, nil
	})
}

// CompleteUsers completes the names of Tenancy's Users.
func CompleteUsers(f *Factory) cobra.CompletionFunc {
	return completeNames(f, func(ctx context.Context, c client.Client) ([]string, error) {
		list := &tenancyv1.UserList{}
		if err := c.List(ctx, list); err != nil {
			return nil, err
		}
		var out []string
		for _, u := range list.Items {
			out = append(out, u.Name)
		}
		return out, nil
	})
}

// CompleteClasses completes the names of the WorkspaceClasses.
func CompleteClasses(f *Factory) cobra.CompletionFunc {
	return completeNames(f, func(ctx context.Context, c client.Client) ([]string, error) {
		classes, err := ClassList(ctx, c)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, c := range classes {
			out = append(out, c.Name)
		}
		return out, nil
	})
}

// completeNames completes the first argument (for ValidArgsFunction) or a
// flag's value; nothing when the cluster cannot be asked.
func completeNames(f *Factory, list func(context.Context, client.Client) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		c, err := f.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		names, err := list(ctx, c)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
