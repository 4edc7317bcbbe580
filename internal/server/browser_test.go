//go:build integration

package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/install"
	"github.com/tenancy-dev/tenancy/internal/testutil/browsertest"
)

// The browser journeys run in real headless Chromium (see browsertest);
// TENANCY_SCREENSHOTS=dir saves the main pages there (docs/screenshots is
// committed).
var (
	browser    = browsertest.Browser
	run        = browsertest.Run
	text       = browsertest.Text
	screenshot = browsertest.Screenshot
)

type CSS = chromedp.CSS

func location(ctx context.Context, t *testing.T) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func signIn(ctx context.Context, t *testing.T, base, user, pw string) {
	t.Helper()
	run(ctx, t,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(CSS(`input[name="username"]`)),
		chromedp.SendKeys(CSS(`input[name="username"]`), user),
		chromedp.SendKeys(CSS(`input[name="password"]`), pw),
		chromedp.Click(CSS(`#sign-in`)),
		chromedp.WaitVisible(CSS(`#signed-in-as`)),
	)
	if got := text(ctx, t, "#signed-in-as"); got != user {
		t.Fatalf("signed in as %q, want %q", got, user)
	}
}

// usePods makes quota usage show: pods that request CPU, memory and GPUs
// count against the quota even before they are scheduled.
func usePods(t *testing.T, ns string, cpu, mem, gpu string) {
	t.Helper()
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	if gpu != "" {
		res["nvidia.com/gpu"] = resource.MustParse(gpu)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "train", Image: "busybox", Command: []string{"sleep", "3600"},
			Resources: corev1.ResourceRequirements{Requests: res, Limits: res}}}},
	}
	eventually(t, 30*time.Second, "pod in "+ns, func() (bool, string) {
		err := env.Admin.Create(context.Background(), pod.DeepCopy())
		return err == nil, errString(err)
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Sign in and see only my workspaces; a wrong password stays on the form.
func TestBrowserSignIn(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "bs-alex")
	addUser(t, "bs-bob")
	workspace(t, "bs-alexs", "bs-alex")
	workspace(t, "bs-bobs", "bs-bob")
	workspace(t, "bs-shared", "bs-bob", tenancyv1.Contributor{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "bs-alex"}, Role: tenancyv1.RoleView})
	workspace(t, "bs-gpu-lab", "bs-bob", tenancyv1.Contributor{Subject: tenancyv1.Subject{Kind: tenancyv1.UserKind, Name: "bs-alex"}, Role: tenancyv1.RoleAdmin})
	usePods(t, "bs-alexs", "6", "20Gi", "1")
	usePods(t, "bs-gpu-lab", "14", "30Gi", "2")
	ctx := browser(t)

	run(ctx, t,
		chromedp.Navigate(s.URL+"/account"),
		chromedp.WaitVisible(CSS(`input[name="password"]`)),
		chromedp.SendKeys(CSS(`input[name="username"]`), "bs-alex"),
		chromedp.SendKeys(CSS(`input[name="password"]`), "not-the-password"),
		chromedp.Click(CSS(`#sign-in`)),
		chromedp.WaitVisible(CSS(`#error`)),
	)
	if loc := location(ctx, t); !strings.Contains(loc, "/login") {
		t.Fatalf("a wrong password left the form for %s", loc)
	}
	if e := text(ctx, t, "#error"); !strings.Contains(e, "wrong username or password") {
		t.Fatalf("error %q", e)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(CSS(`input[name="username"]`))); v != "bs-alex" {
		t.Fatalf("the form forgot the username: %q", v)
	}
	screenshot(ctx, t, "sign-in-error")

	signIn(ctx, t, s.URL, "bs-alex", pw)
	// The workspace's quota shows once the controller has counted the pod.
	eventually(t, 30*time.Second, "alex's workspace card with its quota", func() (bool, string) {
		run(ctx, t, chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(CSS(`[data-workspace="bs-alexs"]`)))
		card := text(ctx, t, `[data-workspace="bs-alexs"]`)
		return strings.Contains(card, "6 / 16") && strings.Contains(card, "1 / 2"), card
	})
	body := text(ctx, t, "main")
	if strings.Contains(body, "bs-bobs") {
		t.Fatalf("alex sees bob's workspace:\n%s", body)
	}
	if !strings.Contains(text(ctx, t, `[data-workspace="bs-shared"]`), "View") || !strings.Contains(text(ctx, t, `[data-workspace="bs-gpu-lab"]`), "Admin") {
		t.Fatal("the shared workspaces do not show alex's roles")
	}
	if !strings.Contains(text(ctx, t, `[data-workspace="bs-alexs"]`), "Owner") {
		t.Fatal("the card does not say alex's role")
	}
	screenshot(ctx, t, "workspaces")
}

