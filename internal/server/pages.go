package server

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// pages are the UI's templates, each page parsed with the layout.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"initial": func(s string) string {
		if s == "" {
			return "?"
		}
		return strings.ToUpper(s[:1])
	},
	"barClass": func(pct int) string {
		switch {
		case pct >= 90:
			return "bar-full"
		case pct >= 70:
			return "bar-high"
		}
		return ""
	},
}

func loadPages() *pages {
	p := &pages{byName: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "web/templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "web/templates/"), ".html")
		if base == "layout" {
			continue
		}
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "web/templates/layout.html", n))
		p.byName[base] = t
	}
	return p
}

// pageData is what every template gets.
type pageData struct {
	Title  string
	Me     *meResponse
	Active string // the nav entry to highlight
	Notice string
	Error  string
	// Secret is shown once (a new token or password); SecretWhat says what.
	Secret     string
	SecretWhat string

	// Sign-in.
	OIDCName string
	Next     string
	Username string

	Workspaces []workspaceItem
	Workspace  *workspaceDetail
	Classes    []classOption
	Name       string
	Tokens     []tokenInfo
	Users      []userItem
	Status     int
	// Jobs are the jobs pages' data (pages_jobs.go).
	Jobs *jobsPage
}

type classOption struct {
	Name    string
	Default bool
	Summary string
}

func (s *server) render(w http.ResponseWriter, status int, name string, d *pageData) {
	t := s.pages.byName[name]
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		s.Log.Error(err, "Render page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows an error as a page, inside the layout when signed in.
func (s *server) renderError(w http.ResponseWriter, r *http.Request, e *Error) {
	d := &pageData{Title: http.StatusText(e.Status()), Error: e.Message, Status: e.Status()}
	if p := principalFrom(r.Context()); p != nil {
		if me, err := s.me(r); err == nil {
			d.Me = me
		}
	}
	s.render(w, e.Status(), "error", d)
}

func staticFiles() http.Handler {
	sub, err := fs.Sub(staticFS, "web")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
