package user

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/cli/cmdutil"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// PasswdOptions are the flags of `tenancy user passwd`.
type PasswdOptions struct {
	streams genericiooptions.IOStreams
	admin   *userAdmin
	self    string

	Name          string
	PasswordStdin bool
}

func newPasswdCommand(f *cmdutil.Factory) *cobra.Command {
	o := &PasswdOptions{}
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password for the web UI and REST API (generated, or read from stdin)",
		Long: `Give User NAME a new password for 'tenancy serve' (the web UI and the REST
API). With no flag a strong one (20 letters and digits) is generated and
shown once; with --password-stdin the first line of standard input is the
password. Passwords have at least 12 characters and are not the user's name.

Only an argon2id hash is stored, in the Secret password-NAME in
tenancy-system. Every session of the user ends; API tokens stay.`,
		Example: (`  tenancy user passwd alex
  printf '%s\n' "$NEW_PASSWORD" | tenancy user passwd alex --password-stdin`),
		Args:              cmdutil.ExactName("user name", "alex"),
		ValidArgsFunction: cmdutil.CompleteUsers(f),
		RunE:              cmdutil.RunE(f, o),
	}
	cmd.Flags().BoolVar(&o.PasswordStdin, "password-stdin", false, "read the password from the first line of standard input instead of generating one")
	return cmd
}

// Complete takes the name and the admin's clients.
func (o *PasswdOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.streams, o.self, o.Name = f.Streams, f.Self, args[0]
	var err error
	o.admin, err = userConnect(f)
	return err
}

// Validate checks the name.
func (o *PasswdOptions) Validate() error { return validateUserName(o.Name) }

// readPasswordLine is the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("--password-stdin: standard input holds no password (the first line is empty)")
	}
	return line, nil
}

// Run sets the password.
func (o *PasswdOptions) Run(ctx context.Context) error {
	pw, generated := "", false
	if o.PasswordStdin {
		var err error
		if pw, err = readPasswordLine(o.streams.In); err != nil {
			return err
		}
		if err := passwords.Check(o.Name, pw); err != nil {
			return err
		}
	} else {
		pw, generated = passwords.Generate(), true
	}
	a := o.admin
	u := &tenancyv1.User{}
	if err := a.c.Get(ctx, client.ObjectKey{Name: o.Name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("user %s does not exist ('%s user add %s' creates it)", o.Name, o.self, o.Name)
		}
		return fmt.Errorf("read User %s: %w", o.Name, err)
	}
	if err := SetPassword(ctx, a.c, u, pw); err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(o.streams.Out, "Password of %s (shown once): %s\n", o.Name, pw)
	} else {
		fmt.Fprintf(o.streams.Out, "Password of %s changed\n", o.Name)
	}
	return nil
}

// SetPassword stores pw as u's password and points u at it.
func SetPassword(ctx context.Context, c client.Client, u *tenancyv1.User, pw string) error {
	if err := passwords.EnsureNamespace(ctx, c); err != nil {
		return err
	}
	if err := passwords.Set(ctx, c, u.Name, pw); err != nil {
		return err
	}
	if u.Spec.PasswordSecret == passwords.SecretName(u.Name) {
		return nil
	}
	patch := client.MergeFrom(u.DeepCopy())
	u.Spec.PasswordSecret = passwords.SecretName(u.Name)
	if err := c.Patch(ctx, u, patch, client.FieldOwner(userFieldManager)); err != nil {
		return fmt.Errorf("point User %s at its password Secret: %w", u.Name, err)
	}
	return nil
}
