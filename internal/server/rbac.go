package server

import (
	"bytes"
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenancy-dev/tenancy/config"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// RoleName names the server's ClusterRole, Role and their bindings.
const RoleName = "tenancy-server"

// Grant creates (or updates) the server's ClusterRole and Role from
// config/rbac/server_role.yaml and binds them to subject, with the system
// namespace the Role lives in.
func Grant(ctx context.Context, c client.Client, subject rbacv1.Subject) error {
	if err := passwords.EnsureNamespace(ctx, c); err != nil {
		return err
	}
	docs := bytes.Split(config.ServerRBAC, []byte("\n---\n"))
	if len(docs) != 2 {
		return fmt.Errorf("config/rbac/server_role.yaml: want a ClusterRole and a Role, got %d documents", len(docs))
	}
	cr, role := &rbacv1.ClusterRole{}, &rbacv1.Role{}
	if err := yaml.UnmarshalStrict(docs[0], cr); err != nil {
		return fmt.Errorf("decode the server's ClusterRole: %w", err)
	}
	if err := yaml.UnmarshalStrict(docs[1], role); err != nil {
		return fmt.Errorf("decode the server's Role: %w", err)
	}
	ref := func(kind string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: RoleName}
	}
	labels := cr.Labels
	objs := []client.Object{
		cr, role,
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: RoleName, Labels: labels}, RoleRef: ref("ClusterRole"), Subjects: []rbacv1.Subject{subject}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: RoleName, Namespace: passwords.Namespace, Labels: labels}, RoleRef: ref("Role"), Subjects: []rbacv1.Subject{subject}},
	}
	for _, o := range objs {
		err := c.Create(ctx, o, client.FieldOwner(FieldManager))
		if apierrors.IsAlreadyExists(err) {
			cur := o.DeepCopyObject().(client.Object)
			if err = c.Get(ctx, client.ObjectKeyFromObject(o), cur); err == nil {
				o.SetResourceVersion(cur.GetResourceVersion())
				err = c.Update(ctx, o, client.FieldOwner(FieldManager))
			}
		}
		if err != nil {
			return fmt.Errorf("write %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}
