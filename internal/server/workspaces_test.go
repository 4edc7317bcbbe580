//go:build integration

package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
)

type wsItem struct {
	Name  string
	Role  string
	Ready bool
	Owner *struct{ Kind, Name string }
	Quota map[string]struct {
		Used, Hard string
		Percent    int
	}
}

func listNames(t *testing.T, s *testServer, tok string) map[string]wsItem {
	t.Helper()
	var list struct{ Items []wsItem }
	s.call(t, "GET", "/api/v1/workspaces", tok, nil).want(t, 200).json(t, &list)
	out := map[string]wsItem{}
	for _, it := range list.Items {
		out[it.Name] = it
	}
	return out
}

// The Kubeflow journey through the API: alex creates a workspace, shares
// it with bob, bob sees it; nobody sees what is not theirs.
func TestWorkspacesJourney(t *testing.T) {
	s := srv(t)
	alexPW, bobPW, evePW := addUser(t, "wj-alex"), addUser(t, "wj-bob", "wj-readers"), addUser(t, "wj-eve")
	grantCreate(t, "wj-alex")
	grantCreate(t, "wj-bob")
	workspace(t, "wj-bobs", "wj-bob") // bob's own, not alex's
	alex, bob, eve := s.login(t, "wj-alex", alexPW), s.login(t, "wj-bob", bobPW), s.login(t, "wj-eve", evePW)

	r := s.call(t, "POST", "/api/v1/workspaces", alex, map[string]any{"name": "wj-vision"}).want(t, 201)
	t.Cleanup(func() { _ = env.Admin.Delete(t.Context(), &tenancyv1.Workspace{ObjectMeta: objectMeta("wj-vision")}) })
	if !strings.Contains(r.Header.Get("Location"), "/api/v1/workspaces/wj-vision") {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	waitReady(t, "wj-vision")

	// Listed for alex with his role and quota; bob's is not.
	eventually(t, 10*time.Second, "alex's list", func() (bool, string) {
		l := listNames(t, s, alex)
		it, ok := l["wj-vision"]
		_, leaked := l["wj-bobs"]
		if leaked {
			t.Fatalf("alex sees bob's workspace: %+v", l)
		}
		return ok && it.Role == "owner" && it.Ready && it.Quota["cpu"].Hard == "16" && it.Quota["gpu"].Hard == "2" && it.Quota["memory"].Hard == "64Gi", stringOf(l)
	})
	if _, ok := listNames(t, s, eve)["wj-vision"]; ok {
		t.Fatal("eve sees alex's workspace")
	}

	// Details, as alex.
	var d struct {
		Name          string
		Role          string
		ResourceQuota struct{ Hard, Used map[string]string }
		LimitRange    *struct{ DefaultRequest map[string]string }
		Contributors  []struct{ Kind, Name, Role string }
		May           struct{ Share, Delete bool }
	}
	s.call(t, "GET", "/api/v1/workspaces/wj-vision", alex, nil).want(t, 200).json(t, &d)
	if d.Role != "owner" || d.ResourceQuota.Hard["requests.cpu"] != "16" || d.LimitRange == nil || d.LimitRange.DefaultRequest["cpu"] != "100m" || !d.May.Share || !d.May.Delete {
		t.Fatalf("details %+v", d)
	}
	// eve may not read it: Kubernetes says so.
	if st := s.call(t, "GET", "/api/v1/workspaces/wj-vision", eve, nil).Status; st != 403 && st != 404 {
		t.Fatalf("eve reads alex's workspace: %d", st)
	}
	s.call(t, "GET", "/api/v1/workspaces/wj-vision/contributors", eve, nil).want(t, 403)

	// Share with bob.
	s.call(t, "PUT", "/api/v1/workspaces/wj-vision/contributors/User/wj-bob", alex, map[string]string{"role": "edit"}).want(t, 200)
	eventually(t, 10*time.Second, "bob sees the shared workspace", func() (bool, string) {
		l := listNames(t, s, bob)
		return l["wj-vision"].Role == "edit" && l["wj-bobs"].Role == "owner", stringOf(l)
	})
	var cs struct {
		Items []struct{ Kind, Name, Role string }
	}
	s.call(t, "GET", "/api/v1/workspaces/wj-vision/contributors", alex, nil).want(t, 200).json(t, &cs)
	if len(cs.Items) != 1 || cs.Items[0].Name != "wj-bob" || cs.Items[0].Role != "edit" {
		t.Fatalf("contributors %+v", cs)
	}
	// Group contributors count for members of the group.
	s.call(t, "PUT", "/api/v1/workspaces/wj-vision/contributors/Group/wj-readers", alex, map[string]string{"role": "admin"}).want(t, 200)
	eventually(t, 10*time.Second, "bob's role through his group", func() (bool, string) {
		l := listNames(t, s, bob)
		return l["wj-vision"].Role == "admin", stringOf(l)
	})
	// Bad input names the field.
	for path, body := range map[string]any{
		"/api/v1/workspaces/wj-vision/contributors/User/wj-bob":   map[string]string{"role": "owner"},
		"/api/v1/workspaces/wj-vision/contributors/Robot/wj-bob":  map[string]string{"role": "edit"},
		"/api/v1/workspaces/wj-vision/contributors/User/wj-alex":  map[string]string{"role": "edit"},
		"/api/v1/workspaces/wj-vision/contributors/User/wj-bob?x": map[string]string{"role": "edit", "extra": "1"},
	} {
		s.call(t, "PUT", path, alex, body).want(t, 400)
	}
	// eve cannot share it (RBAC: 403).
	s.call(t, "PUT", "/api/v1/workspaces/wj-vision/contributors/User/wj-eve", eve, map[string]string{"role": "admin"}).want(t, 403)

	// Unshare.
	s.call(t, "DELETE", "/api/v1/workspaces/wj-vision/contributors/Group/wj-readers", alex, nil).want(t, 204)
	s.call(t, "DELETE", "/api/v1/workspaces/wj-vision/contributors/User/wj-bob", alex, nil).want(t, 204)
	s.call(t, "DELETE", "/api/v1/workspaces/wj-vision/contributors/User/wj-bob", alex, nil).want(t, 404)
	eventually(t, 10*time.Second, "bob no longer sees it", func() (bool, string) {
		_, ok := listNames(t, s, bob)["wj-vision"]
		return !ok, ""
	})

	// Refusals on create: RBAC (eve may not create), the self-serve policy
	// (not your own class), bad names, duplicates.
	r = s.call(t, "POST", "/api/v1/workspaces", eve, map[string]any{"name": "wj-eves"}).want(t, 403)
	if _, msg := r.errBody(t); !strings.Contains(msg, "cannot create") {
		t.Fatalf("eve's refusal: %s", msg)
	}
	r = s.call(t, "POST", "/api/v1/workspaces", alex, map[string]any{"name": "wj-gpu", "class": "no-such-class"}).want(t, 403)
	if _, msg := r.errBody(t); !strings.Contains(msg, install.SelfServePolicy) {
		t.Fatalf("the policy's refusal is not passed through: %s", msg)
	}
	r = s.call(t, "POST", "/api/v1/workspaces", alex, map[string]any{"name": "Not_A_Name"}).want(t, 400)
	if _, msg := r.errBody(t); !strings.HasPrefix(msg, "name:") {
		t.Fatalf("bad name: %s", msg)
	}
	s.call(t, "POST", "/api/v1/workspaces", alex, map[string]any{"name": "x", "owner": "someone"}).want(t, 400)
	s.call(t, "POST", "/api/v1/workspaces", alex, map[string]any{"name": "wj-vision"}).want(t, 409)

	// Delete: eve may not, alex may.
	s.call(t, "DELETE", "/api/v1/workspaces/wj-vision", eve, nil).want(t, 403)
	s.call(t, "DELETE", "/api/v1/workspaces/wj-vision", alex, nil).want(t, 202)
	eventually(t, time.Minute, "alex's workspace gone from his list", func() (bool, string) {
		_, ok := listNames(t, s, alex)["wj-vision"]
		return !ok, ""
	})
}

// Without the creator role, members read their own workspace (the
// controller grants them get on it) and see the controls their role
// allows: the owner and admin contributors may share, a viewer may not.
// Non-members may not read it.
func TestMemberReadsOwnWorkspace(t *testing.T) {
	s := srv(t)
	leePW, kimPW, joPW, outPW := addUser(t, "mr-lee"), addUser(t, "mr-kim"), addUser(t, "mr-jo"), addUser(t, "mr-out")
	workspace(t, "mr-lees", "mr-lee",
		tenancyv1.Contributor{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "mr-kim"}, Role: tenancyv1.RoleAdmin},
		tenancyv1.Contributor{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "mr-jo"}, Role: tenancyv1.RoleView})
	for _, m := range []struct {
		user, pw, role string
		share          bool
	}{{"mr-lee", leePW, "owner", true}, {"mr-kim", kimPW, "admin", true}, {"mr-jo", joPW, "view", false}} {
		tok := s.login(t, m.user, m.pw)
		eventually(t, 10*time.Second, m.user+" listed", func() (bool, string) {
			return listNames(t, s, tok)["mr-lees"].Role == m.role, ""
		})
		var d struct {
			Role string
			May  struct{ Share, Delete bool }
		}
		eventually(t, 20*time.Second, m.user+" reads the workspace", func() (bool, string) {
			r := s.call(t, "GET", "/api/v1/workspaces/mr-lees", tok, nil)
			return r.Status == 200, string(r.Body)
		})
		s.call(t, "GET", "/api/v1/workspaces/mr-lees", tok, nil).want(t, 200).json(t, &d)
		if d.Role != m.role || d.May.Share != m.share {
			t.Errorf("%s: role %q, may %+v; want %s, share %v", m.user, d.Role, d.May, m.role, m.share)
		}
	}
	out := s.login(t, "mr-out", outPW)
	if st := s.call(t, "GET", "/api/v1/workspaces/mr-lees", out, nil).Status; st != 403 && st != 404 {
		t.Fatalf("a non-member reads the workspace: %d", st)
	}
	if st := s.call(t, "GET", "/api/v1/workspaces/not-a-workspace-of-anybody", out, nil).Status; st != 403 && st != 404 {
		t.Fatalf("GET of a workspace that does not exist: %d", st)
	}
}

