package server

import (
	"net/http"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tenancy-dev/tenancy/internal/credentials"
)

// kubeconfigTTL is how long a downloaded kubeconfig's token lasts.
const kubeconfigTTL = 8 * time.Hour

// GET /account/kubeconfig: a kubeconfig for kubectl, with a token of the
// caller's own token ServiceAccount (the one `tenancy user add
// --credential token` made, which the controller binds wherever the user
// is bound), expiring in kubeconfigTTL, pointed at their first workspace.
// The token is the caller's only: the ServiceAccount is read from their
// own User's status.
func (s *server) downloadKubeconfig(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	u, err := s.localUser(ctx, p.Name)
	if err != nil {
		return err
	}
	if u == nil || u.Status.ServiceAccount == nil {
		return errorf(CodeConflict, "no kubeconfig can be made here for %s: Tenancy has no token ServiceAccount for you. An admin makes one with 'tenancy user kubeconfig %s --credential token' (after that this page can renew it)", p.Name, p.Name)
	}
	cred, err := credentials.IssueToken(ctx, s.OwnCS, *u.Status.ServiceAccount, kubeconfigTTL)
	if err != nil {
		return err
	}
	ns := ""
	if items, err := s.listWorkspaces(ctx, false); err == nil && len(items) > 0 {
		ns = items[0].Name
		for _, it := range items {
			if it.Role == RoleOwner {
				ns = it.Name
				break
			}
		}
	}
	raw, err := clientcmd.Write(*credentials.Kubeconfig(s.Cluster, p.Name, ns, cred))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Disposition", `attachment; filename="`+p.Name+`.kubeconfig"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(raw)
	return nil
}
