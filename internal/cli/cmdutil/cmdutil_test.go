package cmdutil

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTranslate(t *testing.T) {
	forbidden := func(msg string) error {
		err := apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("x"))
		err.ErrStatus.Message = msg
		return fmt.Errorf("list jobs in ws: %w", err)
	}
	for _, tc := range []struct {
		err  error
		hint string
	}{
		{forbidden(`jobs.batch is forbidden: User "tom" cannot list resource "jobs" in API group "batch" in the namespace "workplace1"`),
			"Namespace workplace1 is not shared with you (or not with this right). If it is a workspace, its owner or a Tenancy admin can allow it: kubectl tenancy workspace share workplace1 --user tom --role view"},
		{forbidden(`jobs.batch "x" is forbidden: User "system:serviceaccount:tenancy-system:user-tom" cannot delete resource "jobs" in API group "batch" in the namespace "ws"`),
			"kubectl tenancy workspace share ws --user tom --role edit"},
		{forbidden(`pods is forbidden: User "system:serviceaccount:ci:bot" cannot create resource "pods" in API group "" in the namespace "ml"`),
			"kubectl tenancy workspace share ml --serviceaccount ci/bot --role edit"},
		{forbidden(`workspaces.tenancy.dev is forbidden: User "carol" cannot create resource "workspaces" in API group "tenancy.dev" at the cluster scope`),
			"To create and manage your own workspaces, ask a Tenancy admin to run: kubectl tenancy grant create-workspaces --user carol"},
		{forbidden(`users.tenancy.dev is forbidden: User "jane" cannot list resource "users" in API group "tenancy.dev" at the cluster scope`),
			"Only a Tenancy admin (ClusterRole tenancy:admin) may list users cluster-wide"},
		{forbidden(`denied request: ValidatingAdmissionPolicy 'tenancy-self-serve' … User "jane" cannot create resource "workspaces" in API group "tenancy.dev"`), ""},
		{fmt.Errorf("list Users: %w", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "tenancy.dev", Kind: "User"}}),
			"Tenancy is not installed in this cluster (its CustomResourceDefinitions are missing): run `kubectl tenancy install` as a cluster admin"},
		{errors.New("plain"), ""},
	} {
		got := Translate(tc.err, "kubectl tenancy")
		if !errors.Is(got, tc.err) && got != tc.err {
			t.Errorf("%v: the cause is lost", tc.err)
		}
		if apierrors.IsForbidden(tc.err) && !apierrors.IsForbidden(got) {
			t.Errorf("%v: apierrors.IsForbidden no longer sees it", tc.err)
		}
		switch {
		case tc.hint == "" && got.Error() != tc.err.Error():
			t.Errorf("%v: got a hint: %v", tc.err, got)
		case tc.hint != "" && (!strings.Contains(got.Error(), tc.hint) || !strings.HasPrefix(got.Error(), tc.err.Error()+"\n")):
			t.Errorf("%v:\ngot  %v\nwant the hint %q", tc.err, got, tc.hint)
		}
		if again := Translate(got, "kubectl tenancy"); again.Error() != got.Error() {
			t.Errorf("translated twice: %v", again)
		}
	}
}

func TestOutputIsAlwaysAPrintFormat(t *testing.T) {
	p := NewPrintFlags("", false).WithFileFlag("--kubeconfig-out")
	cmd := &cobra.Command{}
	p.AddFlags(cmd)
	for format, want := range map[string]string{
		"":                "",
		"yaml":            "",
		"jsonpath={.a}":   "",
		"alex.kubeconfig": "to write the file alex.kubeconfig, use --kubeconfig-out alex.kubeconfig",
		"wide":            "to write the file wide, use --kubeconfig-out wide",
	} {
		p.SetFormat(format)
		err := p.Validate()
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("-o %q: %v, want %q", format, err, want)
		}
	}
	tables := NewPrintFlags("", true)
	tables.AddFlags(&cobra.Command{})
	tables.SetFormat("xml")
	if err := tables.Validate(); err == nil || !strings.HasPrefix(err.Error(), `-o "xml" is not an output format: use wide, json, yaml`) {
		t.Errorf("-o xml: %v", err)
	}
}

func TestUseDisplayName(t *testing.T) {
	root := &cobra.Command{Use: "tenancy"}
	sub := &cobra.Command{Use: "add NAME", Long: "Then run 'tenancy user kubeconfig NAME'; Tenancy stays.",
		Example: "  tenancy user add alex\n  tenancy.dev/x stays", Run: func(*cobra.Command, []string) {}}
	user := &cobra.Command{Use: "user"}
	user.AddCommand(sub)
	root.AddCommand(user)
	UseDisplayName(root, "kubectl tenancy")
	if diff := cmp.Diff("  kubectl tenancy user add alex\n  tenancy.dev/x stays", sub.Example); diff != "" {
		t.Errorf("example (-want +got):\n%s", diff)
	}
	if sub.Long != "Then run 'kubectl tenancy user kubeconfig NAME'; Tenancy stays." {
		t.Errorf("long = %q", sub.Long)
	}
	if got := sub.UseLine(); got != "kubectl tenancy user add NAME" {
		t.Errorf("usage line = %q", got)
	}
}
