package cmdutil

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// hinted is an error with what to do about it; errors.Is/As and
// apierrors.Is* still see the cause.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() + "\n" + h.hint }
func (h *hinted) Unwrap() error { return h.err }

// Hint adds what to do about err, on a line of its own.
func Hint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: hint}
}

// forbidden reads the RBAC authorizer's message: `User "tom" cannot list
// resource "jobs" in API group "batch" in the namespace "workplace1"`.
var forbidden = regexp.MustCompile(`(?:User )?"([^"]+)" cannot (\w+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?`)

// Translate is the one error translator, run at the root on every error a
// command returns. It keeps the error (%w) and adds, once, what the person
// can do: a missing CRD says to install Tenancy, a 403 from RBAC says which
// grant or role would allow the request. self is how to run this binary.
func Translate(err error, self string) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*hinted](err); ok {
		return err // already says what to do
	}
	switch {
	case meta.IsNoMatchError(err) ||
		apierrors.IsNotFound(err) && strings.Contains(err.Error(), "the server could not find the requested resource"):
		return Hint(err, fmt.Sprintf("Tenancy is not installed in this cluster (its CustomResourceDefinitions are missing): run `%s install` as a cluster admin", self))
	case apierrors.IsForbidden(err):
		if hint := forbiddenHint(err.Error(), self); hint != "" {
			return Hint(err, hint)
		}
	}
	return err
}

// tokenAccountPrefix is namespace:name-prefix of the ServiceAccounts of
// Tenancy Users' token credentials (tenancy-system/user-NAME).
const tokenAccountPrefix = "tenancy-system:user-"

func forbiddenHint(msg, self string) string {
	if strings.Contains(msg, "ValidatingAdmissionPolicy") {
		return "" // a policy's own message says why
	}
	m := forbidden.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	user, verb, resource, group, ns := m[1], m[2], m[3], m[4], m[5]
	flag := "--user " + user
	if sa, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		flag = "--serviceaccount " + strings.Replace(sa, ":", "/", 1)
		// A Tenancy User's token ServiceAccount is bound wherever the
		// User is: share with the User.
		if name, ok := strings.CutPrefix(sa, tokenAccountPrefix); ok && name != "" {
			flag = "--user " + name
		}
	}
	switch {
	case group == "tenancy.dev" && resource == "workspaces" && ns == "":
		return fmt.Sprintf("To create and manage your own workspaces, ask a Tenancy admin to run: %s grant create-workspaces %s", self, flag)
	case ns != "":
		role := "edit"
		switch verb {
		case "get", "list", "watch":
			role = "view"
		}
		return fmt.Sprintf("Namespace %s is not shared with you (or not with this right). If it is a workspace, its owner or a Tenancy admin can allow it: %s workspace share %s %s --role %s", ns, self, ns, flag, role)
	}
	return fmt.Sprintf("Only a Tenancy admin (ClusterRole tenancy:admin) may %s %s cluster-wide; ask one to do it, or to bind you to tenancy:admin", verb, resource)
}
