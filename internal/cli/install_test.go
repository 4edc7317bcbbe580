package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestInstallFlags(t *testing.T) {
	for args, want := range map[string]string{
		"install -o json --dry-run":                          `--output "json" is not supported`,
		"install -o yaml":                                    "-o yaml prints the manifests: it goes with --dry-run",
		"install --replicas 0 --dry-run":                     "--replicas must be between 1 and 10",
		"install --components crds,web --dry-run":            `unknown component "web": choose from crds,controller,server`,
		"uninstall --keep-namespaces --delete-workspaces":    "exclude each other",
		"install --dry-run --image= --components controller": "--image must name an image",
	} {
		var out bytes.Buffer
		err := Run(t.Context(), strings.Fields(args), nil, &out, &out)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("tenancy %s: %v, want an error saying %q", args, err, want)
		}
	}
}

func TestInstallDryRunNeedsNoCluster(t *testing.T) {
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	var out, errOut bytes.Buffer
	if err := Run(t.Context(), []string{"install", "--dry-run", "-o", "yaml", "--image", "example.com/t:1", "--components", "controller"}, nil, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	y := out.String()
	for _, want := range []string{"kind: Deployment", "name: tenancy-controller", "image: example.com/t:1", "--leader-election-namespace=tenancy-system"} {
		if !strings.Contains(y, want) {
			t.Errorf("dry-run output lacks %q", want)
		}
	}
	if strings.Contains(y, "CustomResourceDefinition") || strings.Contains(y, "name: tenancy-server") {
		t.Errorf("dry-run --components controller printed other components")
	}
}
