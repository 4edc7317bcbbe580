package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/tenancy-dev/tenancy/internal/server"
)

func TestServeFlags(t *testing.T) {
	base := func() serveFlags {
		return serveFlags{Address: server.DefaultAddress, SessionTTL: time.Hour, MaxTokenLifetime: time.Hour}
	}
	for name, tc := range map[string]struct {
		mod     func(*serveFlags)
		wantErr string
		url     string
		warn    bool
	}{
		"default":          {mod: func(*serveFlags) {}, url: "http://127.0.0.1:8090"},
		"all addresses":    {mod: func(f *serveFlags) { f.Address = ":9000" }, url: "http://127.0.0.1:9000", warn: true},
		"public address":   {mod: func(f *serveFlags) { f.Address = "10.1.2.3:80" }, warn: true, url: "http://10.1.2.3:80"},
		"tls":              {mod: func(f *serveFlags) { f.Address = "0.0.0.0:8443"; f.TLSCert, f.TLSKey = "c", "k" }, url: "https://127.0.0.1:8443"},
		"localhost":        {mod: func(f *serveFlags) { f.Address = "localhost:8090" }, url: "http://localhost:8090"},
		"no port":          {mod: func(f *serveFlags) { f.Address = "127.0.0.1" }, wantErr: "--address"},
		"cert without key": {mod: func(f *serveFlags) { f.TLSCert = "c" }, wantErr: "--tls-key"},
		"http issuer":      {mod: func(f *serveFlags) { f.OIDC.IssuerURL, f.OIDC.ClientID = "http://dex.example.com", "t" }, wantErr: "loopback"},
		"issuer no client": {mod: func(f *serveFlags) { f.OIDC.IssuerURL = "https://dex.example.com" }, wantErr: "--oidc-client-id"},
		"client no issuer": {mod: func(f *serveFlags) { f.OIDC.ClientID = "t" }, wantErr: "--oidc-issuer-url"},
		"header no proxy":  {mod: func(f *serveFlags) { f.AuthHeader = "kubeflow-userid" }, wantErr: "--trusted-proxy"},
		"bad proxy":        {mod: func(f *serveFlags) { f.AuthHeader, f.TrustedProxies = "x", []string{"nope"} }, wantErr: "--trusted-proxy \"nope\""},
		"proxy address":    {mod: func(f *serveFlags) { f.AuthHeader, f.TrustedProxies = "x", []string{"10.0.0.5"} }, url: "http://127.0.0.1:8090"},
		"short session":    {mod: func(f *serveFlags) { f.SessionTTL = time.Second }, wantErr: "--session-ttl"},
		"short token":      {mod: func(f *serveFlags) { f.MaxTokenLifetime = time.Second }, wantErr: "--max-token-lifetime"},
	} {
		t.Run(name, func(t *testing.T) {
			f := base()
			tc.mod(&f)
			o, err := f.options()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.PublicURL != tc.url {
				t.Errorf("public URL %q, want %q", o.PublicURL, tc.url)
			}
			if w := f.plainHTTPWarning(); (w != "") != tc.warn {
				t.Errorf("warning %q, want one: %v", w, tc.warn)
			}
		})
	}
}
