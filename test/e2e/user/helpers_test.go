//go:build integration

package user_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// referencesTo lists every object that refers to user: their User, the
// Workspaces they own or contribute to or that carry their label, their
// CSRs and ServiceAccounts, and every RoleBinding and ClusterRoleBinding
// naming User user or their token ServiceAccount.
func referencesTo(ctx context.Context, user string) ([]string, error) {
	var refs []string
	err := admin.Get(ctx, client.ObjectKey{Name: user}, &tenancyv1.User{})
	switch {
	case err == nil:
		refs = append(refs, "User "+user)
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	wss := &tenancyv1.WorkspaceList{}
	if err := admin.List(ctx, wss); err != nil {
		return nil, err
	}
	for _, ws := range wss.Items {
		if o := ws.Spec.Owner; o != nil && o.Kind == tenancyv1.UserKind && o.Name == user {
			refs = append(refs, "Workspace "+ws.Name+" (owner)")
		}
		for _, c := range ws.Spec.Contributors {
			if c.Kind == tenancyv1.UserKind && c.Name == user {
				refs = append(refs, "Workspace "+ws.Name+" (contributor)")
			}
		}
		if ws.Labels[tenancyv1.LabelUser] == user {
			refs = append(refs, "Workspace "+ws.Name+" (label)")
		}
	}
	// Listed whole and filtered here: user may be no valid label value.
	csrs := &certificatesv1.CertificateSigningRequestList{}
	if err := admin.List(ctx, csrs); err != nil {
		return nil, err
	}
	for _, c := range csrs.Items {
		if c.Labels[tenancyv1.LabelUser] == user || c.Spec.Username == user {
			refs = append(refs, "CertificateSigningRequest "+c.Name)
		}
	}
	sas := &corev1.ServiceAccountList{}
	if err := admin.List(ctx, sas); err != nil {
		return nil, err
	}
	for _, sa := range sas.Items {
		if sa.Labels[tenancyv1.LabelUser] == user || sa.Name == "user-"+user {
			refs = append(refs, "ServiceAccount "+sa.Namespace+"/"+sa.Name)
		}
	}
	names := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == rbacv1.UserKind && s.Name == user ||
				s.Kind == rbacv1.ServiceAccountKind && s.Name == "user-"+user {
				return true
			}
		}
		return false
	}
	rbs := &rbacv1.RoleBindingList{}
	if err := admin.List(ctx, rbs); err != nil {
		return nil, err
	}
	for _, b := range rbs.Items {
		if names(b.Subjects) {
			refs = append(refs, "RoleBinding "+b.Namespace+"/"+b.Name)
		}
	}
	crbs := &rbacv1.ClusterRoleBindingList{}
	if err := admin.List(ctx, crbs); err != nil {
		return nil, err
	}
	for _, b := range crbs.Items {
		if names(b.Subjects) {
			refs = append(refs, "ClusterRoleBinding "+b.Name)
		}
	}
	return refs, nil
}

// nothingRefersTo fails the test if any object refers to user, or if any
// of namespaces exists.
func nothingRefersTo(t *testing.T, user string, namespaces ...string) {
	t.Helper()
	ctx := context.Background()
	refs, err := referencesTo(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if err := admin.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
			refs = append(refs, fmt.Sprintf("Namespace %s (get: %v)", ns, err))
		}
	}
	if len(refs) > 0 {
		t.Errorf("objects still refer to %s:\n  %s", user, strings.Join(refs, "\n  "))
	}
}

// getUser reads User name.
func getUser(t *testing.T, name string) *tenancyv1.User {
	t.Helper()
	u := &tenancyv1.User{}
	if err := admin.Get(context.Background(), client.ObjectKey{Name: name}, u); err != nil {
		t.Fatalf("get User %s: %v", name, err)
	}
	return u
}

// getWorkspace reads Workspace name.
func getWorkspace(t *testing.T, name string) *tenancyv1.Workspace {
	t.Helper()
	ws := &tenancyv1.Workspace{}
	if err := admin.Get(context.Background(), client.ObjectKey{Name: name}, ws); err != nil {
		t.Fatalf("get Workspace %s: %v", name, err)
	}
	return ws
}

// isForbidden: the API server knew who it was and refused (HTTP 403).
func isForbidden(r result) bool {
	return r.code != 0 && strings.Contains(r.stderr, "(Forbidden)")
}

// isUnauthorized: the API server did not accept the credential (HTTP 401).
func isUnauthorized(r result) bool {
	return r.code != 0 && strings.Contains(r.stderr, "Unauthorized")
}

// podManifest is a pod asking for requests (also its limits).
func podManifest(name string, resources map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: main\n    image: busybox\n    resources:\n", name)
	for _, section := range []string{"requests", "limits"} {
		fmt.Fprintf(&b, "      %s:\n", section)
		for k, v := range resources {
			fmt.Fprintf(&b, "        %s: %q\n", k, v)
		}
	}
	return b.String()
}

// mode is the permission bits of path.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// noFile fails the test if path exists.
func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s was written", filepath.Base(path))
	}
}

// readyReason is the reason of the Ready condition of workspace name.
func readyReason(ctx context.Context, name string) (string, error) {
	ws := &tenancyv1.Workspace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
		return "", err
	}
	for _, c := range ws.Status.Conditions {
		if c.Type == tenancyv1.ConditionReady && c.ObservedGeneration == ws.Generation {
			return string(c.Status) + "/" + c.Reason, nil
		}
	}
	return "", nil
}
