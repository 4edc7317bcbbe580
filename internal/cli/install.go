package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenancy-dev/tenancy/internal/controller"
	"github.com/tenancy-dev/tenancy/internal/install"
)

// InstallOptions are the flags of `tenancy install`.
type InstallOptions struct {
	streams    genericiooptions.IOStreams
	kube       *genericclioptions.ConfigFlags
	Components []string
	Image      string
	Replicas   int32
	DryRun     bool
	Output     string
	Wait       time.Duration
}

func newInstallCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &InstallOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install Tenancy into a cluster: its API, the controller and the server",
		Long: `Install Tenancy into the cluster of your kubeconfig, by server-side apply,
and wait until it runs. Run it again to upgrade: it keeps every workspace,
user and credential.

Components:
  crds        the namespace tenancy-system, the CRDs, the ClusterRoles
              tenancy:admin, tenancy:workspace-creator and
              tenancy:workload-manager, and the admission policies
  controller  Deployment tenancy-controller (leader-elected replicas), its
              ServiceAccount and exactly the RBAC it needs
  server      Deployment and Service tenancy-server (the web UI and REST API,
              Service port 80), its ServiceAccount and RBAC

--dry-run prints the manifests instead (YAML, for review or GitOps) and
needs no cluster; they are exactly what install applies.`,
		Example: `  # review, then install everything
  tenancy install --dry-run -o yaml > tenancy.yaml
  tenancy install

  # only the API, to run 'tenancy controller' elsewhere
  tenancy install --components crds`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(cmd); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = kubeFlags(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&o.Components, "components", install.Components, "what to install: "+strings.Join(install.Components, ","))
	f.StringVar(&o.Image, "image", install.DefaultImage(), "image of the controller and the server (the one this binary was built into)")
	f.Int32Var(&o.Replicas, "replicas", 2, "replicas of the controller and of the server (never two on one node)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the manifests instead of applying them; needs no cluster")
	f.StringVarP(&o.Output, "output", "o", "", "with --dry-run: the format, yaml")
	f.DurationVar(&o.Wait, "wait", 5*time.Minute, "how long to wait for the controller and the server to run")
	return cmd
}

// Validate checks the flags.
func (o *InstallOptions) Validate(cmd *cobra.Command) error {
	if o.Replicas < 1 || o.Replicas > 10 {
		return fmt.Errorf("--replicas must be between 1 and 10, got %d", o.Replicas)
	}
	if o.Output != "" && o.Output != "yaml" {
		return fmt.Errorf("--output %q is not supported: use -o yaml", o.Output)
	}
	if o.Output != "" && !o.DryRun {
		return errors.New("-o yaml prints the manifests: it goes with --dry-run")
	}
	if o.Image == "" {
		return errors.New("--image must name an image, e.g. ghcr.io/tenancy-dev/tenancy:v0.1.0")
	}
	if !cmd.Flags().Changed("image") && install.Image == "" && !o.DryRun && (o.has(install.ComponentController) || o.has(install.ComponentServer)) {
		fmt.Fprintf(o.streams.ErrOut, "warning: this binary was not built by 'make image' and names no image of its own; installing %s (--image chooses)\n", o.Image)
	}
	return o.options(false).Validate()
}

func (o *InstallOptions) has(c string) bool {
	return slices.Contains(o.Components, c)
}

func (o *InstallOptions) options(mutating bool) install.Options {
	return install.Options{Components: o.Components, Image: o.Image, Replicas: o.Replicas, MutatingPolicies: mutating}
}

// Run prints or applies the manifests.
func (o *InstallOptions) Run(ctx context.Context) error {
	if o.DryRun {
		// No cluster to ask: the manifests for Kubernetes 1.36 on, with
		// the MutatingAdmissionPolicies.
		objs, err := install.Render(o.options(true))
		if err != nil {
			return err
		}
		y, err := install.YAML(objs)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.streams.Out, "# Tenancy %s, image %s: 'tenancy install --dry-run -o yaml'.\n# The MutatingAdmissionPolicies need Kubernetes 1.36 or later; drop them on older clusters.\n", strings.Join(o.Components, ","), o.Image)
		_, err = o.streams.Out.Write(y)
		return err
	}
	cfg, err := o.kube.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	objs, err := installComponents(ctx, c, cfg, o.options(false), o.streams.ErrOut)
	if err != nil {
		return err
	}
	if deps := install.Deployments(objs); len(deps) > 0 {
		fmt.Fprintf(o.streams.Out, "Waiting for %s to run\n", strings.Join(deps, " and "))
		if err := install.WaitAvailable(ctx, c, o.Wait, deps...); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.streams.Out, "Tenancy is installed: %s (%d objects, image %s)\n", strings.Join(o.Components, ", "), len(objs), o.Image)
	return nil
}

// installComponents renders and applies o's components, with the
// MutatingAdmissionPolicies where the cluster serves them (warning on w
// where it does not).
func installComponents(ctx context.Context, c client.Client, cfg *rest.Config, o install.Options, w io.Writer) ([]*unstructured.Unstructured, error) {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	o.MutatingPolicies = install.MutatingServed(disc)
	if !o.MutatingPolicies {
		warnNoMutating(w)
	}
	objs, err := install.Render(o)
	if err != nil {
		return nil, err
	}
	return objs, install.Apply(ctx, c, objs)
}

func warnNoMutating(w io.Writer) {
	fmt.Fprintln(w, "warning: this cluster serves no MutatingAdmissionPolicy (Kubernetes 1.36 on): the controller adds the workspace finalizer after creation, "+
		"self-serve workspaces must name their class, and the creator of a workspace is not recorded (see README, Known limits)")
}