// The Kubeflow journey: create a workspace with the form, share it with
// bob, and bob sees it.
func TestBrowserKubeflowJourney(t *testing.T) {
	s := srv(t)
	alexPW, bobPW := addUser(t, "bk-alex"), addUser(t, "bk-bob")
	grantCreate(t, "bk-alex")
	grantCreate(t, "bk-bob")
	t.Cleanup(func() {
		_ = env.Admin.Delete(context.Background(), &tenancyv1.Workspace{ObjectMeta: objectMeta("bk-vision")})
	})

	alex := browser(t)
	signIn(alex, t, s.URL, "bk-alex", alexPW)
	run(alex, t, chromedp.Click(CSS(`#new-workspace`)), chromedp.WaitVisible(CSS(`#new-workspace-form`)))
	screenshot(alex, t, "new-workspace")

	// The policy's refusal is shown on the form.
	run(alex, t,
		chromedp.SendKeys(CSS(`input[name="name"]`), "kube-mine"),
		chromedp.Click(CSS(`#create`)),
		chromedp.WaitVisible(CSS(`#error`)),
	)
	if e := text(alex, t, "#error"); !strings.Contains(e, "reserved") {
		t.Fatalf("the refusal shown: %q", e)
	}
	run(alex, t,
		chromedp.Clear(CSS(`input[name="name"]`)),
		chromedp.SendKeys(CSS(`input[name="name"]`), "bk-vision"),
		chromedp.Click(CSS(`#create`)),
		chromedp.WaitVisible(CSS(`#share-form`)),
	)
	if loc := location(alex, t); !strings.HasSuffix(strings.Split(loc, "?")[0], "/workspaces/bk-vision") {
		t.Fatalf("after create: %s", loc)
	}
	waitReady(t, "bk-vision")
	// The page looks again by itself until Ready; wait for a Ready one, so
	// that no reload comes while the share form is filled in.
	eventually(t, 30*time.Second, "the workspace page says Ready", func() (bool, string) {
		run(alex, t, chromedp.Navigate(s.URL+"/workspaces/bk-vision"), chromedp.WaitVisible(CSS(`#share-form`)))
		nodes, err := chromedp.Run(alex, chromedp.Nodes(CSS(`[data-refresh-until-ready]`), chromedp.AtLeast(0)))
		return err == nil && len(nodes) == 0, errString(err)
	})
	run(alex, t,
		chromedp.SendKeys(CSS(`#share-form input[name="name"]`), "bk-bob"),
		chromedp.SetValue(CSS(`#share-form select[name="role"]`), "edit"),
		chromedp.Click(CSS(`#share`)),
		chromedp.WaitVisible(CSS(`[data-contributor="User/bk-bob"]`)),
	)
	if row := text(alex, t, `[data-contributor="User/bk-bob"]`); !strings.Contains(row, "Edit") {
		t.Fatalf("contributor row %q", row)
	}
	run(alex, t, chromedp.Reload(), chromedp.WaitVisible(CSS(`#contributors`)))
	screenshot(alex, t, "workspace")

	bob := browser(t)
	signIn(bob, t, s.URL, "bk-bob", bobPW)
	eventually(t, 10*time.Second, "bob sees the shared workspace", func() (bool, string) {
		run(bob, t, chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(CSS(`main h1`)))
		body := text(bob, t, "main")
		return strings.Contains(body, "bk-vision"), body
	})
	if card := text(bob, t, `[data-workspace="bk-vision"]`); !strings.Contains(card, "Edit") {
		t.Fatalf("bob's card %q", card)
	}
}