func TestAdminUsers(t *testing.T) {
	s := srv(t)
	adminPW, alexPW := addUser(t, "au-root"), addUser(t, "au-alex")
	bind(t, "au-root", install.AdminRole)
	admin, alex := s.login(t, "au-root", adminPW), s.login(t, "au-alex", alexPW)

	var me struct {
		May struct{ ManageUsers, CreateWorkspaces bool }
	}
	s.call(t, "GET", "/api/v1/me", admin, nil).want(t, 200).json(t, &me)
	if !me.May.ManageUsers {
		t.Fatal("the admin may not manage users, says /me")
	}
	s.call(t, "GET", "/api/v1/me", alex, nil).want(t, 200).json(t, &me)
	if me.May.ManageUsers || me.May.CreateWorkspaces {
		t.Fatalf("alex may %+v", me.May)
	}

	// Every workspace, for whom RBAC lets list them.
	workspace(t, "au-alexs", "au-alex")
	s.call(t, "GET", "/api/v1/workspaces?all=true", alex, nil).want(t, 403)
	eventually(t, 10*time.Second, "the admin's list of all workspaces", func() (bool, string) {
		var all struct{ Items []wsItem }
		s.call(t, "GET", "/api/v1/workspaces?all=true", admin, nil).want(t, 200).json(t, &all)
		for _, it := range all.Items {
			if it.Name == "au-alexs" && it.Role == "" && it.Owner.Name == "au-alex" {
				return true, ""
			}
		}
		return false, fmt.Sprint(all.Items)
	})

	// Not an admin: Kubernetes refuses every admin call.
	s.call(t, "GET", "/api/v1/users", alex, nil).want(t, 403)
	s.call(t, "POST", "/api/v1/users", alex, map[string]any{"name": "au-new"}).want(t, 403)
	s.call(t, "PATCH", "/api/v1/users/au-root", alex, map[string]any{"disabled": true}).want(t, 403)
	s.call(t, "DELETE", "/api/v1/users/au-root", alex, nil).want(t, 403)
	// The refused create left no password behind.
	s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "au-new", "password": "whatever-it-is"}).want(t, 401)

	// Add a user at runtime, with a generated password shown once.
	var created struct{ Name, Password string }
	s.call(t, "POST", "/api/v1/users", admin, map[string]any{"name": "au-new", "groups": []string{"au-team"}}).want(t, 201).json(t, &created)
	t.Cleanup(func() {
		_ = env.Admin.Delete(t.Context(), &tenancyv1.User{ObjectMeta: objectMeta("au-new")})
	})
	if created.Name != "au-new" || len(created.Password) != 20 {
		t.Fatalf("created %+v", created)
	}
	newTok := s.login(t, "au-new", created.Password)
	var newMe struct{ Groups []string }
	s.call(t, "GET", "/api/v1/me", newTok, nil).want(t, 200).json(t, &newMe)
	if strings.Join(newMe.Groups, ",") != "au-team" {
		t.Fatalf("groups %v", newMe.Groups)
	}
	// A given password is checked, and not echoed.
	s.call(t, "POST", "/api/v1/users", admin, map[string]any{"name": "au-weak", "password": "short"}).want(t, 400)
	s.call(t, "POST", "/api/v1/users", admin, map[string]any{"name": "au-new"}).want(t, 409)
	s.call(t, "POST", "/api/v1/users", admin, map[string]any{"name": "Bad Name"}).want(t, 400)
	s.call(t, "POST", "/api/v1/users", admin, map[string]any{"name": "au-x", "role": "admin"}).want(t, 400)

	var list struct {
		Items []struct {
			Name        string
			HasPassword bool
			Disabled    bool
		}
	}
	s.call(t, "GET", "/api/v1/users", admin, nil).want(t, 200).json(t, &list)
	found := false
	for _, u := range list.Items {
		found = found || u.Name == "au-new" && u.HasPassword && !u.Disabled
	}
	if !found {
		t.Fatalf("au-new not listed: %+v", list)
	}

	// Disable: locked out within seconds.
	s.call(t, "PATCH", "/api/v1/users/au-new", admin, map[string]any{"disabled": true}).want(t, 200)
	s.call(t, "PATCH", "/api/v1/users/au-new", admin, map[string]any{}).want(t, 400)
	eventually(t, 5*time.Second, "disabled user locked out", func() (bool, string) {
		return s.call(t, "GET", "/api/v1/me", newTok, nil).Status == 401, ""
	})
	s.call(t, "DELETE", "/api/v1/users/au-new", admin, nil).want(t, 204)
	s.call(t, "DELETE", "/api/v1/users/au-new", admin, nil).want(t, 404)
	eventually(t, 5*time.Second, "the deleted user's credentials are gone", func() (bool, string) {
		return s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "au-new", "password": created.Password}).Status == 401, ""
	})
}

func stringOf(m map[string]wsItem) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k + ":" + v.Role + " ")
	}
	return b.String()
}
