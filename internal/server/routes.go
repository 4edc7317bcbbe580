package server

import (
	_ "embed"
	"net/http"
	"strings"
)

// openAPI describes every route under /api/v1 (a test checks that it and
// routes agree).
//
//go:embed openapi.json
var openAPI []byte

// apiRoutes is the REST API: every endpoint under /api/v1 but the OpenAPI
// document. All but login need a signed-in caller.
var apiRoutes = []struct {
	pattern string
	h       func(*server) handler
	public  bool
}{
	{"POST /api/v1/login", func(s *server) handler { return s.apiLogin }, true},
	{"POST /api/v1/logout", func(s *server) handler { return s.apiLogout }, false},
	{"GET /api/v1/me", func(s *server) handler { return s.apiMe }, false},
	{"POST /api/v1/password", func(s *server) handler { return s.apiChangePassword }, false},

	{"GET /api/v1/tokens", func(s *server) handler { return s.apiListTokens }, false},
	{"POST /api/v1/tokens", func(s *server) handler { return s.apiCreateToken }, false},
	{"DELETE /api/v1/tokens/{id}", func(s *server) handler { return s.apiDeleteToken }, false},

	{"GET /api/v1/workspaces", func(s *server) handler { return s.apiListWorkspaces }, false},
	{"POST /api/v1/workspaces", func(s *server) handler { return s.apiCreateWorkspace }, false},
	{"GET /api/v1/workspaces/{ws}", func(s *server) handler { return s.apiGetWorkspace }, false},
	{"DELETE /api/v1/workspaces/{ws}", func(s *server) handler { return s.apiDeleteWorkspace }, false},
	{"GET /api/v1/workspaces/{ws}/contributors", func(s *server) handler { return s.apiListContributors }, false},
	{"PUT /api/v1/workspaces/{ws}/contributors/{kind}/{name}", func(s *server) handler { return s.apiPutContributor }, false},
	{"DELETE /api/v1/workspaces/{ws}/contributors/{kind}/{name}", func(s *server) handler { return s.apiDeleteContributor }, false},

	// Jobs: Kubernetes Jobs in the workspace's namespace, made and read as
	// the caller (internal/jobs).
	{"GET /api/v1/workspaces/{ws}/jobs", func(s *server) handler { return s.apiListJobs }, false},
	{"POST /api/v1/workspaces/{ws}/jobs", func(s *server) handler { return s.apiSubmitJob }, false},
	{"GET /api/v1/workspaces/{ws}/jobs/{name}", func(s *server) handler { return s.apiGetJob }, false},
	{"DELETE /api/v1/workspaces/{ws}/jobs/{name}", func(s *server) handler { return s.apiDeleteJob }, false},
	{"GET /api/v1/workspaces/{ws}/jobs/{name}/logs", func(s *server) handler { return s.apiJobLogs }, false},
	{"POST /api/v1/workspaces/{ws}/jobs/{name}/cancel", func(s *server) handler { return s.apiCancelJob }, false},

	// Admin: allowed exactly when RBAC lets the caller manage users.tenancy.dev.
	{"GET /api/v1/users", func(s *server) handler { return s.apiListUsers }, false},
	{"POST /api/v1/users", func(s *server) handler { return s.apiCreateUser }, false},
	{"PATCH /api/v1/users/{name}", func(s *server) handler { return s.apiPatchUser }, false},
	{"DELETE /api/v1/users/{name}", func(s *server) handler { return s.apiDeleteUser }, false},
}

// APIRoutes are the API's "METHOD /path" patterns, for documentation and
// its test.
func APIRoutes() []string {
	out := make([]string, 0, len(apiRoutes))
	for _, r := range apiRoutes {
		out = append(out, r.pattern)
	}
	return out
}