// OIDC sign-in through the issuer: the button, the issuer's authorize
// endpoint, the callback, and the signed-in page.
func TestBrowserOIDC(t *testing.T) {
	s, m := startOIDC(t)
	m.QueueUser(mockUser("bo-ann@example.com"))
	ctx := browser(t)
	run(ctx, t, chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(CSS(`#oidc`)))
	if b := text(ctx, t, "#oidc"); b != "Sign in with Mock OIDC" {
		t.Fatalf("button %q", b)
	}
	screenshot(ctx, t, "sign-in")
	run(ctx, t, chromedp.Click(CSS(`#oidc`)), chromedp.WaitVisible(CSS(`#signed-in-as`)))
	if who := text(ctx, t, "#signed-in-as"); who != "bo-ann@example.com" {
		t.Fatalf("signed in as %q", who)
	}
	if !strings.Contains(location(ctx, t), s.URL) {
		t.Fatalf("not back on the server: %s", location(ctx, t))
	}

	// The Kubeflow journey's first step as an OIDC user (no User object):
	// a workspace of their own, with the form, owned by their claimed name.
	grantCreate(t, "bo-ann@example.com")
	t.Cleanup(func() {
		_ = env.Admin.Delete(context.Background(), &tenancyv1.Workspace{ObjectMeta: objectMeta("bo-anns")})
	})
	eventually(t, 10*time.Second, "the New workspace button", func() (bool, string) {
		run(ctx, t, chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(CSS(`main h1`)))
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(CSS(`#new-workspace`), chromedp.AtLeast(0)))
		return err == nil && len(nodes) == 1, errString(err)
	})
	run(ctx, t,
		chromedp.Click(CSS(`#new-workspace`)),
		chromedp.WaitVisible(CSS(`#new-workspace-form`)),
		chromedp.SendKeys(CSS(`input[name="name"]`), "bo-anns"),
		chromedp.Click(CSS(`#create`)),
		chromedp.WaitVisible(CSS(`#share-form`)),
	)
	ws := &tenancyv1.Workspace{}
	if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: "bo-anns"}, ws); err != nil || ws.Spec.Owner == nil || ws.Spec.Owner.Name != "bo-ann@example.com" {
		t.Fatalf("the OIDC user's workspace: %v %+v", err, ws.Spec.Owner)
	}
}

// The account and admin pages, as people use them.
func TestBrowserAccountAndAdmin(t *testing.T) {
	s := srv(t)
	pw := addUser(t, "ba-root")
	bind(t, "ba-root", install.AdminRole)
	workspace(t, "ba-team", "ba-root", tenancyv1.Contributor{Subject: tenancyv1.Subject{Kind: tenancyv1.GroupKind, Name: "ba-readers"}, Role: tenancyv1.RoleView})
	t.Cleanup(func() { _ = env.Admin.Delete(context.Background(), &tenancyv1.User{ObjectMeta: objectMeta("ba-new")}) })
	ctx := browser(t)
	signIn(ctx, t, s.URL, "ba-root", pw)

	run(ctx, t,
		chromedp.Navigate(s.URL+"/account"),
		chromedp.SendKeys(CSS(`#token-form input[name="name"]`), "laptop"),
		chromedp.Click(CSS(`#create-token`)),
		chromedp.WaitVisible(CSS(`#secret-value`)),
	)
	tok := text(ctx, t, "#secret-value")
	s.call(t, "GET", "/api/v1/me", tok, nil).want(t, 200)
	screenshot(ctx, t, "account")
	run(ctx, t, chromedp.Navigate(s.URL+"/account"), chromedp.WaitVisible(CSS(`#tokens`)))
	if strings.Contains(text(ctx, t, "main"), tok) {
		t.Fatal("the token is shown again")
	}

	run(ctx, t,
		chromedp.Navigate(s.URL+"/admin"),
		chromedp.SendKeys(CSS(`#add-user-form input[name="name"]`), "ba-new"),
		chromedp.SendKeys(CSS(`#add-user-form input[name="groups"]`), "ba-readers"),
		chromedp.Click(CSS(`#add-user`)),
		chromedp.WaitVisible(CSS(`#secret-value`)),
	)
	newPW := text(ctx, t, "#secret-value")
	s.login(t, "ba-new", newPW)
	screenshot(ctx, t, "admin")

	run(ctx, t, chromedp.Click(CSS(`[data-user="ba-new"] form[action$="/disable"] button`)), chromedp.WaitVisible(CSS(`.notice`)))
	if row := text(ctx, t, `[data-user="ba-new"]`); !strings.Contains(row, "Disabled") {
		t.Fatalf("after disable: %q", row)
	}
	s.call(t, "POST", "/api/v1/login", "", map[string]string{"username": "ba-new", "password": newPW}).want(t, 401)
}