// routes is the whole HTTP surface. api(…) needs a signed-in caller and
// answers JSON; page(…) needs one and sends the signed-out to /login;
// public(…) needs nobody.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()

	// Probes and metrics.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())

	// The API.
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	allowed := map[string][]string{}
	for _, rt := range apiRoutes {
		h := rt.h(s)
		if rt.public {
			mux.Handle(rt.pattern, s.public(h))
		} else {
			mux.Handle(rt.pattern, s.api(h))
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		allowed[path] = append(allowed[path], method)
	}
	// Another method on an API path: a JSON 405 that says which are allowed.
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		mux.Handle(path, s.public(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, &Error{Code: "method_not_allowed", Message: r.Method + " is not allowed on " + path + ": use " + allow})
			return nil
		}))
	}
	mux.Handle("/api/", s.public(func(_ http.ResponseWriter, r *http.Request) error {
		return errorf(CodeNotFound, "no such API endpoint: %s %s (GET /api/v1/openapi.json lists them)", r.Method, r.URL.Path)
	}))

	// Sign-in.
	mux.Handle("GET /login", s.public(s.pageLogin))
	mux.Handle("POST /login", s.public(s.formLogin))
	mux.Handle("POST /logout", s.page(s.formLogout))
	mux.Handle("GET /auth/oidc/login", s.public(s.oidcLogin))
	mux.Handle("GET /auth/oidc/callback", s.public(s.oidcCallback))
	mux.Handle("GET /static/", staticFiles())

	// The UI.
	mux.Handle("GET /{$}", s.page(s.pageHome))
	mux.Handle("GET /workspaces/new", s.page(s.pageNewWorkspace))
	mux.Handle("POST /workspaces/new", s.page(s.formNewWorkspace))
	mux.Handle("GET /workspaces/{ws}", s.page(s.pageWorkspace))
	mux.Handle("POST /workspaces/{ws}/share", s.page(s.formShare))
	mux.Handle("POST /workspaces/{ws}/unshare", s.page(s.formUnshare))
	mux.Handle("POST /workspaces/{ws}/delete", s.page(s.formDeleteWorkspace))
	mux.Handle("GET /workspaces/{ws}/jobs", s.page(s.pageJobs))
	mux.Handle("GET /workspaces/{ws}/jobs/new", s.page(s.pageNewJob))
	mux.Handle("POST /workspaces/{ws}/jobs/new", s.page(s.formNewJob))
	mux.Handle("GET /workspaces/{ws}/jobs/{name}", s.page(s.pageJob))
	mux.Handle("GET /workspaces/{ws}/jobs/{name}/output", s.page(s.pageJobOutput))
	mux.Handle("POST /workspaces/{ws}/jobs/{name}/cancel", s.page(s.formCancelJob))
	mux.Handle("POST /workspaces/{ws}/jobs/{name}/delete", s.page(s.formDeleteJob))
	mux.Handle("GET /account", s.page(s.pageAccount))
	mux.Handle("POST /account/tokens", s.page(s.formCreateToken))
	mux.Handle("POST /account/tokens/{id}/revoke", s.page(s.formRevokeToken))
	mux.Handle("POST /account/password", s.page(s.formChangePassword))
	mux.Handle("GET /account/kubeconfig", s.page(s.downloadKubeconfig))
	mux.Handle("POST /account/signout-everywhere", s.page(s.formSignOutEverywhere))
	mux.Handle("GET /admin", s.page(s.pageAdmin))
	mux.Handle("POST /admin/users", s.page(s.formAddUser))
	mux.Handle("POST /admin/users/{name}/disable", s.page(s.formDisableUser))
	mux.Handle("POST /admin/users/{name}/delete", s.page(s.formDeleteUser))
	mux.Handle("/", s.page(func(_ http.ResponseWriter, r *http.Request) error {
		return errorf(CodeNotFound, "there is no page %s", r.URL.Path)
	}))

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(CodeForbidden, "cross-origin request refused"))
	}))
	return securityHeaders(csrf.Handler(s.metrics.instrument(mux)))
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.Ready() {
		http.Error(w, "caches not synced yet\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// securityHeaders go on every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
